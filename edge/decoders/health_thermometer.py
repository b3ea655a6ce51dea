"""Temperature Measurement 0x2A1C (Health Thermometer service 0x1809, indicate).

Layout: ``flags u8 | temperature FLOAT (32-bit IEEE-11073) | [timestamp 7] (bit 1)
| [temperature type u8] (bit 2)``; bit 0: 0 = Celsius, 1 = Fahrenheit. Intermediate
Temperature 0x2A1E has the same layout. The flags are honoured: a decoder that always
reads a timestamp and a type (Gadgetbridge's) misreads short frames.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar, Final, final

from edge.decoders.base import (
    JsonDict,
    OpenIntEnum,
    check_range,
    code_labels,
    fast_constructor,
    label_of,
    truncated,
)
from edge.decoders.date_time import DateTime, iso_or_none
from edge.decoders.ieee11073 import decode_float, encode_float
from edge.decoders.units import TemperatureUnit

_HEAD: Final = struct.Struct("<BI")
_F: Final = TemperatureUnit.FAHRENHEIT


class TemperatureFlags(enum.IntFlag):
    """Flags byte of the Temperature Measurement."""

    FAHRENHEIT = 0x01
    TIMESTAMP_PRESENT = 0x02
    TEMPERATURE_TYPE_PRESENT = 0x04


class TemperatureType(OpenIntEnum):
    """Where the temperature was taken (0x2A1D)."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTROINTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


_TYPE_LABELS: Final = code_labels(TemperatureType)


@final
@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """One body-temperature reading; ``temperature`` in ``unit`` as sent."""

    NAME: ClassVar[str] = "temperature_measurement"
    UUID: ClassVar[int] = 0x2A1C
    Flags: ClassVar[type[TemperatureFlags]] = TemperatureFlags

    temperature: float | None
    unit: TemperatureUnit = TemperatureUnit.CELSIUS
    timestamp: DateTime | None = None
    temperature_type: int | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> TemperatureMeasurement:
        """Decode one indication; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 5:
            truncated(cls.NAME, "flags" if size == 0 else "temperature", data, 5)
        flags, raw = _HEAD.unpack_from(data)
        offset = 5
        timestamp = None
        if flags & 0x02:
            if size < 12:
                truncated(cls.NAME, "timestamp", data, 12, " (flags bit 1)")
            timestamp = DateTime.unpack_from(data, 5)
            offset = 12
        kind = None
        if flags & 0x04:
            if size < offset + 1:
                truncated(cls.NAME, "temperature_type", data, offset + 1, " (flags bit 2)")
            kind = data[offset]
        return _new_TemperatureMeasurement(
            decode_float(raw),
            _F if flags & 0x01 else TemperatureUnit.CELSIUS,
            timestamp,
            kind,
        )

    def __bytes__(self) -> bytes:
        flags = 0x01 if self.unit == _F else 0
        tail = bytearray()
        if self.timestamp is not None:
            flags |= 0x02
            tail += bytes(self.timestamp)
        if self.temperature_type is not None:
            flags |= 0x04
            tail.append(check_range(self.NAME, "temperature_type", self.temperature_type, 0, 0xFF))
        return _HEAD.pack(flags, encode_float(self.temperature)) + bytes(tail)

    @property
    def type(self) -> TemperatureType | None:
        """The temperature type as an enum member (``None`` when not sent)."""
        kind = self.temperature_type
        return None if kind is None else TemperatureType(kind)

    def as_dict(self) -> JsonDict:
        """Temperature as sent and in Celsius, timestamp, type label."""
        value = self.temperature
        fahrenheit = self.unit == _F
        return {
            "unit": self.unit,
            "temperature": value,
            "temperature_c": (value - 32) / 1.8 if fahrenheit and value is not None else value,
            "timestamp": iso_or_none(self.timestamp),
            "temperature_type": label_of(_TYPE_LABELS, self.temperature_type),
        }


_new_TemperatureMeasurement = fast_constructor(TemperatureMeasurement)
