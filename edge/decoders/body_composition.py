"""Body Composition Measurement 0x2A9C (Body Composition service 0x181B, indicate).

Layout: ``flags u16 | body fat % u16 x0.1 | [timestamp 7] (bit 1) | [user id u8] (bit 2)
| [basal metabolism u16 kJ] (bit 3) | [muscle % u16 x0.1] (bit 4) | [muscle mass u16] (bit 5)
| [fat-free mass u16] (bit 6) | [soft lean mass u16] (bit 7) | [body water mass u16] (bit 8)
| [impedance u16 x0.1 ohm] (bit 9) | [weight u16] (bit 10) | [height u16] (bit 11)``.
Bit 0 picks SI (masses x0.005 kg, height x0.001 m) or imperial (x0.01 lb, x0.1 in). Body
fat 0xFFFF is "measurement unsuccessful" (``None``). Bit 12 marks a *multiple-packet*
measurement: a scale whose record does not fit one indication sends it in two, each with
its own flags and body fat field; :func:`merge_body_composition` joins them.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import ClassVar, Final, final

from edge.decoders.base import JsonDict, check_range, fast_constructor, invalid, truncated
from edge.decoders.date_time import DateTime, iso_or_none
from edge.decoders.units import KG_PER_LB, M_PER_IN, WeightUnit
from edge.errors import DecodeError, EncodeError

_U16: Final = struct.Struct("<H")
UNKNOWN_USER: Final = 0xFF
UNSUCCESSFUL: Final = 0xFFFF
_LB: Final = WeightUnit.LB


class BodyCompositionFlags(enum.IntFlag):
    """Flags word of the Body Composition Measurement."""

    IMPERIAL = 0x0001
    TIMESTAMP_PRESENT = 0x0002
    USER_ID_PRESENT = 0x0004
    BASAL_METABOLISM_PRESENT = 0x0008
    MUSCLE_PERCENTAGE_PRESENT = 0x0010
    MUSCLE_MASS_PRESENT = 0x0020
    FAT_FREE_MASS_PRESENT = 0x0040
    SOFT_LEAN_MASS_PRESENT = 0x0080
    BODY_WATER_MASS_PRESENT = 0x0100
    IMPEDANCE_PRESENT = 0x0200
    WEIGHT_PRESENT = 0x0400
    HEIGHT_PRESENT = 0x0800
    MULTIPLE_PACKET_MEASUREMENT = 0x1000


# The optional u16 fields in wire order: (flag bit, field name, kind).
# kind (for encoding): "int" raw, "tenth" x10, "mass"/"length" by unit system.
_OPTIONAL: Final = (
    (0x0008, "basal_metabolism", "int"),
    (0x0010, "muscle_percentage", "tenth"),
    (0x0020, "muscle_mass", "mass"),
    (0x0040, "fat_free_mass", "mass"),
    (0x0080, "soft_lean_mass", "mass"),
    (0x0100, "body_water_mass", "mass"),
    (0x0200, "impedance", "tenth"),
    (0x0400, "weight", "mass"),
    (0x0800, "height", "length"),
)


def _mass(raw: int | None, imperial: bool) -> float | None:
    if raw is None:
        return None
    return raw / 100 if imperial else raw / 200


def _unscale(value: float, kind: str, imperial: bool) -> int:
    if kind == "int":
        return int(value)
    if kind == "tenth":
        return round(value * 10)
    if kind == "mass":
        return round(value * (100 if imperial else 200))
    return round(value * (10 if imperial else 1000))


def _to_kg(value: float | None, imperial: bool) -> float | None:
    return value * KG_PER_LB if imperial and value is not None else value


@final
@dataclass(frozen=True, slots=True)
class BodyCompositionMeasurement:
    """One body-composition reading (or one packet of a multiple-packet one).

    Masses and height are in the unit system as sent (``unit``), ``impedance`` in ohm,
    ``basal_metabolism`` in kJ, percentages in %.
    """

    NAME: ClassVar[str] = "body_composition_measurement"
    UUID: ClassVar[int] = 0x2A9C
    Flags: ClassVar[type[BodyCompositionFlags]] = BodyCompositionFlags

    body_fat_percentage: float | None
    unit: WeightUnit = WeightUnit.KG
    timestamp: DateTime | None = None
    user_id: int | None = None
    basal_metabolism: int | None = None
    muscle_percentage: float | None = None
    muscle_mass: float | None = None
    fat_free_mass: float | None = None
    soft_lean_mass: float | None = None
    body_water_mass: float | None = None
    impedance: float | None = None
    weight: float | None = None
    height: float | None = None
    multiple_packet: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> BodyCompositionMeasurement:
        """Decode one indication; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 4:
            truncated(cls.NAME, "flags" if size < 2 else "body_fat_percentage", data, 4)
        flags = data[0] | data[1] << 8
        fat_raw = data[2] | data[3] << 8
        imperial = bool(flags & 0x0001)
        offset = 4
        timestamp = None
        if flags & 0x0002:
            if size < 11:
                truncated(cls.NAME, "timestamp", data, 11, " (flags bit 1)")
            timestamp = DateTime.unpack_from(data, 4)
            offset = 11
        user = None
        if flags & 0x0004:
            if size < offset + 1:
                truncated(cls.NAME, "user_id", data, offset + 1, " (flags bit 2)")
            user = data[offset]
            offset += 1
        values: list[int | None] = []
        for bit, name, _ in _OPTIONAL:
            if flags & bit:
                if size < offset + 2:
                    why = f" (flags bit {bit.bit_length() - 1})"
                    truncated(cls.NAME, name, data, offset + 2, why)
                values.append(data[offset] | data[offset + 1] << 8)
                offset += 2
            else:
                values.append(None)
        basal, muscle_pct, muscle, fat_free, soft_lean, water, impedance, weight, height = values
        return _new_BodyCompositionMeasurement(
            None if fat_raw == UNSUCCESSFUL else fat_raw / 10,
            _LB if imperial else WeightUnit.KG,
            timestamp,
            user,
            basal,
            None if muscle_pct is None else muscle_pct / 10,
            _mass(muscle, imperial),
            _mass(fat_free, imperial),
            _mass(soft_lean, imperial),
            _mass(water, imperial),
            None if impedance is None else impedance / 10,
            _mass(weight, imperial),
            None if height is None else (height / 10 if imperial else height / 1000),
            bool(flags & 0x1000),
        )

    def __bytes__(self) -> bytes:
        name = self.NAME
        if self.unit not in (WeightUnit.KG, WeightUnit.LB):
            reason = f"unit {self.unit!r} has no Body Composition encoding (kg or lb)"
            raise EncodeError(name, "unit", reason)
        imperial = self.unit == _LB
        flags = 0x0001 if imperial else 0
        if self.multiple_packet:
            flags |= 0x1000
        fat = (
            UNSUCCESSFUL
            if self.body_fat_percentage is None
            else round(self.body_fat_percentage * 10)
        )
        out = bytearray(_U16.pack(check_range(name, "body_fat_percentage", fat, 0, 0xFFFF)))
        if self.timestamp is not None:
            flags |= 0x0002
            out += bytes(self.timestamp)
        if self.user_id is not None:
            flags |= 0x0004
            out.append(check_range(name, "user_id", self.user_id, 0, 0xFF))
        for bit, field, kind in _OPTIONAL:
            value = getattr(self, field)
            if value is not None:
                flags |= bit
                raw = _unscale(value, kind, imperial)
                out += _U16.pack(check_range(name, field, raw, 0, 0xFFFF))
        return _U16.pack(flags) + bytes(out)

    def as_dict(self) -> JsonDict:
        """Composition as sent plus ``_kg``/``_m`` conversions (names per DESIGN.md)."""
        imperial = self.unit == _LB
        user = self.user_id
        return {
            "unit": self.unit,
            "body_fat_percent": self.body_fat_percentage,
            "timestamp": iso_or_none(self.timestamp),
            "user_id": None if user == UNKNOWN_USER else user,
            "basal_metabolism_kj": self.basal_metabolism,
            "muscle_percent": self.muscle_percentage,
            "muscle_mass": self.muscle_mass,
            "muscle_mass_kg": _to_kg(self.muscle_mass, imperial),
            "fat_free_mass": self.fat_free_mass,
            "fat_free_mass_kg": _to_kg(self.fat_free_mass, imperial),
            "soft_lean_mass": self.soft_lean_mass,
            "soft_lean_mass_kg": _to_kg(self.soft_lean_mass, imperial),
            "body_water_mass": self.body_water_mass,
            "body_water_mass_kg": _to_kg(self.body_water_mass, imperial),
            "impedance_ohm": self.impedance,
            "weight": self.weight,
            "weight_kg": _to_kg(self.weight, imperial),
            "height": self.height,
            "height_m": (
                self.height * M_PER_IN if imperial and self.height is not None else self.height
            ),
            "multiple_packet": self.multiple_packet,
        }


