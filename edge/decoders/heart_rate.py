"""Heart Rate Measurement 0x2A37 (Heart Rate service 0x180D, notify).

Layout: ``flags u8 | heart rate u8 or u16 (flags bit 0) | [energy expended u16 kJ] (bit 3)
| [RR interval u16, 1/1024 s ...] (bit 4)``. Bit 2 says whether the sensor reports skin
contact at all and bit 1 whether contact is detected: contact is a tri-state, ``None``
when not supported (bit 1 alone means nothing). The RR intervals fill the rest of the
payload; the flag without at least one interval, or an odd tail, is rejected.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar, Final, final

from edge.decoders.base import JsonDict, check_range, fast_constructor, invalid, truncated
from edge.errors import EncodeError

_U16: Final = struct.Struct("<H")


class HeartRateFlags(enum.IntFlag):
    """Flags byte of the Heart Rate Measurement."""

    HEART_RATE_UINT16 = 0x01
    SENSOR_CONTACT_DETECTED = 0x02
    SENSOR_CONTACT_SUPPORTED = 0x04
    ENERGY_EXPENDED_PRESENT = 0x08
    RR_INTERVAL_PRESENT = 0x10


@final
@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One heart-rate notification.

    ``rr_intervals`` are in seconds (raw / 1024, exact in binary floating point, so they
    encode back to the same raw value).
    """

    NAME: ClassVar[str] = "heart_rate_measurement"
    UUID: ClassVar[int] = 0x2A37
    Flags: ClassVar[type[HeartRateFlags]] = HeartRateFlags

    heart_rate: int
    sensor_contact: bool | None = None
    energy_expended: int | None = None
    rr_intervals: tuple[float, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes) -> HeartRateMeasurement:
        """Decode one notification; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 2:
            truncated(cls.NAME, "flags" if size == 0 else "heart_rate", data, 2)
        flags = data[0]
        if flags & 0x01:
            if size < 3:
                truncated(cls.NAME, "heart_rate", data, 3, " (flags bit 0: 16-bit heart rate)")
            heart_rate = data[1] | data[2] << 8
            offset = 3
        else:
            heart_rate = data[1]
            offset = 2
        contact = bool(flags & 0x02) if flags & 0x04 else None
        energy = None
        if flags & 0x08:
            if size < offset + 2:
                truncated(cls.NAME, "energy_expended", data, offset + 2)
            energy = data[offset] | data[offset + 1] << 8
            offset += 2
        rr: tuple[float, ...] = ()
        if flags & 0x10:
            rest = size - offset
            if rest < 2:
                truncated(cls.NAME, "rr_intervals", data, offset + 2, " (flags bit 4)")
            if rest & 1:
                invalid(
                    cls.NAME,
                    "rr_intervals",
                    data,
                    f"RR intervals are 2 bytes each but {rest} bytes remain",
                )
            rr = tuple(raw / 1024 for (raw,) in _U16.iter_unpack(data[offset:]))
        return _new_HeartRateMeasurement(heart_rate, contact, energy, rr)

    def __bytes__(self) -> bytes:
        name = self.NAME
        flags = 0
        if self.heart_rate > 0xFF:
            flags |= 0x01
            head = _U16.pack(check_range(name, "heart_rate", self.heart_rate, 0, 0xFFFF))
        else:
            head = bytes((check_range(name, "heart_rate", self.heart_rate, 0, 0xFF),))
        if self.sensor_contact is not None:
            flags |= 0x06 if self.sensor_contact else 0x04
        body = bytearray(head)
        if self.energy_expended is not None:
            flags |= 0x08
            body += _U16.pack(check_range(name, "energy_expended", self.energy_expended, 0, 0xFFFF))
        if self.rr_intervals:
            flags |= 0x10
            for seconds in self.rr_intervals:
                raw = round(seconds * 1024)
                if not 0 <= raw <= 0xFFFF:
                    reason = f"{seconds!r} s is outside 0..{0xFFFF / 1024} s"
                    raise EncodeError(name, "rr_intervals", reason)
                body += _U16.pack(raw)
        return bytes((flags,)) + bytes(body)

    def as_dict(self) -> JsonDict:
        """``heart_rate_bpm``, ``sensor_contact``, ``energy_expended_kj``, ``rr_intervals_s``."""
        return {
            "heart_rate_bpm": self.heart_rate,
            "sensor_contact": self.sensor_contact,
            "energy_expended_kj": self.energy_expended,
            "rr_intervals_s": list(self.rr_intervals),
        }


_new_HeartRateMeasurement = fast_constructor(HeartRateMeasurement)
