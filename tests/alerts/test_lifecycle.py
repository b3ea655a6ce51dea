"""The case lifecycle as a table of transitions, with the rules the table cannot express."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta

import pytest

from alerts.errors import InvalidTransition
from alerts.lifecycle import (
    TRANSITIONS,
    AckTimeout,
    Attempt,
    AttemptResult,
    CaseState,
    Claim,
    Clear,
    Escalate,
    Event,
    EventKind,
    Fire,
    FollowUpDue,
    Note,
    Outcome,
    Reopen,
    Resolve,
    Schedule,
    Transfer,
    Unclaim,
    apply,
    kind_of,
    queue_sort_key,
)
from carepulse.alert import Severity
from tests.alerts.factories import ALICE, BOB, T0, make_case

S = CaseState
K = EventKind

#: The whole table, written out: (state, event kind) -> next state. Missing pairs are refused.
EXPECTED = {
    (S.OPEN, K.FIRE): S.OPEN,
    (S.OPEN, K.FIRE_WORSE): S.OPEN,
    (S.OPEN, K.CLEAR_AUTO): S.CLOSED,
    (S.OPEN, K.CLEAR_KEEP): S.OPEN,
    (S.OPEN, K.CLAIM): S.CLAIMED,
    (S.OPEN, K.TRANSFER): S.CLAIMED,
    (S.OPEN, K.ATTEMPT): S.IN_PROGRESS,
    (S.OPEN, K.NOTE): S.OPEN,
    (S.OPEN, K.REFER): S.FOLLOW_UP,
    (S.OPEN, K.RESOLVE): S.CLOSED,
    (S.OPEN, K.ESCALATE): S.OPEN,
    (S.CLAIMED, K.FIRE): S.CLAIMED,
    (S.CLAIMED, K.FIRE_WORSE): S.CLAIMED,
    (S.CLAIMED, K.CLEAR_AUTO): S.CLAIMED,
    (S.CLAIMED, K.CLEAR_KEEP): S.CLAIMED,
    (S.CLAIMED, K.UNCLAIM): S.OPEN,
    (S.CLAIMED, K.TRANSFER): S.CLAIMED,
    (S.CLAIMED, K.ATTEMPT): S.IN_PROGRESS,
    (S.CLAIMED, K.NOTE): S.CLAIMED,
    (S.CLAIMED, K.SCHEDULE): S.FOLLOW_UP,
    (S.CLAIMED, K.REFER): S.FOLLOW_UP,
    (S.CLAIMED, K.RESOLVE): S.CLOSED,
    (S.CLAIMED, K.ACK_TIMEOUT): S.OPEN,
    (S.IN_PROGRESS, K.FIRE): S.IN_PROGRESS,
    (S.IN_PROGRESS, K.FIRE_WORSE): S.IN_PROGRESS,
    (S.IN_PROGRESS, K.CLEAR_AUTO): S.IN_PROGRESS,
    (S.IN_PROGRESS, K.CLEAR_KEEP): S.IN_PROGRESS,
    (S.IN_PROGRESS, K.UNCLAIM): S.OPEN,
    (S.IN_PROGRESS, K.TRANSFER): S.IN_PROGRESS,
    (S.IN_PROGRESS, K.ATTEMPT): S.IN_PROGRESS,
    (S.IN_PROGRESS, K.NOTE): S.IN_PROGRESS,
    (S.IN_PROGRESS, K.SCHEDULE): S.FOLLOW_UP,
    (S.IN_PROGRESS, K.REFER): S.FOLLOW_UP,
    (S.IN_PROGRESS, K.RESOLVE): S.CLOSED,
    (S.IN_PROGRESS, K.ACK_TIMEOUT): S.OPEN,
    (S.FOLLOW_UP, K.FIRE): S.FOLLOW_UP,
    (S.FOLLOW_UP, K.FIRE_WORSE): S.OPEN,
    (S.FOLLOW_UP, K.CLEAR_AUTO): S.CLOSED,
    (S.FOLLOW_UP, K.CLEAR_KEEP): S.FOLLOW_UP,
    (S.FOLLOW_UP, K.UNCLAIM): S.OPEN,
    (S.FOLLOW_UP, K.TRANSFER): S.FOLLOW_UP,
    (S.FOLLOW_UP, K.ATTEMPT): S.FOLLOW_UP,
    (S.FOLLOW_UP, K.NOTE): S.FOLLOW_UP,
    (S.FOLLOW_UP, K.SCHEDULE): S.FOLLOW_UP,
    (S.FOLLOW_UP, K.REFER): S.FOLLOW_UP,
    (S.FOLLOW_UP, K.RESOLVE): S.CLOSED,
    (S.FOLLOW_UP, K.FOLLOW_UP_DUE): S.CLAIMED,
    (S.CLOSED, K.NOTE): S.CLOSED,
    (S.CLOSED, K.REOPEN): S.OPEN,
}


def event_of(kind: EventKind, at: datetime) -> tuple[Severity, Event]:
    """An event of ``kind`` and the case severity that makes it that kind."""
    due = at + timedelta(days=14)
    table: dict[EventKind, tuple[Severity, Event]] = {
        K.FIRE: (Severity.URGENT, Fire(at, "a2", Severity.URGENT, "again")),
        K.FIRE_WORSE: (Severity.URGENT, Fire(at, "a2", Severity.EMERGENCY, "worse")),
        K.CLEAR_AUTO: (Severity.FOLLOW_UP, Clear(at, "a1")),
        K.CLEAR_KEEP: (Severity.URGENT, Clear(at, "a1")),
        K.CLAIM: (Severity.URGENT, Claim(at, BOB)),
        K.UNCLAIM: (Severity.URGENT, Unclaim(at, ALICE)),
        K.TRANSFER: (Severity.URGENT, Transfer(at, ALICE, BOB, "over to you")),
        K.ATTEMPT: (Severity.URGENT, Attempt(at, ALICE, AttemptResult.NO_ANSWER)),
        K.NOTE: (Severity.URGENT, Note(at, ALICE, "daughter visits on Sundays")),
        K.SCHEDULE: (Severity.URGENT, Schedule(at, ALICE, due)),
        K.REFER: (Severity.URGENT, Resolve(at, ALICE, Outcome.REFERRED, due=due)),
        K.RESOLVE: (Severity.URGENT, Resolve(at, ALICE, Outcome.REACHED)),
        K.REOPEN: (Severity.URGENT, Reopen(at, ALICE, "she called back: still dizzy")),
        K.ESCALATE: (Severity.URGENT, Escalate(at, 1)),
        K.ACK_TIMEOUT: (Severity.URGENT, AckTimeout(at)),
        K.FOLLOW_UP_DUE: (Severity.URGENT, FollowUpDue(at)),
    }
    return table[kind]


def test_the_table_is_exactly_the_documented_one() -> None:
    """TRANSITIONS holds exactly the pairs written out in this test."""
    actual = {(s, k): t for s, row in TRANSITIONS.items() for k, t in row.items()}
    assert actual == EXPECTED


@pytest.mark.parametrize(("state", "kind"), list(itertools.product(CaseState, EventKind)))
def test_each_state_and_event_follows_the_table(state: CaseState, kind: EventKind) -> None:
    """Every (state, event) pair goes where the table says, or is refused naming both."""
    at = T0 + timedelta(minutes=5)
    severity, event = event_of(kind, at)
    case = make_case(state, severity)
    assert kind_of(case, event) is kind
    expected = EXPECTED.get((state, kind))
    if expected is None:
        with pytest.raises(InvalidTransition) as caught:
            apply(case, event)
        assert (caught.value.state, caught.value.event) == (state.value, kind.value)
    else:
        assert apply(case, event).state is expected


def test_repeat_firing_counts_and_keeps_latest_evidence() -> None:
    """A repeat bumps the counter and replaces the evidence; the case stays one case."""
    case = make_case()
    later = T0 + timedelta(hours=1)
    after = apply(case, Fire(later, "a2", Severity.URGENT, "BP 185/115", {"values": {"s": 185}}))
    assert (after.repeat_count, after.last_fired_at) == (2, later)
    assert after.evidence == {"values": {"s": 185}}
    assert after.reason == "BP 185/115"
    assert after.opened_at == T0


def test_a_worse_firing_upgrades_severity_and_a_milder_one_does_not() -> None:
    """Severity only goes up with repeats."""
    case = make_case(severity=Severity.FOLLOW_UP)
    worse = apply(case, Fire(T0, "a2", Severity.URGENT, "r"))
    assert worse.severity is Severity.URGENT
    milder = apply(worse, Fire(T0, "a3", Severity.ENGAGEMENT, "r"))
    assert milder.severity is Severity.URGENT


@pytest.mark.parametrize("severity", list(Severity))
def test_clearing_resolves_only_open_follow_up_and_engagement_cases(severity: Severity) -> None:
    """A cleared rule closes an unclaimed follow-up/engagement case, never an urgent one."""
    after = apply(make_case(S.OPEN, severity), Clear(T0, "a1"))
    assert after.cleared
    if severity in (Severity.FOLLOW_UP, Severity.ENGAGEMENT):
        assert (after.state, after.outcome) == (S.CLOSED, Outcome.CLEARED)
    else:
        assert after.state is S.OPEN
        assert after.outcome is None


def test_a_new_firing_after_a_clear_unmarks_it() -> None:
    """Cleared is only true until the rule fires again."""
    case = apply(make_case(S.CLAIMED), Clear(T0, "a1"))
    assert apply(case, Fire(T0, "a2", Severity.URGENT, "r")).cleared is False


def test_claim_records_owner_and_first_acknowledgement() -> None:
    """Claiming assigns the case and starts time-to-acknowledge once."""
    at = T0 + timedelta(minutes=3)
    claimed = apply(make_case(), Claim(at, BOB))
    assert (claimed.assignee, claimed.acknowledged_at, claimed.last_activity_at) == (BOB, at, at)
    again = apply(apply(claimed, Unclaim(at, BOB)), Claim(at + timedelta(hours=1), ALICE))
    assert again.acknowledged_at == at


def test_an_attempt_on_an_open_case_claims_it_for_the_caller() -> None:
    """Logging a call on an unclaimed case makes the caller its owner."""
    after = apply(make_case(), Attempt(T0, BOB, AttemptResult.REACHED))
    assert (after.state, after.assignee) == (S.IN_PROGRESS, BOB)


def test_transfer_to_the_current_owner_is_refused() -> None:
    """A transfer must change the owner."""
    with pytest.raises(InvalidTransition, match="already theirs"):
        apply(make_case(S.CLAIMED), Transfer(T0, BOB, ALICE))


def test_resolve_with_referred_parks_the_case_until_the_follow_up() -> None:
    """Referral: BPHS asks for a follow-up of the referral within two weeks."""
    due = T0 + timedelta(days=14)
    after = apply(make_case(S.IN_PROGRESS), Resolve(T0, ALICE, Outcome.REFERRED, due=due))
    assert (after.state, after.due_at, after.outcome) == (S.FOLLOW_UP, due, None)
    with pytest.raises(InvalidTransition, match="follow-up date"):
        apply(make_case(S.IN_PROGRESS), Resolve(T0, ALICE, Outcome.REFERRED))


def test_people_cannot_choose_the_automatic_outcome() -> None:
    """'cleared' is the service's outcome only."""
    with pytest.raises(InvalidTransition, match="only by the service"):
        apply(make_case(S.CLAIMED), Resolve(T0, ALICE, Outcome.CLEARED))


