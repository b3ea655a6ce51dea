"""Weight Measurement 0x2A9D and Weight Scale Feature 0x2A9E (Weight Scale service 0x181D).

Weight Measurement: ``flags u8 | weight u16 | [timestamp, Date Time 7] (bit 1)
| [user id u8] (bit 2) | [BMI u16 x0.1 kg/m2, height u16] (bit 3)``. Flags bit 0 picks the
unit system: SI = weight x0.005 kg and height x0.001 m; imperial = weight x0.01 lb and
height x0.1 in. Weight 0xFFFF is "measurement unsuccessful" (``None``); user id 0xFF is
"unknown user".

Weight Scale Feature: ``u32``: bit 0 time stamp supported, bit 1 multiple users, bit 2
BMI supported, bits 3-6 weight resolution, bits 7-9 height resolution. The resolution
is the scale's *precision*; it does not change the unit of the weight field, which the
characteristic definition fixes at 0.005 kg / 0.01 lb (GATT Specification Supplement;
openScale and bluetooth-sig agree; SpeziBluetooth instead multiplies the raw value by
the resolution). ``WeightMeasurement.from_bytes(data, feature)`` attaches the feature so
``as_dict()`` can report the precision as ``weight_resolution_kg`` and ``height_resolution_m``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import ClassVar, Final, Self, final

from edge.decoders.base import JsonDict, check_range, fast_constructor, truncated
from edge.decoders.date_time import DateTime, iso_or_none
from edge.decoders.units import KG_PER_LB, M_PER_IN, WeightUnit
from edge.errors import EncodeError

_U16: Final = struct.Struct("<H")
_U32: Final = struct.Struct("<I")
_BMI_HEIGHT: Final = struct.Struct("<HH")
UNKNOWN_USER: Final = 0xFF
UNSUCCESSFUL: Final = 0xFFFF
_LB: Final = WeightUnit.LB

#: Weight resolution code -> (kg, lb); code 0 = not specified.
WEIGHT_RESOLUTIONS: Final = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
#: Height resolution code -> (m, in); code 0 = not specified.
HEIGHT_RESOLUTIONS: Final = {1: (0.01, 1.0), 2: (0.005, 0.5), 3: (0.001, 0.1)}


def _mass(raw: int, imperial: bool) -> float:
    return raw / 100 if imperial else raw / 200


def _mass_raw(value: float, imperial: bool) -> int:
    return round(value * 100) if imperial else round(value * 200)


def _length(raw: int, imperial: bool) -> float:
    return raw / 10 if imperial else raw / 1000


def _length_raw(value: float, imperial: bool) -> int:
    return round(value * 10) if imperial else round(value * 1000)


@final
@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """What a weight scale supports, read once per connection."""

    NAME: ClassVar[str] = "weight_scale_feature"
    UUID: ClassVar[int] = 0x2A9E

    time_stamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    weight_resolution: int = 0
    height_resolution: int = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> WeightScaleFeature:
        """Decode the 4-byte feature value."""
        if len(data) < 4:
            truncated(cls.NAME, "flags", data, 4)
        (raw,) = _U32.unpack_from(data)
        return _new_WeightScaleFeature(
            bool(raw & 0x01), bool(raw & 0x02), bool(raw & 0x04), raw >> 3 & 0x0F, raw >> 7 & 0x07
        )

    def __bytes__(self) -> bytes:
        check_range(self.NAME, "weight_resolution", self.weight_resolution, 0, 0x0F)
        check_range(self.NAME, "height_resolution", self.height_resolution, 0, 0x07)
        return _U32.pack(
            self.time_stamp_supported
            | self.multiple_users_supported << 1
            | self.bmi_supported << 2
            | self.weight_resolution << 3
            | self.height_resolution << 7
        )

    def weight_step(self, unit: WeightUnit) -> float | None:
        """The scale's weight precision in ``unit`` (``None``: not specified)."""
        pair = WEIGHT_RESOLUTIONS.get(self.weight_resolution)
        return None if pair is None else pair[1 if unit == _LB else 0]

    def height_step(self, unit: WeightUnit) -> float | None:
        """The height precision in m (SI) or in (imperial); ``None``: not specified."""
        pair = HEIGHT_RESOLUTIONS.get(self.height_resolution)
        return None if pair is None else pair[1 if unit == _LB else 0]

    def as_dict(self) -> JsonDict:
        """Supported features and resolutions in both unit systems."""
        weight = WEIGHT_RESOLUTIONS.get(self.weight_resolution, (None, None))
        height = HEIGHT_RESOLUTIONS.get(self.height_resolution, (None, None))
        return {
            "time_stamp_supported": self.time_stamp_supported,
            "multiple_users_supported": self.multiple_users_supported,
            "bmi_supported": self.bmi_supported,
            "weight_resolution_kg": weight[0],
            "weight_resolution_lb": weight[1],
            "height_resolution_m": height[0],
            "height_resolution_in": height[1],
        }


