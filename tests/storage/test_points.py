"""The InfluxDB schema: observations, windows and alerts become the documented points."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from carepulse.alert import Alert
from carepulse.observation import Kind, Observation
from storage.errors import PointError
from storage.points import (
    ALERT,
    READING,
    WINDOW,
    LinePoint,
    Stats,
    WindowAggregate,
    alert_to_point,
    from_ms,
    reading_line,
    time_ms,
    to_point,
    window_to_point,
)
from tests.storage.generator import simulate_station, subject

AT = datetime(2026, 11, 27, 7, 31, 2, 123456, tzinfo=UTC)
SUBJECT = subject(1)


def bp(**changes: object) -> Observation:
    observation = Observation.create(
        station_id="st-001",
        subject_id=SUBJECT,
        device_id="C4:7C:8D:6A:12:34",
        device_kind="bp_meter",
        kind="blood_pressure",
        values={"systolic_mmhg": 138, "diastolic_mmhg": 88.0, "pulse_rate_bpm": 61},
        measured_at=AT,
        received_at=AT + timedelta(seconds=2),
        source="ble",
        flags={"irregular_pulse": False},
    )
    return replace(observation, **changes)  # type: ignore[arg-type]


def test_reading_line_is_the_documented_schema() -> None:
    """A BP observation becomes one 'reading' line: sorted tags, float fields, ms time."""
    point = to_point(bp())
    assert point is not None
    assert point.to_line() == (
        f"reading,device_kind=bp_meter,kind=blood_pressure,source=ble,station=st-001,"
        f"subject={SUBJECT} diastolic_mmhg=88.0,pulse_rate_bpm=61.0,systolic_mmhg=138.0 "
        "1795764662123"
    )
    assert point.measurement == READING


def test_time_is_measured_time_in_milliseconds() -> None:
    """The point's time is measured_at floored to ms; received_at plays no part."""
    point = to_point(bp())
    assert point is not None
    assert from_ms(point.time_ms) == AT.replace(microsecond=123000)
    assert time_ms(datetime(1970, 1, 1, 0, 0, 0, 999, tzinfo=UTC)) == 0


def test_resent_observation_has_the_same_identity() -> None:
    """A re-sent observation (later received_at) gives the same key and line: an upsert."""
    first = to_point(bp())
    again = to_point(bp(received_at=AT + timedelta(minutes=5)))
    assert first is not None
    assert again is not None
    assert first.key() == again.key()
    assert first.to_line() == again.to_line()


def test_tags_never_carry_device_ids_flags_or_names() -> None:
    """Only station, pseudonym, kind, device kind and source are tags; no device id or flags."""
    station = simulate_station(residents=5, days=3, seed=1)
    for observation in station.observations:
        point = to_point(observation)
        assert point is not None
        assert dict(point.tags).keys() == {"station", "subject", "kind", "device_kind", "source"}
        line = point.to_line()
        assert observation.device_id not in line
        assert "resident-" not in line
        assert dict(point.tags)["subject"] == observation.subject_id


def test_series_are_summarised_and_labels_skipped() -> None:
    """RR intervals become count and mean; booleans, strings and nulls are not written."""
    observation = Observation.create(
        station_id="st-001",
        subject_id=SUBJECT,
        device_id="band-1",
        device_kind="hr_band",
        kind="heart_rate",
        values={
            "heart_rate_bpm": 72,
            "rr_intervals_s": [0.8, 0.84, 0.82],
            "sensor_contact": True,
            "energy_expended_kj": None,
            "position": "wrist",
        },
        measured_at=AT,
        received_at=AT,
        source="ble",
    )
    point = to_point(observation)
    assert point is not None
    fields = dict(point.fields)
    assert fields.keys() == {"heart_rate_bpm", "rr_intervals_s_count", "rr_intervals_s_mean"}
    assert fields["rr_intervals_s_count"] == 3.0
    assert fields["rr_intervals_s_mean"] == pytest.approx(0.82)


def test_observation_without_numbers_gives_no_point() -> None:
    """An observation with only labels and flags writes nothing."""
    assert to_point(bp(values={"state": "settling"})) is None
    assert reading_line(bp(values={"state": "settling"})) is None


