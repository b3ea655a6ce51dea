"""Decoded fields sent as JSON over MQTT: every wrong type is a dead letter, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carepulse.observation import Source
from carepulse.topics import Topics
from edge.ingest import Accepted, Ingest, Rejected
from edge.readings import Reading, Unusable, reading_from
from edge.registry import load_registry

RECEIVED = datetime(2026, 11, 27, 0, 31, 4, tzinfo=UTC)
REGISTRY = """
[station]
id = "st-001"
timezone = "Asia/Shanghai"

[[devices]]
id = "wifi-scale-1"
kind = "scale"
transport = "mqtt"
resident = "R0042"

[[devices]]
id = "wifi-glucose-1"
kind = "glucose_meter"
transport = "mqtt"
resident = "R0042"
"""


@pytest.fixture
def ingest() -> Ingest:
    return Ingest(
        load_registry(REGISTRY), b"a-station-secret-of-32-bytes!!!!", Topics.with_prefix("")
    )


def send(ingest: Ingest, name: str, fields: dict[str, object]) -> Accepted | Rejected:
    device = "wifi-glucose-1" if name == "glucose_measurement" else "wifi-scale-1"
    outcome = ingest.fields(
        device, name, fields, raw=b"{}", received_at=RECEIVED, source=Source.MQTT
    )
    assert isinstance(outcome, Accepted | Rejected), outcome
    return outcome


@pytest.mark.parametrize(
    ("name", "fields", "field", "words"),
    [
        ("weight_measurement", {"weight_kg": "heavy"}, "weight_kg", "must be a number"),
        ("weight_measurement", {"weight_kg": True}, "weight_kg", "must be a number"),
        ("weight_measurement", {"weight_kg": [70.0]}, "weight_kg", "must be a number"),
        ("weight_measurement", {"weight_kg": 70.0, "bmi": {}}, "bmi", "must be a number"),
        ("weight_measurement", {"weight_kg": 70.0, "timestamp": "yesterday"}, "timestamp", "ISO"),
        ("weight_measurement", {"weight_kg": 70.0, "timestamp": 1700000000}, "timestamp", "ISO"),
        (
            "weight_measurement",
            {"weight_kg": 70.0, "timestamp": "2026-11-27T08:00:00+08:00"},
            "timestamp",
            "carries a zone",
        ),
        ("weight_measurement", {"weight_kg": 70.0, "user_id": "me"}, "user_id", "not an integer"),
        (
            "glucose_measurement",
            {"glucose_mmol_l": 5.5, "sequence_number": "x"},
            "sequence_number",
            "not an integer",
        ),
        (
            "heart_rate_measurement",
            {"heart_rate_bpm": 70, "rr_intervals_s": 0.8},
            "rr_intervals_s",
            "list",
        ),
    ],
)
def test_a_field_of_the_wrong_type_is_unusable(
    name: str, fields: dict[str, object], field: str, words: str
) -> None:
    """reading_from names the field and says what it should be."""
    outcome = reading_from(name, fields)
    assert isinstance(outcome, Unusable)
    assert outcome.field == field
    assert words in outcome.reason


def test_labels_stay_text_and_numbers_pass() -> None:
    """A glucose sample type is a label; the concentration is a number."""
    outcome = reading_from(
        "glucose_measurement", {"glucose_mmol_l": 5.5, "type": "capillary_whole_blood"}
    )
    assert isinstance(outcome, Reading)
    assert outcome.values == {"glucose_mmol_l": 5.5, "sample_type": "capillary_whole_blood"}


def test_a_string_weight_is_a_dead_letter(ingest: Ingest) -> None:
    """A Wi-Fi scale sending text for its weight is rejected, not turned into an observation."""
    outcome = send(ingest, "weight_measurement", {"weight_kg": "70"})
    assert isinstance(outcome, Rejected)
    assert outcome.rejection.field == "weight_kg"
    assert ingest.counters["rejected:weight_kg"] == 1


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00", "0001-01-01T07:59:59"])
def test_a_time_before_year_one_in_utc_is_a_dead_letter(ingest: Ingest, stamp: str) -> None:
    """Local midnight of 1 January, year 1, in Shanghai is before year 1 in UTC: rejected."""
    outcome = send(ingest, "weight_measurement", {"weight_kg": 70.0, "timestamp": stamp})
    assert isinstance(outcome, Rejected)
    assert outcome.rejection.field == "timestamp"
    assert "outside the range of dates" in outcome.rejection.reason


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:59:59", "2099-01-01T00:00:00", "1971-01-01T00:00:00"]
)
def test_far_future_and_ancient_times_are_kept_and_flagged(ingest: Ingest, stamp: str) -> None:
    """A wrong device clock keeps the reading, flags it and uses the receipt time on Kafka."""
    outcome = send(ingest, "weight_measurement", {"weight_kg": 70.0, "timestamp": stamp})
    assert isinstance(outcome, Accepted)
    assert outcome.observation.flags["device_clock_suspect"] is True
    assert outcome.message.timestamp_ms == int(RECEIVED.timestamp() * 1000)