_new_BodyCompositionMeasurement = fast_constructor(BodyCompositionMeasurement)

_MERGED_FIELDS: Final = tuple(
    f.name for f in fields(BodyCompositionMeasurement) if f.name not in ("unit", "multiple_packet")
)


def merge_body_composition(
    parts: Sequence[BodyCompositionMeasurement],
) -> BodyCompositionMeasurement:
    """Join the packets of one multiple-packet measurement into one reading.

    Each field comes from the packet that carries it. The packets must use the same unit
    system and must not disagree on a field they both carry (the body fat field is in
    every packet; an "unsuccessful" 0xFFFF there does not count as a value). A bad set
    raises ``DecodeError`` naming the field. The result has ``multiple_packet`` false.
    """
    name = BodyCompositionMeasurement.NAME
    payload = b"".join(bytes(part) for part in parts)
    if not parts:
        invalid(name, "multiple_packet", payload, "no packets to merge")
    unit = parts[0].unit
    merged: dict[str, object] = {}
    for part in parts:
        if part.unit != unit:
            invalid(name, "flags", payload, "the packets use different unit systems (flags bit 0)")
        for field in _MERGED_FIELDS:
            value = getattr(part, field)
            if value is None:
                continue
            known = merged.get(field)
            if known is not None and known != value:
                reason = f"the packets disagree ({known!r} vs {value!r})"
                raise DecodeError(name, field, payload, reason)
            merged[field] = value
    return BodyCompositionMeasurement(
        body_fat_percentage=_float_or_none(merged.get("body_fat_percentage")),
        unit=unit,
        timestamp=_stamp_or_none(merged.get("timestamp")),
        user_id=_int_or_none(merged.get("user_id")),
        basal_metabolism=_int_or_none(merged.get("basal_metabolism")),
        muscle_percentage=_float_or_none(merged.get("muscle_percentage")),
        muscle_mass=_float_or_none(merged.get("muscle_mass")),
        fat_free_mass=_float_or_none(merged.get("fat_free_mass")),
        soft_lean_mass=_float_or_none(merged.get("soft_lean_mass")),
        body_water_mass=_float_or_none(merged.get("body_water_mass")),
        impedance=_float_or_none(merged.get("impedance")),
        weight=_float_or_none(merged.get("weight")),
        height=_float_or_none(merged.get("height")),
    )


def _float_or_none(value: object) -> float | None:
    return value if isinstance(value, float) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _stamp_or_none(value: object) -> DateTime | None:
    return value if isinstance(value, DateTime) else None
