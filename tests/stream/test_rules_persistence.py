"""Persistence before firing, hysteresis before clearing, k-of-n."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.rules import Outcome, Policy, RuleState, Transition, k_of_n, step
from stream.rules.persistence import replay

F, H, C = Outcome.FIRE, Outcome.HOLD, Outcome.CLEAR


@given(st.lists(st.booleans(), max_size=20), st.integers(1, 8), st.integers(0, 8))
def test_k_of_n_counts_the_last_n(checks: list[bool], k: int, extra: int) -> None:
    """k_of_n is true exactly when k or more of the last n checks are true."""
    n = k + extra
    assert k_of_n(checks, k, n) == (sum(checks[-n:]) >= k)


def test_an_immediate_policy_fires_on_the_first_fire() -> None:
    """1 of 1 fires at once (emergencies)."""
    assert replay([F], Policy()) == [Transition.FIRED]


def test_n_in_a_row_needs_an_unbroken_run() -> None:
    """3 of 3 fires only after three fires in a row; a hold in between starts over."""
    policy = Policy(3, 3, 1)
    assert replay([F, F, H, F, F, F], policy) == [
        Transition.PENDING,
        Transition.PENDING,
        Transition.NONE,
        Transition.PENDING,
        Transition.PENDING,
        Transition.FIRED,
    ]


def test_clearing_needs_consecutive_clear_checks() -> None:
    """With clear_after 2, a hold between two clears keeps the alert open."""
    policy = Policy(1, 1, 2)
    assert replay([F, C, H, C, C], policy) == [
        Transition.FIRED,
        Transition.NONE,
        Transition.NONE,
        Transition.NONE,
        Transition.CLEARED,
    ]


def test_hold_neither_fires_nor_clears() -> None:
    """Between the fire and clear thresholds an open alert stays open, a closed one closed."""
    assert replay([H, H], Policy()) == [Transition.NONE, Transition.NONE]
    assert replay([F, H, H, H], Policy(1, 1, 1)) == [Transition.FIRED] + [Transition.NONE] * 3


def test_fire_while_open_is_a_repeat() -> None:
    """A fire on an open alert is reported as a repeat (the case's counter)."""
    assert replay([F, F], Policy()) == [Transition.FIRED, Transition.REPEAT]


def test_after_clearing_persistence_starts_again() -> None:
    """A cleared alert needs the full persistence again before firing anew."""
    policy = Policy(2, 2, 1)
    assert replay([F, F, C, F, F], policy) == [
        Transition.PENDING,
        Transition.FIRED,
        Transition.CLEARED,
        Transition.PENDING,
        Transition.FIRED,
    ]


def test_state_keeps_only_the_last_n_checks() -> None:
    """The state remembers no more than fire_n checks."""
    state = RuleState()
    for outcome in [F, C, C, C, C, C, C, C]:
        state, _ = step(state, outcome, Policy(5, 6, 6))
    assert len(state.recent) == 6


@pytest.mark.parametrize(("k", "n", "after"), [(0, 1, 1), (3, 2, 1), (1, 1, 0)])
def test_impossible_policies_are_refused(k: int, n: int, after: int) -> None:
    """fire_k must be 1..fire_n and clear_after at least 1."""
    with pytest.raises(ValueError, match="need"):
        Policy(k, n, after)


@given(st.lists(st.sampled_from([F, H, C]), max_size=40), st.integers(1, 6), st.integers(0, 3))
def test_fired_and_cleared_alternate(outcomes: list[Outcome], k: int, extra: int) -> None:
    """Transitions never fire twice or clear twice without the other in between."""
    events = [
        t
        for t in replay(outcomes, Policy(k, k + extra, 2))
        if t in (Transition.FIRED, Transition.CLEARED)
    ]
    assert all(a != b for a, b in itertools.pairwise(events))
    if events:
        assert events[0] is Transition.FIRED
