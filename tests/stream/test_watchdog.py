"""No check-in, device offline and battery decisions; the residents file."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from carepulse.alert import Category, Severity, Status
from stream.config import StreamSettings
from stream.errors import RuleConfigError
from stream.residents import parse_residents
from stream.rules import default_rules
from stream.watchdog import (
    battery_alerts,
    battery_level,
    checkin_resolved,
    checkin_since,
    device_offline_alert,
    device_subject,
    elapsed,
    no_checkin_alerts,
    parse_heartbeat,
    resident_overdue,
)
from tests.stream.factories import OTHER, SUBJECT

NOW = datetime(2026, 11, 27, tzinfo=UTC)
DAY = 86400.0


def test_no_checkin_after_n_days_then_follow_up_at_twice() -> None:
    """Engagement after N days, follow-up after 2N; the id is tied to the last-seen time."""
    now = NOW.timestamp()
    alerts = functools.partial(
        no_checkin_alerts, subject_id=SUBJECT, station_id="st-001", days=3.0, raised_at=NOW
    )
    assert alerts(last_seen=now - 2.9 * DAY, now=now) == []
    first = alerts(last_seen=now - 3 * DAY, now=now)
    assert [(a.rule_id, a.severity, a.category) for a in first] == [
        ("checkin.none", Severity.ENGAGEMENT, Category.CLINICAL)
    ]
    later = alerts(last_seen=now - 3 * DAY, now=now + 3 * DAY)
    assert [a.rule_id for a in later] == ["checkin.none", "checkin.none_long"]
    assert later[0].alert_id == first[0].alert_id
    resolved = checkin_resolved(
        subject_id=SUBJECT,
        station_id="st-001",
        previous=now - 4 * DAY,
        at=now,
        days=3.0,
        raised_at=NOW,
    )
    assert [(a.rule_id, a.status) for a in resolved] == [("checkin.none", Status.RESOLVED)]


def beat(**status: object) -> bytes:
    body = {
        "schema": 1,
        "station_id": "st-001",
        "subject": "device/C4:7C:8D:6A:12:34",
        "sent_at": "2026-11-27T00:00:00Z",
        "device_kind": "bp_meter",
        "last_seen": "2026-11-26T12:00:00+00:00",
        "readings": 3,
        "rejected": 0,
        "battery_percent": 50,
    }
    body.update(status)
    return json.dumps(body).encode()


def test_heartbeat_parsing() -> None:
    """Device heartbeats parse; gateway heartbeats and garbage give None."""
    parsed = parse_heartbeat(beat())
    assert parsed is not None
    assert (parsed.device_id, parsed.battery_percent, parsed.device_kind) == (
        "C4:7C:8D:6A:12:34",
        50,
        "bp_meter",
    )
    assert parsed.last_seen == NOW.timestamp() - 12 * 3600
    assert parse_heartbeat(beat(subject="gateway")) is None
    assert parse_heartbeat(b"not json") is None
    assert parse_heartbeat(beat(sent_at="yesterday")) is None


def test_device_offline_is_technical() -> None:
    """A device silent for the configured hours raises a technical follow-up alert."""
    parsed = parse_heartbeat(beat())
    assert parsed is not None
    assert device_offline_alert(parsed, NOW.timestamp(), 24.0, NOW) is None
    alert = device_offline_alert(parsed, NOW.timestamp(), 12.0, NOW)
    assert alert is not None
    assert (alert.rule_id, alert.category, alert.status) == (
        "device.offline",
        Category.TECHNICAL,
        Status.FIRING,
    )
    assert alert.subject_id == device_subject("st-001", "C4:7C:8D:6A:12:34")
    assert alert.evidence["device_id"] == "C4:7C:8D:6A:12:34"
    back = device_offline_alert(parsed, NOW.timestamp(), 12.0, NOW, resolved=True)
    assert back is not None
    assert back.status is Status.RESOLVED


@pytest.mark.parametrize(
    ("previous", "percent", "level"),
    [
        ("ok", 20, "ok"),
        ("ok", 19, "low"),
        ("ok", 4, "critical"),
        ("low", 22, "low"),
        ("low", 25, "ok"),
        ("critical", 8, "critical"),
        ("critical", 12, "low"),
        ("low", None, "low"),
    ],
)
def test_battery_levels_with_hysteresis(previous: str, percent: int | None, level: str) -> None:
    """Below 20 % is low, below 5 % critical; each clears 5 points higher."""
    assert battery_level(percent, previous) == level


def test_battery_alerts_on_level_change() -> None:
    """Going critical resolves the low alert and raises the critical one."""
    parsed = parse_heartbeat(beat(battery_percent=3))
    assert parsed is not None
    alerts = battery_alerts(parsed, "low", "critical", NOW)
    assert [(a.rule_id, a.status, a.severity) for a in alerts] == [
        ("device.battery_low", Status.RESOLVED, Severity.ENGAGEMENT),
        ("device.battery_critical", Status.FIRING, Severity.FOLLOW_UP),
    ]
    assert all(a.category is Category.TECHNICAL for a in alerts)
    assert battery_alerts(parsed, "low", "low", NOW) == []


def test_residents_file_periods_and_refusals() -> None:
    """Own period beats the cohort's; cohorts beat the default; names are refused."""
    text = f"""
[cohorts.diabetic]
no_checkin_days = 3
[cohorts.frail]
no_checkin_days = 2
[residents."{SUBJECT}"]
cohorts = ["diabetic", "frail"]
[residents."{OTHER}"]
cohorts = ["diabetic"]
no_checkin_days = 5
[residents."{OTHER}".rules.settings]
spo2_scale = 2
"""
    residents = parse_residents(text, default_rules())
    assert residents.no_checkin_days(SUBJECT, 7.0) == 2.0
    assert residents.no_checkin_days(OTHER, 7.0) == 5.0
    assert residents.no_checkin_days("a" * 32, 7.0) == 7.0
    assert residents.get(SUBJECT).diabetic is True
    assert residents.rules_for(OTHER, default_rules()).settings.spo2_scale == 2
    with pytest.raises(RuleConfigError, match="pseudonym"):
        parse_residents('[residents."Wang Fang"]\ncohorts = []\n', default_rules())
    with pytest.raises(RuleConfigError, match="no_checkin_days"):
        parse_residents("[cohorts.x]\nno_checkin_days = 0\n", default_rules())
    with pytest.raises(RuleConfigError):
        parse_residents(
            f'[residents."{SUBJECT}".rules.settings]\nspo2_scale = 7\n', default_rules()
        )


