"""IEEE-11073 SFLOAT/FLOAT: two's-complement fields, special values are None."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.decoders.ieee11073 import (
    FLOAT_NAN,
    FLOAT_NEGATIVE_INFINITY,
    FLOAT_NRES,
    FLOAT_POSITIVE_INFINITY,
    FLOAT_RESERVED,
    SFLOAT_NAN,
    SFLOAT_NEGATIVE_INFINITY,
    SFLOAT_POSITIVE_INFINITY,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
)
from edge.errors import EncodeError

SFLOAT_VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "sfloat.json").read_text())


@pytest.mark.parametrize("vector", SFLOAT_VECTORS, ids=[v["note"] for v in SFLOAT_VECTORS])
def test_sfloat_vector(vector: dict[str, Any]) -> None:
    """The JavaBLEUtil SFLOAT vectors decode as documented (specials to None)."""
    raw = int.from_bytes(bytes.fromhex(vector["hex"]), "little")
    assert decode_sfloat(raw) == vector["expected"]["value"]


@pytest.mark.parametrize(
    "raw", [FLOAT_NAN, FLOAT_NRES, FLOAT_POSITIVE_INFINITY, FLOAT_NEGATIVE_INFINITY, FLOAT_RESERVED]
)
def test_float_special_values_are_none(raw: int) -> None:
    """The five special FLOAT words decode to None, never to a number."""
    assert decode_float(raw) is None


def test_float_uses_twos_complement_exponent() -> None:
    """Nordic's 0xFE000EB0 is 3760e-2 = 37.6 (a biased exponent would give 3760e126)."""
    assert decode_float(0xFE000EB0) == 37.6
    assert decode_float(0x00FFFFFF) == -1.0
    assert decode_sfloat(0x0FFF) == -1.0
    assert decode_sfloat(0xF078) == 12.0


def test_encoding_is_canonical() -> None:
    """Integral values use exponent 0; others the shortest exact mantissa."""
    assert encode_sfloat(120) == 0x0078
    assert encode_sfloat(37.6) == 0xF178
    assert encode_sfloat(0.001) == 0xD001
    assert encode_sfloat(513e7) == 0x7201
    assert encode_float(37.6) == 0xFF000178


def test_missing_and_infinite_values_encode_as_special_words() -> None:
    """None and NaN encode as NaN; infinities as +INF and -INF."""
    assert encode_sfloat(None) == SFLOAT_NAN
    assert encode_sfloat(math.nan) == SFLOAT_NAN
    assert encode_sfloat(math.inf) == SFLOAT_POSITIVE_INFINITY
    assert encode_sfloat(-math.inf) == SFLOAT_NEGATIVE_INFINITY
    assert encode_float(None) == FLOAT_NAN


def test_too_large_value_raises_encode_error() -> None:
    """A value beyond 2047e7 cannot be an SFLOAT."""
    with pytest.raises(EncodeError):
        encode_sfloat(1e12)


def test_every_sfloat_word_round_trips_by_value() -> None:
    """Every non-special SFLOAT word decodes to a value that encodes back to that value."""
    for raw in range(0x10000):
        value = decode_sfloat(raw)
        if value is not None:
            assert decode_sfloat(encode_sfloat(value)) == value, hex(raw)


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_float_words_round_trip_by_value(raw: int) -> None:
    """A FLOAT word's value encodes back to the same value."""
    value = decode_float(raw)
    if value is not None:
        assert decode_float(encode_float(value)) == value


@given(st.floats(min_value=-2000, max_value=2000, allow_nan=False))
def test_encoded_sfloat_is_close_to_the_value(value: float) -> None:
    """Encoding rounds to the finest exponent that fits (12 bits: about 3.3 digits)."""
    decoded = decode_sfloat(encode_sfloat(value))
    assert decoded is not None
    assert math.isclose(decoded, value, rel_tol=2.5e-3, abs_tol=1e-8)
