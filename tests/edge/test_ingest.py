"""One payload in, one decision out: accepted, rejected, held, ignored or unknown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from carepulse.observation import Kind, Observation, Source
from carepulse.pseudonym import is_pseudonym, pseudonymise
from carepulse.topics import Topics
from edge.decoders import (
    BloodPressureMeasurement,
    DateTime,
    HeartRateMeasurement,
    MiScale,
    WeightMeasurement,
)
from edge.ingest import Accepted, HeldReading, Ignored, Ingest, Rejected, Unknown
from edge.registry import load_registry

SECRET = b"a-station-secret-of-32-bytes!!!!"
RECEIVED = datetime(2026, 11, 27, 0, 31, 4, tzinfo=UTC)  # 08:31:04 in Shanghai
REGISTRY = """
[station]
id = "st-001"
timezone = "Asia/Shanghai"

[[devices]]
id = "AA:00:00:00:00:01"
kind = "hr_band"
transport = "ble"
resident = "R0042"

[[devices]]
id = "AA:00:00:00:00:02"
kind = "bp_meter"
transport = "ble"
resident = "R0042"

[[devices]]
id = "AA:00:00:00:00:03"
kind = "scale"
transport = "advert"
weight_bands = [
    { resident = "R0042", min_kg = 55.0, max_kg = 65.0 },
    { resident = "R0043", min_kg = 75.0, max_kg = 90.0 },
]
"""


@pytest.fixture
def ingest() -> Ingest:
    return Ingest(load_registry(REGISTRY), SECRET, Topics.with_prefix(""))


def accepted(outcome: object) -> Observation:
    assert isinstance(outcome, Accepted), outcome
    return outcome.observation


def test_heart_rate_notification_becomes_an_observation(ingest: Ingest) -> None:
    """A band's notification gives a pseudonymous heart-rate observation with RR intervals."""
    payload = bytes(HeartRateMeasurement(72, sensor_contact=True, rr_intervals=(0.8, 0.84)))
    outcome = ingest.payload(
        "aa:00:00:00:00:01",
        "heart_rate_measurement",
        payload,
        received_at=RECEIVED,
        source=Source.BLE,
    )
    observation = accepted(outcome)
    assert observation.kind is Kind.HEART_RATE
    assert observation.values == {
        "heart_rate_bpm": 72,
        "rr_intervals_s": (0.7998046875, 0.83984375),
    }
    assert observation.subject_id == pseudonymise("R0042", SECRET)
    assert observation.device_id == "AA:00:00:00:00:01"
    assert observation.measured_at == RECEIVED
    assert observation.flags == {"sensor_contact": True}
    assert isinstance(outcome, Accepted)
    assert outcome.message.topic == "readings"
    assert outcome.message.key == observation.subject_id.encode()
    assert outcome.message.dedup_id == observation.observation_id


def test_device_time_is_read_in_the_station_zone(ingest: Ingest) -> None:
    """A BP meter's clock (no offset) is local time at the station."""
    payload = bytes(
        BloodPressureMeasurement(
            138.0, 88.0, 105.0, timestamp=DateTime(2026, 11, 27, 8, 30, 0), pulse_rate=61.0
        )
    )
    observation = accepted(
        ingest.payload(
            "AA:00:00:00:00:02",
            "blood_pressure_measurement",
            payload,
            received_at=RECEIVED,
            source=Source.BLE,
        )
    )
    assert observation.measured_at == datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    assert observation.values["systolic_mmhg"] == 138.0
    assert "device_clock_suspect" not in observation.flags


def test_a_wrong_device_clock_is_flagged_and_the_record_time_is_receipt(ingest: Ingest) -> None:
    """A meter whose clock says 2000 keeps its time, is flagged, and Kafka gets receipt time."""
    payload = bytes(
        BloodPressureMeasurement(120.0, 80.0, 93.0, timestamp=DateTime(2000, 1, 1, 0, 0, 5))
    )
    outcome = ingest.payload(
        "AA:00:00:00:00:02",
        "blood_pressure_measurement",
        payload,
        received_at=RECEIVED,
        source=Source.BLE,
    )
    observation = accepted(outcome)
    assert observation.flags["device_clock_suspect"] is True
    assert observation.measured_at == datetime(1999, 12, 31, 16, 0, 5, tzinfo=UTC)
    assert isinstance(outcome, Accepted)
    assert outcome.message.timestamp_ms == int(RECEIVED.timestamp() * 1000)


def test_resent_record_gets_the_same_observation_id(ingest: Ingest) -> None:
    """A stored record pulled twice is the same observation (deduplicated downstream)."""
    payload = bytes(
        BloodPressureMeasurement(130.0, 85.0, 100.0, timestamp=DateTime(2026, 11, 26, 7, 0, 0))
    )
    first, again = (
        accepted(
            ingest.payload(
                "AA:00:00:00:00:02",
                "blood_pressure_measurement",
                payload,
                received_at=RECEIVED + timedelta(minutes=n),
                source=Source.BLE,
            )
        )
        for n in (0, 10)
    )
    assert first.observation_id == again.observation_id


