"""decode() finds the decoder by UUID in any common spelling or by name."""

from __future__ import annotations

import pytest

from edge.decoders import CHARACTERISTICS, HeartRateMeasurement, decode, lookup
from edge.errors import DecodeError


@pytest.mark.parametrize(
    "key",
    [
        "2A37",
        "2a37",
        "0x2A37",
        " 0x2a37 ",
        0x2A37,
        "heart_rate_measurement",
        "00002a37-0000-1000-8000-00805f9b34fb",
    ],
)
def test_heart_rate_spellings(key: str | int) -> None:
    """Every spelling of 0x2A37 selects HeartRateMeasurement."""
    assert lookup(key) is HeartRateMeasurement
    assert isinstance(decode(key, bytearray(b"\x00\x48")), HeartRateMeasurement)


@pytest.mark.parametrize("key", ["2A00", 0x181D, "nope", "", "0x", "zzzz"])
def test_unknown_characteristic_is_a_decode_error(key: str | int) -> None:
    """An unknown characteristic raises DecodeError naming 'characteristic'."""
    assert lookup(key) is None
    with pytest.raises(DecodeError) as caught:
        decode(key, b"\x00")
    assert caught.value.field == "characteristic"


def test_design_md_characteristics_are_supported() -> None:
    """Every characteristic DESIGN.md lists for `carepulse decode` has a decoder."""
    listed = {
        "2A37": "heart_rate_measurement",
        "2A35": "blood_pressure_measurement",
        "2A9D": "weight_measurement",
        "2A9C": "body_composition_measurement",
        "2A5E": "plx_spot_check_measurement",
        "2A5F": "plx_continuous_measurement",
        "2A1C": "temperature_measurement",
        "2A18": "glucose_measurement",
        "2A52": "record_access_control_point",
    }
    for uuid, name in listed.items():
        assert lookup(uuid) is CHARACTERISTICS[name]
    assert {"mi_scale", "mi_body_scale"} <= set(CHARACTERISTICS)
