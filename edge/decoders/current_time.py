"""Current Time 0x2A2B (Current Time service 0x1805) and Battery Level 0x2A19.

Current Time: ``Date Time 7 | day of week u8 (0 unknown, 1 Monday .. 7 Sunday)
| fractions256 u8 | adjust reason u8`` (bit 0 manual update, 1 external reference,
2 time zone change, 3 DST change). The gateway writes it to set a device's clock;
:meth:`CurrentTime.from_datetime` builds one.

Battery Level: one byte, 0-100 %; other values are rejected.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final, Self, final

from edge.decoders.base import BitNames, JsonDict, check_range, fast_constructor, invalid, truncated
from edge.decoders.date_time import DateTime

_DAYS: Final = (None, "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class AdjustReason(enum.IntFlag):
    """Why the time was last adjusted."""

    MANUAL_TIME_UPDATE = 0x01
    EXTERNAL_REFERENCE_TIME_UPDATE = 0x02
    CHANGE_OF_TIME_ZONE = 0x04
    CHANGE_OF_DST = 0x08


ADJUST_REASON_NAMES: Final = BitNames(AdjustReason, 8)


@final
@dataclass(frozen=True, slots=True)
class CurrentTime:
    """A device clock reading (or the value the gateway writes)."""

    NAME: ClassVar[str] = "current_time"
    UUID: ClassVar[int] = 0x2A2B

    date_time: DateTime
    day_of_week: int = 0
    fractions256: int = 0
    adjust_reason: int = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> CurrentTime:
        """Decode the 10-byte value; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 10:
            field = (
                "date_time"
                if size < 7
                else ("day_of_week", "fractions256", "adjust_reason")[size - 7]
            )
            truncated(cls.NAME, field, data, 10)
        return _new_CurrentTime(DateTime.unpack_from(data, 0), data[7], data[8], data[9])

    @classmethod
    def from_datetime(cls, moment: datetime, adjust_reason: int = 0) -> Self:
        """The Current Time value for ``moment`` (local wall time as the device shows it)."""
        return cls(
            DateTime.from_datetime(moment),
            moment.isoweekday(),
            moment.microsecond * 256 // 1_000_000,
            adjust_reason,
        )

    def __bytes__(self) -> bytes:
        name = self.NAME
        return bytes(self.date_time) + bytes(
            (
                check_range(name, "day_of_week", self.day_of_week, 0, 0xFF),
                check_range(name, "fractions256", self.fractions256, 0, 0xFF),
                check_range(name, "adjust_reason", self.adjust_reason, 0, 0xFF),
            )
        )

    def as_dict(self) -> JsonDict:
        """Timestamp, weekday name, fraction of a second and adjust reasons."""
        day = self.day_of_week
        return {
            "timestamp": self.date_time.isoformat(),
            "day_of_week": _DAYS[day] if day < 8 else f"reserved_{day}",
            "fractions256": self.fractions256,
            "fraction_s": self.fractions256 / 256,
            "adjust_reason": ADJUST_REASON_NAMES(self.adjust_reason),
        }


_new_CurrentTime = fast_constructor(CurrentTime)


@final
@dataclass(frozen=True, slots=True)
class BatteryLevel:
    """Battery charge in percent."""

    NAME: ClassVar[str] = "battery_level"
    UUID: ClassVar[int] = 0x2A19

    level: int

    @classmethod
    def from_bytes(cls, data: bytes) -> BatteryLevel:
        """Decode the one-byte level; values above 100 are rejected."""
        if not data:
            truncated(cls.NAME, "level", data, 1)
        level = data[0]
        if level > 100:
            invalid(cls.NAME, "level", data, f"{level} % is above 100 %")
        return _new_BatteryLevel(level)

    def __bytes__(self) -> bytes:
        return bytes((check_range(self.NAME, "level", self.level, 0, 100),))

    def as_dict(self) -> JsonDict:
        """``battery_level_percent``."""
        return {"battery_level_percent": self.level}


_new_BatteryLevel = fast_constructor(BatteryLevel)
