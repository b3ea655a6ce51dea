"""Edge errors carry their data and fit both carepulse's tree and the builtins."""

from __future__ import annotations

from carepulse.errors import CarepulseError
from edge.errors import DecodeError, EdgeError, EncodeError


def test_decode_error_is_an_edge_error_and_a_value_error() -> None:
    """DecodeError is caught as EdgeError, CarepulseError and ValueError."""
    exc = DecodeError("heart_rate_measurement", "rr_intervals", b"\x17\x01\x01", "too short")
    assert isinstance(exc, EdgeError)
    assert isinstance(exc, CarepulseError)
    assert isinstance(exc, ValueError)
    assert (exc.characteristic, exc.field, exc.payload) == (
        "heart_rate_measurement",
        "rr_intervals",
        b"\x17\x01\x01",
    )
    assert "rr_intervals" in str(exc)
    assert "170101" in str(exc)


def test_encode_error_names_the_field() -> None:
    """EncodeError is a ValueError naming the field that does not fit."""
    exc = EncodeError("battery_level", "level", "101 is outside 0..100")
    assert isinstance(exc, ValueError)
    assert exc.field == "level"
    assert "level" in str(exc)
