"""The personal-data scanner finds what it must (it runs on the real pipeline's output
in test_security_pipeline.py; here it is fed leaks on purpose)."""

from __future__ import annotations

import json

import pytest

from carepulse.pseudonym import pseudonymise
from tests.e2e.privacy import INFLUX_SUBJECTS, PersonalData, find_leaks

PEOPLE = "subject_id,station_id,name,phone,conditions,consent\n" + (
    f"{'ab' * 16},st-1,王建国,13800000001,diabetes,given\n"
)
PERSONAL = PersonalData.from_import_file(PEOPLE, ["R0401"])
SUBJECT = pseudonymise("R0401", b"a station secret of 16+ bytes")


def clean_observation() -> dict[str, object]:
    return {
        "subject_id": SUBJECT,
        "station_id": "st-1",
        "device_id": "wifi-scale-001",
        "values": {"weight_kg": 70.2},
        "received_at": "2026-11-27T07:00:00.138000Z",
    }


def test_a_clean_observation_has_no_leak() -> None:
    """A pseudonymous observation passes (digits of times and weights are not phones)."""
    assert find_leaks("here", json.dumps(clean_observation()).encode(), PERSONAL) == []


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"note": "王建国"}, "name"),
        ({"device_id": "wifi-scale-r0401"}, "resident id"),
        ({"device_id": "R0401"}, "resident id"),
        ({"contact": "+86 13800000001"}, "phone"),
        ({"subject_id": "R0401"}, "subject not a pseudonym"),
        ({"subject_id": "resident-7"}, "subject not a pseudonym"),
        ({"raw_hex": "王建国".encode().hex()}, "name"),
        ({"raw_hex": b'{"phone": "13800000001"}'.hex()}, "phone"),
    ],
)
def test_a_leaked_datum_is_found(change: dict[str, str], what: str) -> None:
    """A name (also JSON-escaped or hex-encoded), phone, raw id or bare subject is reported."""
    message = json.dumps({**clean_observation(), **change}).encode()  # ensure_ascii escapes
    leaks = find_leaks("kafka readings[0]@7", message, PERSONAL)
    assert what in {leak.what for leak in leaks}
    assert {leak.where for leak in leaks} == {"kafka readings[0]@7"}


def test_influx_subject_tags_must_be_pseudonyms() -> None:
    """In InfluxDB the resident tag is ``subject``; a raw id there is a leak."""
    row = json.dumps({"_measurement": "reading", "subject": "resident-7"})
    assert [leak.what for leak in find_leaks("influx", row, PERSONAL, INFLUX_SUBJECTS)] == [
        "subject not a pseudonym"
    ]
    assert find_leaks("influx", json.dumps({"subject": SUBJECT}), PERSONAL, INFLUX_SUBJECTS) == []


def test_longer_numbers_and_ids_are_not_mistaken_for_secrets() -> None:
    """A phone inside a longer number, or an id inside a longer id, is not that secret."""
    text = json.dumps({"n": 138000000012, "device_id": "XR04010", "subject_id": SUBJECT})
    assert find_leaks("here", text, PERSONAL) == []
