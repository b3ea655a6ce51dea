"""Shared builders for the alert-service tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from alerts.lifecycle import Case, CaseState, Fire, Outcome, open_case
from carepulse.alert import Category, Severity

T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SUBJECT = "9b2e" * 8
ALICE, BOB = 1, 2


def make_case(
    state: CaseState = CaseState.OPEN, severity: Severity = Severity.URGENT, **changes: object
) -> Case:
    """A case of rule bp.urgent_referral in ``state`` (assigned to Alice unless open)."""
    case = open_case(
        station_id="st-001",
        subject_id=SUBJECT,
        rule_id="bp.urgent_referral",
        category=Category.CLINICAL,
        fire=Fire(at=T0, alert_id="a1", severity=severity, reason="BP 182/112"),
    )
    defaults: dict[str, object] = {"state": state}
    if state is not CaseState.OPEN:
        defaults.update(assignee=ALICE, acknowledged_at=T0, last_activity_at=T0)
    if state is CaseState.FOLLOW_UP:
        defaults["due_at"] = T0 + timedelta(days=14)
    if state is CaseState.CLOSED:
        defaults.update(outcome=Outcome.REACHED, closed_at=T0)
    defaults.update(changes)
    return dataclasses.replace(case, **defaults)  # type: ignore[arg-type]
