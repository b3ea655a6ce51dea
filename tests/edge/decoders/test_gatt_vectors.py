"""Every payload vector in tests/vectors decodes to exactly its expected object."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from edge.decoders import CHARACTERISTICS, decode
from edge.errors import DecodeError

VECTORS = Path(__file__).parents[2] / "vectors"

#: Payloads whose encoding is valid but not the one our encoder writes (reason given).
NON_CANONICAL = {
    # Nordic T1: FLOAT 3760e-2; our encoder writes the shortest mantissa, 376e-1.
    "06b00e00fedc070c050b321b04",
}

#: The vector ids of the shared gatt.md subset; each must appear in a note.
GATT_MD_IDS = (
    "H1 H2 H3 H4 H9 H-neg B1 B-neg1 B-neg2 W1 C1 X1 T1 T-neg G1 G-neg R1 M1 M3 M6 K1 "
    "P1 P2 P3 P4 P5 P6 P7 P8"
).split()


def _load() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(VECTORS.glob("*.json")):
        if path.stem not in CHARACTERISTICS:
            continue
        for vector in json.loads(path.read_text()):
            cases.append((path.stem, vector))
    return cases


CASES = _load()
IDS = [f"{name}:{vector['hex']}" for name, vector in CASES]


def test_every_gatt_md_vector_is_in_the_data() -> None:
    """Each vector id of the shared gatt.md subset appears in one vector note."""
    notes = [
        vector["note"]
        for path in VECTORS.glob("*.json")
        for vector in json.loads(path.read_text())
        if isinstance(vector, dict) and "note" in vector
    ]
    found = {match for note in notes for match in re.findall(r"^([A-Z]\d*(?:-neg\d?)?):", note)}
    assert found >= set(GATT_MD_IDS), sorted(set(GATT_MD_IDS) - found)


def test_vectors_have_the_documented_keys() -> None:
    """Each vector carries hex, expected, source and note."""
    for _, vector in CASES:
        assert set(vector) == {"hex", "expected", "source", "note"}
        assert vector["source"]
        assert vector["note"]


@pytest.mark.parametrize(("name", "vector"), CASES, ids=IDS)
def test_vector_decodes_to_the_whole_expected_object(name: str, vector: dict[str, Any]) -> None:
    """A vector decodes to its whole expected object, or is rejected naming its field."""
    payload = bytes.fromhex(vector["hex"])
    expected = vector["expected"]
    if "error_field" in expected:
        with pytest.raises(DecodeError) as caught:
            decode(name, payload)
        assert caught.value.field == expected["error_field"]
        assert caught.value.payload == payload
        return
    result = decode(name, payload).as_dict()
    assert result == expected
    assert json.loads(json.dumps(result, allow_nan=False)) == expected


@pytest.mark.parametrize(
    ("name", "vector"),
    [(n, v) for n, v in CASES if "error_field" not in v["expected"]],
    ids=[i for i, (_, v) in zip(IDS, CASES, strict=True) if "error_field" not in v["expected"]],
)
def test_vector_round_trips_through_bytes(name: str, vector: dict[str, Any]) -> None:
    """Canonical vectors encode back to the same bytes; others to an equal value."""
    cls = CHARACTERISTICS[name]
    payload = bytes.fromhex(vector["hex"])
    decoded = cls.from_bytes(payload)
    if vector["hex"] in NON_CANONICAL:
        assert bytes(decoded) != payload
    else:
        assert bytes(decoded) == payload
    assert cls.from_bytes(bytes(decoded)) == decoded
