"""Escalation, acknowledgement timeout, follow-up dates and quiet hours on an injected clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from alerts.lifecycle import (
    DEFAULT_POLICY,
    AckTimeout,
    CaseState,
    Claim,
    Escalate,
    FollowUpDue,
    Hold,
    QuietHours,
    apply,
    contact_allowed,
    next_timer,
    timers,
)
from carepulse.alert import Severity
from tests.alerts.factories import ALICE, T0, make_case

CST = timezone(timedelta(hours=8))
#: 21:00-08:00 in China: T0 (07:00 UTC) is 15:00 local, well outside.
QUIET = QuietHours(time(21, 0), time(8, 0), CST)


def run_clock(case, start, stop, step=timedelta(minutes=1), **kwargs):
    """Advance an injected clock minute by minute, applying every timer event."""
    events = []
    now = start
    while now <= stop:
        for event in timers(case, now, DEFAULT_POLICY, **kwargs):
            events.append(event)
            case = apply(case, event)
        now += step
    return case, events


def test_emergency_escalates_every_ten_minutes_up_to_the_supervisors() -> None:
    """Unacknowledged emergency: level 1 at +10 min, level 2 at +20 min, then no further."""
    case = make_case(severity=Severity.EMERGENCY)
    case, events = run_clock(case, T0, T0 + timedelta(hours=2))
    assert events == [
        Escalate(T0 + timedelta(minutes=10), 1),
        Escalate(T0 + timedelta(minutes=20), 2),
    ]
    assert case.escalation_level == 2


def test_nothing_escalates_once_claimed() -> None:
    """A claim stops escalation; only the acknowledgement timeout can act later."""
    case = apply(make_case(severity=Severity.EMERGENCY), Claim(T0, ALICE))
    _, events = run_clock(case, T0, T0 + timedelta(minutes=59))
    assert events == []


def test_acknowledged_case_with_no_activity_reopens_after_the_timeout() -> None:
    """Urgent case claimed at T0 with nothing logged re-opens at +4 h and escalates again."""
    case = make_case(CaseState.CLAIMED, Severity.URGENT)
    at = T0 + timedelta(hours=4)
    assert timers(case, at - timedelta(seconds=1)) == []
    assert timers(case, at) == [AckTimeout(at)]
    reopened = apply(case, AckTimeout(at))
    assert (reopened.state, reopened.open_since, reopened.escalation_level) == (
        CaseState.OPEN,
        at,
        0,
    )
    assert timers(reopened, at + timedelta(minutes=30)) == [Escalate(at + timedelta(minutes=30), 1)]


def test_follow_up_comes_back_on_its_due_date() -> None:
    """A parked case returns to its owner's queue when due."""
    case = make_case(CaseState.FOLLOW_UP)
    due = case.due_at
    assert due is not None
    assert timers(case, due - timedelta(minutes=1)) == []
    back = apply(case, timers(case, due)[0])
    assert (back.state, back.assignee, back.due_at) == (CaseState.CLAIMED, ALICE, None)
    assert timers(case, due) == [FollowUpDue(due)]


def test_engagement_cases_never_escalate() -> None:
    """Engagement has no escalation step by default."""
    _, events = run_clock(
        make_case(severity=Severity.ENGAGEMENT), T0, T0 + timedelta(days=2), step=timedelta(hours=1)
    )
    assert events == []


def test_per_rule_override_shortens_the_step() -> None:
    """escalation_minutes_by_rule wins over the severity default."""
    policy = dataclasses.replace(
        DEFAULT_POLICY, escalation_minutes_by_rule={"bp.urgent_referral": 5}
    )
    assert timers(make_case(), T0 + timedelta(minutes=5), policy) == [
        Escalate(T0 + timedelta(minutes=5), 1)
    ]


def test_muted_and_silenced_cases_do_not_escalate() -> None:
    """Inhibited or silenced cases wait; the silence's end is the next timer."""
    case = make_case()
    late = T0 + timedelta(hours=1)
    assert timers(case, late, hold=Hold(muted=True)) == []
    until = T0 + timedelta(hours=2)
    assert timers(case, late, hold=Hold(silenced_until=until)) == []
    assert next_timer(case, late, hold=Hold(silenced_until=until)) == until
    assert timers(case, until, hold=Hold(silenced_until=until)) == [Escalate(until, 2)]


def test_quiet_hours_wrap_midnight() -> None:
    """21:00-08:00 local contains 23:00 and 07:59 but not 08:00 or 20:59."""
    local = datetime(2026, 11, 27, tzinfo=CST)
    inside = [local.replace(hour=23), local.replace(hour=7, minute=59), local.replace(hour=21)]
    outside = [local.replace(hour=8), local.replace(hour=20, minute=59), local.replace(hour=12)]
    assert all(QUIET.contains(t) for t in inside)
    assert not any(QUIET.contains(t) for t in outside)
    assert QUIET.ends_after(local.replace(hour=23)) == local.replace(hour=8) + timedelta(days=1)
    assert QUIET.ends_after(local.replace(hour=6)) == local.replace(hour=8)


@pytest.mark.parametrize(
    ("severity", "allowed_at_night"),
    [
        (Severity.EMERGENCY, True),
        (Severity.URGENT, True),
        (Severity.FOLLOW_UP, False),
        (Severity.ENGAGEMENT, False),
    ],
)
def test_quiet_hours_hold_only_non_urgent_contact(
    severity: Severity, allowed_at_night: bool
) -> None:
    """Emergencies and urgent cases are never held by quiet hours."""
    night = datetime(2026, 11, 27, 23, 0, tzinfo=CST)
    assert contact_allowed(severity, night, QUIET) is allowed_at_night
    assert contact_allowed(severity, night, None)


def test_follow_up_escalation_waits_for_morning() -> None:
    """A follow-up case due to escalate at 23:00 local escalates at 08:00 instead."""
    opened = datetime(2026, 11, 26, 23, 0, tzinfo=CST).astimezone(UTC)
    case = make_case(severity=Severity.FOLLOW_UP, opened_at=opened, open_since=opened)
    step_due = opened + timedelta(days=1)
    assert timers(case, step_due, quiet=QUIET) == []
    morning = datetime(2026, 11, 28, 8, 0, tzinfo=CST)
    assert next_timer(case, step_due, quiet=QUIET) == morning
    assert timers(case, morning, quiet=QUIET) == [Escalate(morning, 1)]


def test_next_timer_is_none_for_closed_and_top_level_cases() -> None:
    """No timer is scheduled when nothing can happen any more."""
    assert next_timer(make_case(CaseState.CLOSED), T0) is None
    assert next_timer(make_case(escalation_level=2), T0) is None
    assert next_timer(make_case(), T0) == T0 + timedelta(minutes=30)