def test_time_scale_multiplies_wall_seconds() -> None:
    """Under a time scale, 150 wall seconds at 1152x are two simulated days of silence."""
    now = NOW.timestamp()
    assert elapsed(now - 150, now) == 150
    assert elapsed(now - 150, now, 1152.0) == 2 * DAY
    alerts = functools.partial(
        no_checkin_alerts,
        subject_id=SUBJECT,
        station_id="st-001",
        last_seen=now - 150,
        now=now,
        days=2.0,
        raised_at=NOW,
    )
    assert alerts() == []
    (scaled,) = alerts(scale=1152.0)
    assert scaled.rule_id == "checkin.none"
    assert scaled.evidence["values"] == {
        "last_seen": "2026-11-26T23:57:30Z",
        "days": 2.0,
        "time_scale": 1152.0,
    }
    # Real time keeps the evidence as it was: no time_scale key.
    (real,) = alerts(last_seen=now - 2 * DAY)
    assert "time_scale" not in real.evidence["values"]
    resolved = functools.partial(
        checkin_resolved,
        subject_id=SUBJECT,
        station_id="st-001",
        previous=now - 150,
        at=now,
        days=2.0,
        raised_at=NOW,
    )
    (back,) = resolved(scale=1152.0)
    assert (back.rule_id, back.status, back.evidence["values"]["days"]) == (
        "checkin.none",
        Status.RESOLVED,
        2.0,
    )
    assert resolved() == []


def test_checkin_clock_is_event_time_in_real_time_and_receipt_under_a_scale() -> None:
    """Real stations measure from the latest event time; simulations from the receipt."""
    assert checkin_since(100.0, 900.0, 1.0) == 100.0
    assert checkin_since(100.0, 900.0, 60.0) == 900.0
    assert checkin_since(None, None, 1.0) is None
    assert checkin_since(100.0, None, 60.0) is None  # a record from before receipts were kept


def test_resident_overdue_after_their_period() -> None:
    """A resident is overdue once silent for their check-in days (scaled or not)."""
    now = NOW.timestamp()
    assert not resident_overdue(None, now, 2.0)
    assert not resident_overdue(now - 1.9 * DAY, now, 2.0)
    assert resident_overdue(now - 2 * DAY, now, 2.0)
    assert resident_overdue(now - 150, now, 2.0, 1152.0)


def test_device_offline_under_a_time_scale() -> None:
    """A device heard 100 wall seconds ago is 32 simulated hours silent at 1152x."""
    parsed = parse_heartbeat(beat(last_seen="2026-11-26T23:58:20+00:00"))
    assert parsed is not None
    assert device_offline_alert(parsed, NOW.timestamp(), 24.0, NOW) is None
    alert = device_offline_alert(parsed, NOW.timestamp(), 24.0, NOW, scale=1152.0)
    assert alert is not None
    assert alert.evidence["values"] == {"silent_hours": 32.0, "hours": 24.0, "time_scale": 1152.0}
    assert device_offline_alert(parsed, NOW.timestamp(), 36.0, NOW, scale=1152.0) is None


def test_watchdog_settings_are_validated() -> None:
    """Per-kind offline hours override the default; bad values are refused by name."""
    settings = StreamSettings(
        device_offline_hours=24.0, device_offline_hours_by_kind={"scale": 72.0}
    )
    assert settings.offline_hours("scale") == 72.0
    assert settings.offline_hours("oximeter") == 24.0
    assert settings.offline_hours(None) == 24.0
    assert StreamSettings.model_fields["watchdog_time_scale"].default == 1.0  # real time
    bad: list[dict[str, object]] = [
        {"watchdog_time_scale": 0.5},
        {"watchdog_time_scale": float("inf")},
        {"watchdog_interval_s": 0},
        {"device_offline_hours_by_kind": {"scale": 0}},
        {"device_offline_hours_by_kind": {"scale": float("nan")}},
    ]
    for fields in bad:
        with pytest.raises(ValidationError) as caught:
            StreamSettings(**fields)  # type: ignore[arg-type]  # deliberately wrong values
        assert next(iter(fields)) in str(caught.value)
