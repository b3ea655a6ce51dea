"""The observation wire contract: round trips, ids, and errors that name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from carepulse.errors import ObservationError
from carepulse.observation import (
    SCHEMA_VERSION,
    Kind,
    Observation,
    Source,
    format_time,
    observation_id_for,
)
from carepulse.pseudonym import pseudonymise

SECRET = b"station-secret-for-tests-0123456789"
SUBJECT = pseudonymise("resident-0001", SECRET)
MEASURED = datetime(2026, 11, 27, 7, 31, 2, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 27, 7, 31, 4, 118000, tzinfo=UTC)


def make(**overrides: Any) -> Observation:
    fields: dict[str, Any] = {
        "station_id": "st-001",
        "subject_id": SUBJECT,
        "device_id": "C4:7C:8D:6A:12:34",
        "device_kind": "bp_meter",
        "kind": "blood_pressure",
        "values": {"systolic_mmhg": 138.0, "diastolic_mmhg": 88.0, "pulse_rate_bpm": 60},
        "measured_at": MEASURED,
        "received_at": RECEIVED,
        "source": "ble",
        "flags": {"irregular_pulse": False},
    }
    fields.update(overrides)
    return Observation.create(**fields)


def wire(**changes: Any) -> dict[str, Any]:
    data = make().as_dict()
    for key, value in changes.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    return data


_DELETE = object()


def test_json_round_trip_gives_an_equal_observation() -> None:
    """An observation survives to_json/from_json unchanged."""
    original = make(values={"heart_rate_bpm": 72, "rr_intervals_s": [0.8, 0.82, 0.79]})
    restored = Observation.from_json(original.to_json())
    assert restored == original
    assert restored.values["rr_intervals_s"] == (0.8, 0.82, 0.79)


def test_wire_form_is_the_documented_json() -> None:
    """The JSON carries every contract field, UTC times with Z, and enums as strings."""
    data = json.loads(make().to_json())
    assert data == {
        "schema": SCHEMA_VERSION,
        "observation_id": data["observation_id"],
        "station_id": "st-001",
        "subject_id": SUBJECT,
        "device_id": "C4:7C:8D:6A:12:34",
        "device_kind": "bp_meter",
        "kind": "blood_pressure",
        "values": {"systolic_mmhg": 138.0, "diastolic_mmhg": 88.0, "pulse_rate_bpm": 60},
        "measured_at": "2026-11-27T07:31:02Z",
        "received_at": "2026-11-27T07:31:04.118000Z",
        "source": "ble",
        "flags": {"irregular_pulse": False},
    }


def test_timestamps_with_an_offset_are_kept_in_utc() -> None:
    """A device time in China Standard Time is stored as the same instant in UTC."""
    beijing = timezone(timedelta(hours=8))
    observation = make(measured_at=datetime(2026, 11, 27, 15, 31, 2, tzinfo=beijing))
    assert observation.measured_at == MEASURED
    assert observation.measured_at.tzinfo == UTC
    assert Observation.from_dict(wire(measured_at="2026-11-27T15:31:02+08:00")).measured_at == (
        MEASURED
    )


def test_same_measurement_resent_gets_the_same_id() -> None:
    """A resend (later receipt, other subject mapping) keeps the observation id."""
    first = make()
    resent = make(received_at=RECEIVED + timedelta(minutes=5), station_id="st-002")
    assert resent.observation_id == first.observation_id


@pytest.mark.parametrize(
    "change",
    [
        {"device_id": "C4:7C:8D:6A:12:35"},
        {"measured_at": MEASURED + timedelta(seconds=1)},
        {"values": {"systolic_mmhg": 139.0, "diastolic_mmhg": 88.0, "pulse_rate_bpm": 60}},
        {"kind": "weight", "values": {"weight_kg": 70.0}},
    ],
)
def test_a_different_measurement_gets_a_different_id(change: dict[str, Any]) -> None:
    """Device, time, values and kind each distinguish one measurement from another."""
    assert make(**change).observation_id != make().observation_id


def test_observation_id_ignores_value_order() -> None:
    """Values are hashed with sorted keys, so their order does not change the id."""
    values_a = {"systolic_mmhg": 138.0, "diastolic_mmhg": 88.0}
    values_b = {"diastolic_mmhg": 88.0, "systolic_mmhg": 138.0}
    kind = Kind.BLOOD_PRESSURE
    assert observation_id_for("d", kind, MEASURED, values_a) == observation_id_for(
        "d", kind, MEASURED, values_b
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (wire(schema=2), "schema"),
        (wire(schema=True), "schema"),
        (wire(schema=_DELETE), "schema"),
        (wire(observation_id="not-hex"), "observation_id"),
        (wire(station_id=""), "station_id"),
        (wire(station_id="st 001"), "station_id"),
        (wire(subject_id="张伟"), "subject_id"),
        (wire(subject_id="13800138000"), "subject_id"),
        (wire(device_id=""), "device_id"),
        (wire(device_id="a\nb"), "device_id"),
        (wire(device_kind="BP Meter"), "device_kind"),
        (wire(kind="blood pressure"), "kind"),
        (wire(kind=3), "kind"),
        (wire(source="bluetooth"), "source"),
        (wire(values={}), "values"),
        (wire(values=[1, 2]), "values"),
        (wire(values={"Systolic": 120}), "values.Systolic"),
        (wire(values={"systolic_mmhg": "x" * 65}), "values.systolic_mmhg"),
        (wire(values={"systolic_mmhg": {"v": 1}}), "values.systolic_mmhg"),
        (wire(values={"rr_intervals_s": [0.8, "0.9"]}), "values.rr_intervals_s[1]"),
        (wire(values={"rr_intervals_s": [0.8, True]}), "values.rr_intervals_s[1]"),
        (wire(flags={"status": [1]}), "flags.status"),
        (wire(flags=[]), "flags"),
        (wire(measured_at="yesterday"), "measured_at"),
        (wire(measured_at="2026-11-27T07:31:02"), "measured_at"),
        (wire(measured_at=1795778183), "measured_at"),
        (wire(received_at=_DELETE), "received_at"),
        (wire(colour="red"), "colour"),
    ],
)
def test_invalid_wire_data_names_the_field(data: dict[str, Any], field: str) -> None:
    """Each defect raises ObservationError whose .field names the offending field."""
    with pytest.raises(ObservationError) as caught:
        Observation.from_dict(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_non_finite_numbers_are_rejected() -> None:
    """NaN is not a reading: the value must be null instead."""
    with pytest.raises(ObservationError) as caught:
        make(values={"weight_kg": float("nan")})
    assert caught.value.field == "values.weight_kg"


def test_naive_datetimes_are_rejected() -> None:
    """A timestamp without an offset is ambiguous and refused."""
    with pytest.raises(ObservationError) as caught:
        make(received_at=datetime(2026, 11, 27, 7, 31, 4))
    assert caught.value.field == "received_at"


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2]", b"null"])
def test_bytes_that_are_not_an_object_are_rejected_at_the_root(raw: bytes) -> None:
    """Garbage on the wire is an ObservationError about the root, never a crash."""
    with pytest.raises(ObservationError) as caught:
        Observation.from_json(raw)
    assert caught.value.field == "(root)"


def test_observation_error_is_a_value_error() -> None:
    """Callers that only know builtins still catch validation failures."""
    with pytest.raises(ValueError, match="subject_id"):
        make(subject_id="resident-0001")


def test_null_values_and_label_strings_are_allowed() -> None:
    """A special IEEE value decodes to null and units travel as short labels."""
    observation = make(values={"systolic_mmhg": None, "unit": "mmHg", "irregular": True})
    assert Observation.from_json(observation.to_json()).values == {
        "systolic_mmhg": None,
        "unit": "mmHg",
        "irregular": True,
    }


def test_format_time_drops_zero_microseconds() -> None:
    """Whole seconds print without a fraction; fractions print as microseconds."""
    assert format_time(MEASURED) == "2026-11-27T07:31:02Z"
    assert format_time(RECEIVED) == "2026-11-27T07:31:04.118000Z"


def test_enums_are_strings_on_the_wire() -> None:
    """Kind and Source compare equal to their wire strings."""
    observation = make()
    assert observation.kind is Kind.BLOOD_PRESSURE
    assert observation.source is Source.BLE
    assert observation.as_dict()["kind"] == "blood_pressure"
