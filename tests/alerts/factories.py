"""Shared builders for the alert-service tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from alerts.lifecycle import Case, CaseState, Fire, Outcome, open_case
from carepulse.alert import Alert, Category, Severity, Status, alert_id_for

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


class Clock:
    """A settable clock for the store (call it for now; ``advance`` moves it)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def alert(
    rule_id: str = "bp.urgent_referral",
    *,
    subject_id: str = SUBJECT,
    station_id: str = "st-001",
    severity: Severity = Severity.URGENT,
    category: Category = Category.CLINICAL,
    status: Status = Status.FIRING,
    episode: str = "e1",
    at: datetime = T0,
    reason: str = "Blood pressure 182/112 mmHg is at or above 180/110.",
    measured_at: datetime | None = None,
) -> Alert:
    """An alert as the stream sends it (deterministic id from rule, resident and episode)."""
    stamp = (measured_at or at).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Alert(
        alert_id=alert_id_for(station_id, subject_id, rule_id, episode),
        station_id=station_id,
        subject_id=subject_id,
        rule_id=rule_id,
        severity=severity,
        category=category,
        status=status,
        reason=reason,
        source="BPHS 3rd edition, hypertension spec",
        raised_at=at,
        evidence={
            "readings": [
                {
                    "observation_id": f"obs-{episode}",
                    "kind": "blood_pressure",
                    "measured_at": stamp,
                    "values": {"systolic_mmhg": 182.0, "diastolic_mmhg": 112.0},
                }
            ],
            "window": {"start": stamp, "end": stamp},
        },
    )
