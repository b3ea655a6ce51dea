"""The alert wire contract shared by the stream worker and the alert service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from carepulse.alert import Alert, Category, Severity, Status, alert_id_for
from carepulse.errors import ObservationError
from carepulse.pseudonym import pseudonymise

SUBJECT = pseudonymise("R0042", b"0123456789abcdef0123")


def make(**changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": alert_id_for("st-001", SUBJECT, "bp.urgent_referral", "2026-11-27T07:00:00Z"),
        "station_id": "st-001",
        "subject_id": SUBJECT,
        "rule_id": "bp.urgent_referral",
        "severity": "urgent",
        "category": "clinical",
        "status": "firing",
        "reason": "Blood pressure 182/112 mmHg: refer to a doctor today.",
        "source": "China hypertension guideline 2018",
        "evidence": {"values": {"systolic_mmhg": 182.0, "diastolic_mmhg": 112.0}},
        "raised_at": datetime(2026, 11, 27, 7, 31, 5, tzinfo=UTC),
    }
    fields.update(changes)
    return Alert(**fields)


def test_round_trip() -> None:
    """An alert survives to_json/from_json unchanged, enums included."""
    alert = make()
    assert Alert.from_json(alert.to_json()) == alert
    assert alert.severity is Severity.URGENT
    assert alert.category is Category.CLINICAL
    assert alert.status is Status.FIRING


def test_alert_id_is_stable_per_rule_subject_and_episode() -> None:
    """The same episode gives the same id; another episode or rule gives another."""
    first = alert_id_for("st-001", SUBJECT, "bp.urgent_referral", "2026-11-27")
    assert first == alert_id_for("st-001", SUBJECT, "bp.urgent_referral", "2026-11-27")
    assert first != alert_id_for("st-001", SUBJECT, "bp.urgent_referral", "2026-11-28")
    assert first != alert_id_for("st-001", SUBJECT, "glucose.hypo_level_2", "2026-11-27")


def test_severity_rank_orders_the_queue() -> None:
    """Emergencies sort first, engagement last."""
    assert sorted(Severity, key=lambda s: s.rank) == [
        Severity.EMERGENCY,
        Severity.URGENT,
        Severity.FOLLOW_UP,
        Severity.ENGAGEMENT,
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subject_id": "张伟"}, "subject_id"),
        ({"severity": "critical"}, "severity"),
        ({"category": "admin"}, "category"),
        ({"status": "open"}, "status"),
        ({"reason": " "}, "reason"),
        ({"raised_at": datetime(2026, 11, 27)}, "raised_at"),
        ({"evidence": [1]}, "evidence"),
    ],
)
def test_invalid_alerts_name_the_field(changes: dict[str, Any], field: str) -> None:
    """A broken alert is refused with the field at fault."""
    with pytest.raises(ObservationError) as caught:
        make(**changes)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"nope", "(root)"),
        (b"[]", "(root)"),
        (json.dumps({**make().as_dict(), "name": "x"}).encode(), "name"),
        (
            json.dumps({k: v for k, v in make().as_dict().items() if k != "reason"}).encode(),
            "reason",
        ),
    ],
)
def test_bad_wire_data_names_the_field(raw: bytes | str, field: str) -> None:
    """Unknown, missing and malformed wire data is refused naming the field."""
    with pytest.raises(ObservationError) as caught:
        Alert.from_json(raw)
    assert caught.value.field == field