def test_follow_up_dates_must_be_in_the_future() -> None:
    """A schedule in the past is refused."""
    with pytest.raises(InvalidTransition, match="future"):
        apply(make_case(S.CLAIMED), Schedule(T0, ALICE, T0 - timedelta(days=1)))


def test_empty_notes_and_reasonless_reopens_are_refused() -> None:
    """Notes and re-opens need words."""
    with pytest.raises(InvalidTransition, match="empty"):
        apply(make_case(), Note(T0, ALICE, "  "))
    with pytest.raises(InvalidTransition, match="why"):
        apply(make_case(S.CLOSED), Reopen(T0, ALICE, ""))


def test_reopen_clears_the_outcome_and_restarts_escalation() -> None:
    """A re-opened case is open again from the moment it was re-opened."""
    at = T0 + timedelta(days=1)
    after = apply(make_case(S.CLOSED, escalation_level=2), Reopen(at, BOB, "still unwell"))
    assert (after.state, after.outcome, after.closed_at) == (S.OPEN, None, None)
    assert (after.open_since, after.escalation_level) == (at, 0)


def test_escalation_only_goes_up() -> None:
    """An escalation event at or below the current level is a bug in the caller."""
    with pytest.raises(InvalidTransition, match="only goes up"):
        apply(make_case(escalation_level=1), Escalate(T0, 1))