def test_malformed_payload_is_dead_lettered_with_its_field(ingest: Ingest) -> None:
    """Bytes that do not decode go to readings.rejected with the raw hex and the field."""
    outcome = ingest.payload(
        "AA:00:00:00:00:01",
        "heart_rate_measurement",
        bytes.fromhex("170101"),
        received_at=RECEIVED,
        source=Source.BLE,
    )
    assert isinstance(outcome, Rejected)
    assert outcome.message.topic == "readings.rejected"
    letter = json.loads(outcome.message.value)
    assert letter["raw_hex"] == "170101"
    assert letter["field"] == "rr_intervals"
    assert letter["device_id"] == "AA:00:00:00:00:01"
    assert letter["characteristic"] == "heart_rate_measurement"
    assert ingest.counters["rejected"] == 1
    assert ingest.counters["rejected:rr_intervals"] == 1


def test_frame_without_usable_value_is_dead_lettered(ingest: Ingest) -> None:
    """A BP frame whose values are all 'not a number' is rejected, not stored as zeros."""
    payload = bytes(BloodPressureMeasurement(None, None, None))
    outcome = ingest.payload(
        "AA:00:00:00:00:02",
        "blood_pressure_measurement",
        payload,
        received_at=RECEIVED,
        source=Source.BLE,
    )
    assert isinstance(outcome, Rejected)
    assert "no valid systolic" in outcome.rejection.reason


def test_unknown_device_is_counted_and_ignored(ingest: Ingest) -> None:
    """A neighbour's band is not a resident's device."""
    outcome = ingest.payload(
        "99:99:99:99:99:99",
        "heart_rate_measurement",
        bytes(HeartRateMeasurement(70)),
        received_at=RECEIVED,
        source=Source.BLE,
    )
    assert outcome == Unknown("99:99:99:99:99:99")
    assert ingest.counters["unknown"] == 1


def scale_advert(weight_kg: float, *, stabilized: bool = True) -> bytes:
    control = 0x20 if stabilized else 0x00
    return bytes(MiScale(control, weight_kg, DateTime(2026, 11, 27, 8, 15, 0)))


def test_shared_scale_weight_goes_to_the_only_fitting_resident(ingest: Ingest) -> None:
    """A settled Mi scale weight inside one resident's band is that resident's."""
    observation = accepted(
        ingest.payload(
            "AA:00:00:00:00:03",
            "mi_scale",
            scale_advert(80.2),
            received_at=RECEIVED,
            source=Source.BLE,
        )
    )
    assert observation.subject_id == pseudonymise("R0043", SECRET)
    assert observation.values == {"weight_kg": 80.2}


def test_shared_scale_weight_fitting_nobody_is_held(ingest: Ingest) -> None:
    """A weight no band holds waits for a person; it is not guessed."""
    outcome = ingest.payload(
        "AA:00:00:00:00:03",
        "mi_scale",
        scale_advert(70.0),
        received_at=RECEIVED,
        source=Source.BLE,
    )
    assert isinstance(outcome, HeldReading)
    assert "fits no registered resident" in outcome.reason
    assert outcome.reading.values == {"weight_kg": 70.0}


def test_scale_still_settling_is_ignored(ingest: Ingest) -> None:
    """Adverts sent while the weight settles carry nothing to store."""
    outcome = ingest.payload(
        "AA:00:00:00:00:03",
        "mi_scale",
        scale_advert(80.0, stabilized=False),
        received_at=RECEIVED,
        source=Source.BLE,
    )
    assert outcome == Ignored("scale reading not stabilized")


def test_band_without_skin_contact_is_ignored(ingest: Ingest) -> None:
    """A band lying on the table sends no heart rate worth keeping."""
    outcome = ingest.payload(
        "AA:00:00:00:00:01",
        "heart_rate_measurement",
        bytes(HeartRateMeasurement(0, sensor_contact=False)),
        received_at=RECEIVED,
        source=Source.BLE,
    )
    assert isinstance(outcome, Ignored)


def test_value_the_contract_refuses_is_dead_lettered(ingest: Ingest) -> None:
    """An observation that would break the wire contract is rejected naming the field."""
    outcome = ingest.fields(
        "AA:00:00:00:00:03",
        "weight_measurement",
        {"weight_kg": 60.0, "user_id": None, "timestamp": None, "bmi": float("inf")},
        raw=bytes(WeightMeasurement(60.0)),
        received_at=RECEIVED,
        source=Source.MQTT,
    )
    assert isinstance(outcome, Rejected)
    assert outcome.rejection.field == "values.bmi"


def test_no_raw_resident_id_reaches_the_outbox(ingest: Ingest) -> None:
    """Only the pseudonym travels: the station's resident id is in no message."""
    outcome = ingest.payload(
        "AA:00:00:00:00:01",
        "heart_rate_measurement",
        bytes(HeartRateMeasurement(66)),
        received_at=RECEIVED,
        source=Source.BLE,
    )
    assert isinstance(outcome, Accepted)
    assert b"R0042" not in outcome.message.value
    assert b"R0042" not in (outcome.message.key or b"")
    assert is_pseudonym(outcome.observation.subject_id)


def test_unit_override_rereads_a_scale_that_lies_about_its_unit() -> None:
    """A scale flagged kg that really sends jin is read in jin when the registry says so."""
    registry = load_registry(
        '[station]\nid = "st-001"\n[[devices]]\nid = "s1"\nkind = "scale"\n'
        'transport = "mqtt"\nresident = "R1"\nunits = { weight = "jin" }\n'
    )
    ingest = Ingest(registry, SECRET, Topics.with_prefix(""))
    outcome = ingest.payload(
        "s1",
        "weight_measurement",
        bytes(WeightMeasurement(130.0)),
        received_at=RECEIVED,
        source=Source.MQTT,
    )
    assert accepted(outcome).values == {"weight_kg": 65.0}
