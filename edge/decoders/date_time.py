"""GATT *Date Time* (0x2A08 layout): ``year u16 | month u8 | day u8 | hours | minutes | seconds``.

Year, month or day 0 means "not known": such a time has no ISO form (``isoformat()``
returns ``None``). A time outside the calendar (month 13, 30 February, hour 24, a year
before 1582 or after 9999) is not rejected, since the measurement it stamps is still
good; it also has no ISO form, and the gateway falls back to its own clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final, Self, final

from edge.decoders.base import JsonDict, fast_constructor, fits, truncated

_LAYOUT: Final = struct.Struct("<HBBBBB")
_DAYS: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_2D: Final = tuple(f"{n:02d}" for n in range(60))


@final
@dataclass(frozen=True, slots=True)
class DateTime:
    """A device clock reading as sent (no time zone)."""

    NAME: ClassVar[str] = "date_time"
    SIZE: ClassVar[int] = 7

    year: int
    month: int
    day: int
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> DateTime:
        """Decode the 7 bytes of a Date Time."""
        if len(data) < 7:
            truncated(cls.NAME, "year", data, 7)
        return _new_DateTime(*_LAYOUT.unpack_from(data))

    @classmethod
    def unpack_from(cls, data: bytes, offset: int) -> DateTime:
        """Decode the Date Time at ``offset``; the caller has checked the length."""
        return _new_DateTime(*_LAYOUT.unpack_from(data, offset))

    @classmethod
    def from_datetime(cls, moment: datetime) -> Self:
        """The Date Time of a (naive or aware) ``datetime``, microseconds dropped."""
        return cls(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)

    def __bytes__(self) -> bytes:
        fits(
            self.NAME,
            (
                ("year", self.year, 0, 0xFFFF),
                ("month", self.month, 0, 0xFF),
                ("day", self.day, 0, 0xFF),
                ("hours", self.hours, 0, 0xFF),
                ("minutes", self.minutes, 0, 0xFF),
                ("seconds", self.seconds, 0, 0xFF),
            ),
        )
        return _LAYOUT.pack(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    @property
    def known(self) -> bool:
        """Whether this is a real calendar time (not "unknown", not out of range)."""
        month = self.month
        day = self.day
        return (
            1582 <= self.year <= 9999
            and 0 < month < 13
            and 0 < day <= _DAYS[month]
            and (day != 29 or month != 2 or _leap(self.year))
            and self.hours < 24
            and self.minutes < 60
            and self.seconds < 60
        )

    def isoformat(self) -> str | None:
        """``YYYY-MM-DDTHH:MM:SS`` as sent, or ``None`` when unknown or not a calendar time."""
        year = self.year
        month = self.month
        day = self.day
        hours = self.hours
        minutes = self.minutes
        seconds = self.seconds
        if (
            year < 1582
            or year > 9999
            or not 0 < month < 13
            or not 0 < day <= _DAYS[month]
            or hours > 23
            or minutes > 59
            or seconds > 59
            or (day == 29 and month == 2 and not _leap(year))
        ):
            return None
        # Two-digit fields from a table: several times faster than %-formatting.
        return f"{year}-{_2D[month]}-{_2D[day]}T{_2D[hours]}:{_2D[minutes]}:{_2D[seconds]}"

    def to_datetime(self) -> datetime | None:
        """A naive ``datetime`` (device local time), or ``None`` when unknown."""
        if not self.known:
            return None
        # The device clock has no zone: the caller attaches one.
        return datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    def as_dict(self) -> JsonDict:
        """``{"timestamp": ISO or None}``."""
        return {"timestamp": self.isoformat()}


_new_DateTime = fast_constructor(DateTime)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def iso_or_none(stamp: DateTime | None) -> str | None:
    """The ISO form of an optional timestamp field."""
    return None if stamp is None else stamp.isoformat()