def test_closed_cases_refuse_everything_but_notes_and_reopen() -> None:
    """A closed case is history: the refusal says to re-open it."""
    with pytest.raises(InvalidTransition, match="re-open it first"):
        apply(make_case(S.CLOSED), Claim(T0, BOB))


def test_queue_order_overdue_then_severity_then_age() -> None:
    """Overdue cases come first, then emergencies before urgent, then the oldest."""
    now = T0 + timedelta(hours=3)
    overdue_follow_up = make_case(S.FOLLOW_UP, Severity.FOLLOW_UP, due_at=T0 + timedelta(hours=1))
    fresh_emergency = make_case(severity=Severity.EMERGENCY, opened_at=now, open_since=now)
    old_urgent = make_case(severity=Severity.URGENT, opened_at=now - timedelta(minutes=30))
    older_urgent = make_case(severity=Severity.URGENT, opened_at=now - timedelta(minutes=60))
    old_urgent = dataclasses.replace(old_urgent, open_since=old_urgent.opened_at)
    older_urgent = dataclasses.replace(older_urgent, open_since=older_urgent.opened_at)
    cases = [old_urgent, fresh_emergency, older_urgent, overdue_follow_up]
    ordered = sorted(cases, key=lambda c: queue_sort_key(c, now))
    assert ordered == [overdue_follow_up, fresh_emergency, older_urgent, old_urgent]