def test_fast_reading_line_equals_the_point_line() -> None:
    """reading_line writes exactly what to_point(...).to_line() writes, for every kind."""
    observations = simulate_station(residents=6, days=5, seed=3).observations
    observations += [
        bp(),
        bp(values={"a1": 1, "a": 2.5, "a_b": [1.0, 2.0], "b": True, "c": None, "d": "x"}),
        bp(values={"rr_intervals_s": [0.8, 0.84, 0.82], "heart_rate_bpm": 72}),
        bp(values={"rr_intervals_s": [], "heart_rate_bpm": 1e-7, "big_count": 10**15}),
    ]
    assert len({o.kind for o in observations}) >= 4
    for observation in observations:
        point = to_point(observation)
        assert reading_line(observation) == (None if point is None else point.to_line())


def test_window_point_is_stamped_with_window_start() -> None:
    """A window result: stats as <value>_<stat> fields, time = window start, tag window."""
    start = datetime(2026, 11, 27, 7, tzinfo=UTC)
    aggregate = WindowAggregate(
        station_id="st-001",
        subject_id=SUBJECT,
        kind=Kind.HEART_RATE,
        window="1h",
        start=start,
        stats={"heart_rate_bpm": Stats.of([70, 74, 78])},
        extra={"rmssd_ms": 31.5},
    )
    point = window_to_point(aggregate)
    assert point.measurement == WINDOW
    assert dict(point.tags) == {
        "station": "st-001",
        "subject": SUBJECT,
        "kind": "heart_rate",
        "window": "1h",
        "source": "stream",
    }
    assert dict(point.fields) == {
        "heart_rate_bpm_count": 3.0,
        "heart_rate_bpm_max": 78.0,
        "heart_rate_bpm_mean": 74.0,
        "heart_rate_bpm_min": 70.0,
        "rmssd_ms": 31.5,
    }
    assert point.time_ms == time_ms(start)
    update = replace(aggregate, stats={"heart_rate_bpm": Stats.of([70, 74, 78, 90])})
    assert window_to_point(update).key() == point.key()


@pytest.mark.parametrize("label", ["", "1 h", "0h", "h", "1y", "90min"])
def test_window_label_must_be_a_duration(label: str) -> None:
    """A window label is a number and one of s, m, h, d, w."""
    aggregate = WindowAggregate("st-001", SUBJECT, Kind.STEPS, label, AT, {"x": Stats.of([1.0])})
    with pytest.raises(PointError) as caught:
        window_to_point(aggregate)
    assert caught.value.field == "window"


def test_alert_annotation_has_no_free_text() -> None:
    """An alert becomes tags and two numbers; its reason text is not stored."""
    alert = Alert(
        alert_id="a" * 32,
        station_id="st-001",
        subject_id=SUBJECT,
        rule_id="bp.urgent_referral",
        severity="urgent",  # type: ignore[arg-type]
        category="clinical",  # type: ignore[arg-type]
        status="firing",  # type: ignore[arg-type]
        reason="Blood pressure 182/112 mmHg",
        source="guideline",
        raised_at=AT,
    )
    point = alert_to_point(alert)
    assert point.measurement == ALERT
    assert dict(point.fields) == {"firing": 1.0, "severity_rank": 1.0}
    assert dict(point.tags)["rule"] == "bp.urgent_referral"
    assert "182" not in point.to_line()


def test_line_protocol_escapes_special_characters() -> None:
    """Commas, spaces and equals signs in names are escaped."""
    point = LinePoint("a b,c", (("k=1", "v 1,2"),), (("f x", 1.0),), 5)
    assert point.to_line() == r"a\ b\,c,k\=1=v\ 1\,2 f\ x=1.0 5"


def test_empty_or_multiline_tags_are_refused() -> None:
    """A tag value must be non-empty and printable."""
    alert = Alert(
        alert_id="a" * 32,
        station_id="st-001",
        subject_id=SUBJECT,
        rule_id="bad\nrule",
        severity="urgent",  # type: ignore[arg-type]
        category="clinical",  # type: ignore[arg-type]
        status="firing",  # type: ignore[arg-type]
        reason="r",
        source="s",
        raised_at=AT,
    )
    with pytest.raises(PointError) as caught:
        alert_to_point(alert)
    assert caught.value.field == "tags.rule"
