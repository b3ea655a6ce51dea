"""Blood Pressure Measurement 0x2A35 (Blood Pressure service 0x1810, indicate).

Layout: ``flags u8 | systolic SFLOAT | diastolic SFLOAT | mean arterial pressure SFLOAT
| [timestamp, Date Time 7] (bit 1) | [pulse rate SFLOAT bpm] (bit 2) | [user id u8] (bit 3)
| [measurement status u16] (bit 4)``; flags bit 0: 0 = mmHg, 1 = kPa. User id 0xFF is
"unknown user". Status bits: 0 body movement, 1 cuff too loose, 2 irregular pulse,
3-4 pulse-rate range (0 in range, 1 above the upper limit, 2 below the lower limit),
5 improper measurement position. Intermediate Cuff Pressure 0x2A36 has the same layout.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar, Final, final

from edge.decoders.base import BitNames, JsonDict, check_range, fast_constructor, truncated
from edge.decoders.date_time import DateTime, iso_or_none
from edge.decoders.ieee11073 import SFLOAT_TABLE, encode_sfloat
from edge.decoders.units import MMHG_PER_KPA, PressureUnit

_HEAD: Final = struct.Struct("<BHHH")
_U16: Final = struct.Struct("<H")
UNKNOWN_USER: Final = 0xFF
_FIELD_AT: Final = (
    "flags",
    "systolic",
    "systolic",
    "diastolic",
    "diastolic",
    "mean_arterial_pressure",
    "mean_arterial_pressure",
)


class BloodPressureFlags(enum.IntFlag):
    """Flags byte of the Blood Pressure Measurement."""

    UNIT_KPA = 0x01
    TIMESTAMP_PRESENT = 0x02
    PULSE_RATE_PRESENT = 0x04
    USER_ID_PRESENT = 0x08
    MEASUREMENT_STATUS_PRESENT = 0x10


class BloodPressureStatus(enum.IntFlag):
    """Measurement Status bits; the pulse-rate range is the 2-bit field in bits 3-4."""

    BODY_MOVEMENT = 0x0001
    CUFF_TOO_LOOSE = 0x0002
    IRREGULAR_PULSE = 0x0004
    PULSE_RATE_ABOVE_UPPER_LIMIT = 0x0008
    PULSE_RATE_BELOW_LOWER_LIMIT = 0x0010
    IMPROPER_MEASUREMENT_POSITION = 0x0020


#: The pulse-rate range bits are reported as ``pulse_rate_range``, not as names.
_STATUS_NAMES: Final = BitNames(BloodPressureStatus, 16, skip=0x18)
_KPA: Final = PressureUnit.KPA
_PULSE_RANGE: Final = ("in_range", "above_upper_limit", "below_lower_limit", "reserved")


def _kpa_to_mmhg(value: float | None) -> float | None:
    return None if value is None else value * MMHG_PER_KPA


@final
@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One blood-pressure reading; pressures in ``unit`` as sent, ``None`` for special values."""

    NAME: ClassVar[str] = "blood_pressure_measurement"
    UUID: ClassVar[int] = 0x2A35
    Flags: ClassVar[type[BloodPressureFlags]] = BloodPressureFlags
    Status: ClassVar[type[BloodPressureStatus]] = BloodPressureStatus

    systolic: float | None
    diastolic: float | None
    mean_arterial_pressure: float | None
    unit: PressureUnit = PressureUnit.MMHG
    timestamp: DateTime | None = None
    pulse_rate: float | None = None
    user_id: int | None = None
    measurement_status: int | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> BloodPressureMeasurement:
        """Decode one indication; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 7:
            field = _FIELD_AT[size]
            truncated(cls.NAME, field, data, 7)
        flags, systolic, diastolic, mean = _HEAD.unpack_from(data)
        offset = 7
        timestamp = None
        if flags & 0x02:
            if size < 14:
                truncated(cls.NAME, "timestamp", data, 14, " (flags bit 1)")
            timestamp = DateTime.unpack_from(data, 7)
            offset = 14
        pulse = None
        if flags & 0x04:
            if size < offset + 2:
                truncated(cls.NAME, "pulse_rate", data, offset + 2, " (flags bit 2)")
            pulse = SFLOAT_TABLE[data[offset] | data[offset + 1] << 8]
            offset += 2
        user = None
        if flags & 0x08:
            if size < offset + 1:
                truncated(cls.NAME, "user_id", data, offset + 1, " (flags bit 3)")
            user = data[offset]
            offset += 1
        status = None
        if flags & 0x10:
            if size < offset + 2:
                truncated(cls.NAME, "measurement_status", data, offset + 2, " (flags bit 4)")
            status = data[offset] | data[offset + 1] << 8
        return _new_BloodPressureMeasurement(
            SFLOAT_TABLE[systolic],
            SFLOAT_TABLE[diastolic],
            SFLOAT_TABLE[mean],
            PressureUnit.KPA if flags & 0x01 else PressureUnit.MMHG,
            timestamp,
            pulse,
            user,
            status,
        )

    def __bytes__(self) -> bytes:
        flags = 0x01 if self.unit == _KPA else 0
        tail = bytearray()
        if self.timestamp is not None:
            flags |= 0x02
            tail += bytes(self.timestamp)
        if self.pulse_rate is not None:
            flags |= 0x04
            tail += _U16.pack(encode_sfloat(self.pulse_rate))
        if self.user_id is not None:
            flags |= 0x08
            tail.append(check_range(self.NAME, "user_id", self.user_id, 0, 0xFF))
        if self.measurement_status is not None:
            flags |= 0x10
            tail += _U16.pack(
                check_range(self.NAME, "measurement_status", self.measurement_status, 0, 0xFFFF)
            )
        head = _HEAD.pack(
            flags,
            encode_sfloat(self.systolic),
            encode_sfloat(self.diastolic),
            encode_sfloat(self.mean_arterial_pressure),
        )
        return head + bytes(tail)

    @property
    def status(self) -> BloodPressureStatus | None:
        """The measurement status as flags (``None`` when not sent)."""
        status = self.measurement_status
        return None if status is None else BloodPressureStatus(status)

    def as_dict(self) -> JsonDict:
        """Pressures as sent and in mmHg, pulse, user, status names and pulse-rate range."""
        systolic = self.systolic
        diastolic = self.diastolic
        mean = self.mean_arterial_pressure
        kpa = self.unit == _KPA
        status = self.measurement_status
        user = self.user_id
        return {
            "unit": self.unit,
            "systolic": systolic,
            "diastolic": diastolic,
            "mean_arterial_pressure": mean,
            "systolic_mmhg": _kpa_to_mmhg(systolic) if kpa else systolic,
            "diastolic_mmhg": _kpa_to_mmhg(diastolic) if kpa else diastolic,
            "mean_arterial_pressure_mmhg": _kpa_to_mmhg(mean) if kpa else mean,
            "timestamp": iso_or_none(self.timestamp),
            "pulse_rate_bpm": self.pulse_rate,
            "user_id": None if user == UNKNOWN_USER else user,
            "measurement_status": _STATUS_NAMES(status),
            "pulse_rate_range": None if status is None else _PULSE_RANGE[status >> 3 & 0x03],
        }


_new_BloodPressureMeasurement = fast_constructor(BloodPressureMeasurement)
