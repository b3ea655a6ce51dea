"""Every combination of optional-field flags decodes, reports presence, and round-trips."""

from __future__ import annotations

import itertools
import struct
from typing import Any

import pytest

from edge.decoders import CHARACTERISTICS
from edge.decoders.ieee11073 import encode_float, encode_sfloat

STAMP = bytes.fromhex("e307021b0b0a1e")  # 2019-02-27 11:10:30


def u16(value: int) -> bytes:
    return struct.pack("<H", value)


def sf(value: float) -> bytes:
    return u16(encode_sfloat(value))


# name: (flag width, mandatory part, [(bit, field bytes, as_dict key present when set)],
#        bits that carry no field: [(bit, as_dict key, value when set, value when clear)])
SWEEPS: dict[
    str, tuple[int, bytes, list[tuple[int, bytes, str]], list[tuple[int, str, Any, Any]]]
] = {
    "blood_pressure_measurement": (
        1,
        sf(120) + sf(80) + sf(93.3),
        [
            (0x02, STAMP, "timestamp"),
            (0x04, sf(72), "pulse_rate_bpm"),
            (0x08, b"\x02", "user_id"),
            (0x10, u16(0x0004), "measurement_status"),
        ],
        [(0x01, "unit", "kPa", "mmHg")],
    ),
    "weight_measurement": (
        1,
        u16(14000),
        [
            (0x02, STAMP, "timestamp"),
            (0x04, b"\x01", "user_id"),
            (0x08, u16(229) + u16(1748), "bmi"),
        ],
        [(0x01, "unit", "lb", "kg")],
    ),
    "body_composition_measurement": (
        2,
        u16(205),
        [
            (0x0002, STAMP, "timestamp"),
            (0x0004, b"\x01", "user_id"),
            (0x0008, u16(6000), "basal_metabolism_kj"),
            (0x0010, u16(400), "muscle_percent"),
            (0x0020, u16(6000), "muscle_mass"),
            (0x0040, u16(11000), "fat_free_mass"),
            (0x0080, u16(10000), "soft_lean_mass"),
            (0x0100, u16(8000), "body_water_mass"),
            (0x0200, u16(5000), "impedance_ohm"),
            (0x0400, u16(14000), "weight"),
            (0x0800, u16(1750), "height"),
        ],
        [(0x0001, "unit", "lb", "kg"), (0x1000, "multiple_packet", True, False)],
    ),
    "plx_spot_check_measurement": (
        1,
        sf(97) + sf(72),
        [
            (0x01, STAMP, "timestamp"),
            (0x02, u16(0x0080), "measurement_status"),
            (0x04, b"\x20\x00\x00", "device_and_sensor_status"),
            (0x08, sf(3.5), "pulse_amplitude_index_percent"),
        ],
        [(0x10, "device_clock_not_set", True, False)],
    ),
    "plx_continuous_measurement": (
        1,
        sf(97) + sf(72),
        [
            (0x01, sf(96) + sf(73), "spo2_fast_percent"),
            (0x02, sf(98) + sf(71), "spo2_slow_percent"),
            (0x04, u16(0x0100), "measurement_status"),
            (0x08, b"\x02\x00\x00", "device_and_sensor_status"),
            (0x10, sf(2.1), "pulse_amplitude_index_percent"),
        ],
        [],
    ),
    "temperature_measurement": (
        1,
        struct.pack("<I", encode_float(36.6)),
        [(0x02, STAMP, "timestamp"), (0x04, b"\x06", "temperature_type")],
        [(0x01, "unit", "F", "C")],
    ),
    "glucose_measurement": (
        1,
        u16(3) + STAMP,
        [
            (0x01, struct.pack("<h", -5), "time_offset_min"),
            (0x02, sf(0.0055) + b"\x11", "concentration"),
            (0x08, u16(0x0001), "sensor_status"),
        ],
        [(0x04, "concentration_unit", "mol/L", "kg/L"), (0x10, "context_follows", True, False)],
    ),
    "glucose_measurement_context": (
        1,
        u16(3),
        [
            (0x01, b"\x01" + sf(0.05), "carbohydrate_id"),
            (0x02, b"\x02", "meal"),
            (0x04, b"\x51", "tester"),
            (0x08, u16(1800) + b"\x32", "exercise_duration_s"),
            (0x10, b"\x01" + sf(0.005), "medication_id"),
            (0x40, sf(6.5), "hba1c_percent"),
        ],
        [(0x20, "medication_unit", "L", "kg")],
    ),
}
# Context field order differs from flag order: extended flags (bit 7) come first.
_WIRE_ORDER = {"glucose_measurement_context": [0x01, 0x02, 0x04, 0x08, 0x10, 0x40]}


def _cases() -> list[tuple[str, int]]:
    cases = []
    for name, (_, _, fields, plain) in SWEEPS.items():
        bits = [bit for bit, _, _ in fields] + [bit for bit, _, _, _ in plain]
        for chosen in itertools.product((0, 1), repeat=len(bits)):
            flags = sum(bit for bit, on in zip(bits, chosen, strict=True) if on)
            if name == "glucose_measurement_context" and flags & 0x30 == 0x20:
                continue  # the medication unit bit without a medication is not canonical
            cases.append((name, flags))
    return cases


@pytest.mark.parametrize(("name", "flags"), _cases(), ids=lambda v: str(v))
def test_flag_combination_decodes_and_round_trips(name: str, flags: int) -> None:
    """Fields flagged present decode to values, absent ones to null, and the bytes round-trip."""
    width, mandatory, fields, plain = SWEEPS[name]
    order = _WIRE_ORDER.get(name)
    if order:
        fields = sorted(fields, key=lambda f: order.index(f[0]))
    payload = flags.to_bytes(width, "little") + mandatory
    for bit, data, _ in fields:
        if flags & bit:
            payload += data
    cls = CHARACTERISTICS[name]
    decoded = cls.from_bytes(payload)
    result = decoded.as_dict()
    for bit, _, key in fields:
        assert (result[key] is not None) == bool(flags & bit), key
    for bit, key, when_set, when_clear in plain:
        if key == "medication_unit" and not flags & 0x10:
            continue
        assert result[key] == (when_set if flags & bit else when_clear), key
    assert bytes(decoded) == payload
    for cut in range(len(payload)):
        with pytest.raises(ValueError, match="field"):
            cls.from_bytes(payload[:cut])


@pytest.mark.parametrize(
    "flags",
    [
        sum(b for b, on in zip((1, 2, 4, 8, 16), c, strict=True) if on)
        for c in itertools.product((0, 1), repeat=5)
    ],
)
def test_heart_rate_flag_combination(flags: int) -> None:
    """Each HR flag combination gives the right format, contact tri-state and fields."""
    heart_rate = 300 if flags & 0x01 else 72
    payload = bytes((flags,)) + (u16(heart_rate) if flags & 0x01 else bytes((heart_rate,)))
    if flags & 0x08:
        payload += u16(120)
    if flags & 0x10:
        payload += u16(800) + u16(1024)
    result = CHARACTERISTICS["heart_rate_measurement"].from_bytes(payload)
    data = result.as_dict()
    assert data["heart_rate_bpm"] == heart_rate
    expected_contact = bool(flags & 0x02) if flags & 0x04 else None
    assert data["sensor_contact"] is expected_contact
    assert data["energy_expended_kj"] == (120 if flags & 0x08 else None)
    assert data["rr_intervals_s"] == ([800 / 1024, 1.0] if flags & 0x10 else [])
    canonical = not (flags & 0x02 and not flags & 0x04)
    assert (bytes(result) == payload) is canonical
