"""Persistence and hysteresis: when a rule's repeated checks become an alert, and clear.

Each evaluation of a rule gives an :class:`Outcome`: ``FIRE`` (the fire condition holds),
``CLEAR`` (the separate, stricter clear condition holds) or ``HOLD`` (between the two).
A :class:`Policy` turns the stream of outcomes into alert transitions:

* fire when ``FIRE`` came in at least ``fire_k`` of the last ``fire_n`` checks
  ("irregular in 5 of the last 6 checks"; ``fire_k == fire_n`` is "N in a row";
  ``1 of 1`` is no delay, the only policy an emergency may have);
* clear after ``clear_after`` consecutive ``CLEAR`` outcomes; a ``HOLD`` or ``FIRE``
  restarts the count.

:func:`step` is pure: the agent keeps a :class:`RuleState` per (resident, rule) in a
table and calls ``step`` with each new outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """One check of a rule."""

    FIRE = "fire"
    HOLD = "hold"
    CLEAR = "clear"


class Transition(StrEnum):
    """What one check did to the alert.

    ``PENDING`` means the fire condition held but persistence is not met yet: log it as
    a suspicion for the trend view, do not notify. ``REPEAT`` means the condition held
    again while the alert is open: bump the case's repeat counter.
    """

    NONE = "none"
    PENDING = "pending"
    FIRED = "fired"
    REPEAT = "repeat"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Policy:
    """Persistence before firing and hysteresis before clearing.

    Attributes:
        fire_k: fire outcomes needed ...
        fire_n: ... among the last this many checks.
        clear_after: consecutive clear outcomes that close the alert.
    """

    fire_k: int = 1
    fire_n: int = 1
    clear_after: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.fire_k <= self.fire_n:
            msg = f"need 1 <= fire_k <= fire_n, got fire_k={self.fire_k}, fire_n={self.fire_n}"
            raise ValueError(msg)
        if self.clear_after < 1:
            msg = f"need clear_after >= 1, got {self.clear_after}"
            raise ValueError(msg)

    @property
    def immediate(self) -> bool:
        """No persistence: the first fire outcome fires."""
        return self.fire_k == 1


@dataclass(frozen=True, slots=True)
class RuleState:
    """What the agent remembers per (resident, rule).

    Attributes:
        recent: the last ``fire_n`` checks, oldest first; ``True`` where the outcome was FIRE.
        clear_streak: consecutive CLEAR outcomes while firing.
        firing: whether the alert is open.
    """

    recent: tuple[bool, ...] = ()
    clear_streak: int = 0
    firing: bool = False


def k_of_n(checks: Sequence[bool], k: int, n: int) -> bool:
    """Whether at least ``k`` of the last ``n`` checks are ``True``.

    With fewer than ``n`` checks so far, those present count, so five irregular checks in
    a row meet "5 of 6" at the fifth.
    """
    return sum(checks[-n:]) >= k


def step(state: RuleState, outcome: Outcome, policy: Policy) -> tuple[RuleState, Transition]:
    """Advance one rule's state by one check.

    Args:
        state: the state after the previous check (``RuleState()`` at first).
        outcome: this check's outcome.
        policy: the rule's policy.

    Returns:
        The new state and what happened to the alert.
    """
    fired = outcome is Outcome.FIRE
    recent = (*state.recent, fired)[-policy.fire_n :]
    if state.firing:
        if outcome is Outcome.CLEAR:
            streak = state.clear_streak + 1
            if streak >= policy.clear_after:
                return RuleState(), Transition.CLEARED
            return RuleState(recent, streak, firing=True), Transition.NONE
        transition = Transition.REPEAT if fired else Transition.NONE
        return RuleState(recent, 0, firing=True), transition
    if fired and k_of_n(recent, policy.fire_k, policy.fire_n):
        return RuleState(recent, 0, firing=True), Transition.FIRED
    return RuleState(recent, 0, firing=False), Transition.PENDING if fired else Transition.NONE


def replay(outcomes: Iterable[Outcome], policy: Policy) -> list[Transition]:
    """The transitions a sequence of outcomes produces from a fresh state."""
    state = RuleState()
    transitions = []
    for outcome in outcomes:
        state, transition = step(state, outcome, policy)
        transitions.append(transition)
    return transitions