_new_WeightScaleFeature = fast_constructor(WeightScaleFeature)


@final
@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """One weight reading; ``weight``/``height`` in the unit system as sent."""

    NAME: ClassVar[str] = "weight_measurement"
    UUID: ClassVar[int] = 0x2A9D

    weight: float | None
    unit: WeightUnit = WeightUnit.KG
    timestamp: DateTime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None
    #: The scale's Weight Scale Feature, if read; only ``as_dict()`` uses it.
    feature: WeightScaleFeature | None = None

    @classmethod
    def from_bytes(
        cls, data: bytes, feature: WeightScaleFeature | None = None
    ) -> WeightMeasurement:
        """Decode one indication; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 3:
            truncated(cls.NAME, "flags" if size == 0 else "weight", data, 3)
        flags = data[0]
        imperial = bool(flags & 0x01)
        raw = data[1] | data[2] << 8
        offset = 3
        timestamp = None
        if flags & 0x02:
            if size < 10:
                truncated(cls.NAME, "timestamp", data, 10, " (flags bit 1)")
            timestamp = DateTime.unpack_from(data, 3)
            offset = 10
        user = None
        if flags & 0x04:
            if size < offset + 1:
                truncated(cls.NAME, "user_id", data, offset + 1, " (flags bit 2)")
            user = data[offset]
            offset += 1
        bmi = height = None
        if flags & 0x08:
            if size < offset + 4:
                field = "bmi" if size < offset + 2 else "height"
                truncated(cls.NAME, field, data, offset + 4, " (flags bit 3)")
            bmi_raw, height_raw = _BMI_HEIGHT.unpack_from(data, offset)
            bmi = bmi_raw / 10
            height = _length(height_raw, imperial)
        return _new_WeightMeasurement(
            None if raw == UNSUCCESSFUL else _mass(raw, imperial),
            _LB if imperial else WeightUnit.KG,
            timestamp,
            user,
            bmi,
            height,
            feature,
        )

    def with_feature(self, feature: WeightScaleFeature | None) -> Self:
        """The same reading with the scale's feature attached."""
        return replace(self, feature=feature)

    def __bytes__(self) -> bytes:
        name = self.NAME
        imperial = self.unit == _LB
        if self.unit not in (WeightUnit.KG, WeightUnit.LB):
            reason = f"unit {self.unit!r} has no Weight Measurement encoding (kg or lb)"
            raise EncodeError(name, "unit", reason)
        flags = 0x01 if imperial else 0
        weight = UNSUCCESSFUL if self.weight is None else _mass_raw(self.weight, imperial)
        out = bytearray(_U16.pack(check_range(name, "weight", weight, 0, 0xFFFF)))
        if self.timestamp is not None:
            flags |= 0x02
            out += bytes(self.timestamp)
        if self.user_id is not None:
            flags |= 0x04
            out.append(check_range(name, "user_id", self.user_id, 0, 0xFF))
        if self.bmi is not None or self.height is not None:
            if self.bmi is None or self.height is None:
                reason = "BMI and height are sent together; set both or neither"
                raise EncodeError(name, "bmi", reason)
            flags |= 0x08
            out += _BMI_HEIGHT.pack(
                check_range(name, "bmi", round(self.bmi * 10), 0, 0xFFFF),
                check_range(name, "height", _length_raw(self.height, imperial), 0, 0xFFFF),
            )
        return bytes((flags,)) + bytes(out)

    def as_dict(self) -> JsonDict:
        """Weight and height as sent and in kg / m, timestamp, user, BMI, precision."""
        imperial = self.unit == _LB
        weight = self.weight
        height = self.height
        feature = self.feature
        user = self.user_id
        return {
            "unit": self.unit,
            "weight": weight,
            "weight_kg": weight * KG_PER_LB if imperial and weight is not None else weight,
            "timestamp": iso_or_none(self.timestamp),
            "user_id": None if user == UNKNOWN_USER else user,
            "bmi": self.bmi,
            "height": height,
            "height_m": height * M_PER_IN if imperial and height is not None else height,
            "weight_resolution_kg": None if feature is None else _kg_step(feature),
            "height_resolution_m": None if feature is None else _m_step(feature),
        }


_new_WeightMeasurement = fast_constructor(WeightMeasurement)


def _kg_step(feature: WeightScaleFeature) -> float | None:
    pair = WEIGHT_RESOLUTIONS.get(feature.weight_resolution)
    return None if pair is None else pair[0]


def _m_step(feature: WeightScaleFeature) -> float | None:
    pair = HEIGHT_RESOLUTIONS.get(feature.height_resolution)
    return None if pair is None else pair[0]
