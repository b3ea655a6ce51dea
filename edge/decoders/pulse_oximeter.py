"""PLX Spot-check 0x2A5E (indicate) and PLX Continuous 0x2A5F (notify), Pulse Oximeter 0x1822.

Spot-check: ``flags u8 | SpO2 SFLOAT % | pulse rate SFLOAT bpm | [timestamp 7] (bit 0)
| [measurement status u16] (bit 1) | [device and sensor status u24] (bit 2)
| [pulse amplitude index SFLOAT %] (bit 3)``; bit 4 = device clock is not set.

Continuous: ``flags u8 | SpO2 | PR (normal) | [SpO2, PR fast] (bit 0) | [SpO2, PR slow] (bit 1)
| [measurement status u16] (bit 2) | [device and sensor status u24] (bit 3) | [PAI] (bit 4)``.

The status words are reported as lists of the names of the bits that are set. A
special SFLOAT value gives ``None``. The readings are kept even when a status bit says
"invalid" or "questionable": the status travels with them and the stream decides.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar, Final, final

from edge.decoders.base import BitNames, JsonDict, check_range, fast_constructor, truncated
from edge.decoders.date_time import DateTime, iso_or_none
from edge.decoders.ieee11073 import SFLOAT_TABLE, encode_sfloat

_HEAD: Final = struct.Struct("<BHH")
_PAIR: Final = struct.Struct("<HH")
_U16: Final = struct.Struct("<H")


class PLXMeasurementStatus(enum.IntFlag):
    """Measurement Status (u16; bits 0-4 reserved)."""

    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_MEASUREMENT_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT_DETECTED = 1 << 14
    INVALID_MEASUREMENT_DETECTED = 1 << 15


class PLXDeviceAndSensorStatus(enum.IntFlag):
    """Device and Sensor Status (u24; bits 16-23 reserved)."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION_DETECTED = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY_DETECTED = 1 << 2
    INADEQUATE_SIGNAL_DETECTED = 1 << 3
    POOR_SIGNAL_DETECTED = 1 << 4
    LOW_PERFUSION_DETECTED = 1 << 5
    ERRATIC_SIGNAL_DETECTED = 1 << 6
    NONPULSATILE_SIGNAL_DETECTED = 1 << 7
    QUESTIONABLE_PULSE_DETECTED = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE_DETECTED = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR_CONNECTED = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


class PLXSpotCheckFlags(enum.IntFlag):
    """Flags byte of the PLX Spot-check Measurement."""

    TIMESTAMP_PRESENT = 0x01
    MEASUREMENT_STATUS_PRESENT = 0x02
    DEVICE_AND_SENSOR_STATUS_PRESENT = 0x04
    PULSE_AMPLITUDE_INDEX_PRESENT = 0x08
    DEVICE_CLOCK_NOT_SET = 0x10


class PLXContinuousFlags(enum.IntFlag):
    """Flags byte of the PLX Continuous Measurement."""

    SPO2PR_FAST_PRESENT = 0x01
    SPO2PR_SLOW_PRESENT = 0x02
    MEASUREMENT_STATUS_PRESENT = 0x04
    DEVICE_AND_SENSOR_STATUS_PRESENT = 0x08
    PULSE_AMPLITUDE_INDEX_PRESENT = 0x10


MEASUREMENT_STATUS_NAMES: Final = BitNames(PLXMeasurementStatus, 16)
DEVICE_AND_SENSOR_STATUS_NAMES: Final = BitNames(PLXDeviceAndSensorStatus, 24)


def _u24(data: bytes, offset: int) -> int:
    return data[offset] | data[offset + 1] << 8 | data[offset + 2] << 16


def _status_tail(
    name: str, status: int | None, device: int | None, pai: float | None
) -> tuple[int, bytes]:
    """Encoded optional status/device/PAI fields and their presence bits (1, 2, 4)."""
    bits = 0
    out = bytearray()
    if status is not None:
        bits |= 1
        out += _U16.pack(check_range(name, "measurement_status", status, 0, 0xFFFF))
    if device is not None:
        bits |= 2
        out += check_range(name, "device_and_sensor_status", device, 0, 0xFFFFFF).to_bytes(
            3, "little"
        )
    if pai is not None:
        bits |= 4
        out += _U16.pack(encode_sfloat(pai))
    return bits, bytes(out)


@final
@dataclass(frozen=True, slots=True)
class PLXSpotCheckMeasurement:
    """One spot-check SpO2 reading."""

    NAME: ClassVar[str] = "plx_spot_check_measurement"
    UUID: ClassVar[int] = 0x2A5E
    Flags: ClassVar[type[PLXSpotCheckFlags]] = PLXSpotCheckFlags

    spo2: float | None
    pulse_rate: float | None
    timestamp: DateTime | None = None
    measurement_status: int | None = None
    device_and_sensor_status: int | None = None
    pulse_amplitude_index: float | None = None
    device_clock_not_set: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> PLXSpotCheckMeasurement:
        """Decode one indication; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 5:
            truncated(
                cls.NAME, ("flags", "spo2", "spo2", "pulse_rate", "pulse_rate")[size], data, 5
            )
        flags, spo2, pulse = _HEAD.unpack_from(data)
        offset = 5
        timestamp = None
        if flags & 0x01:
            if size < 12:
                truncated(cls.NAME, "timestamp", data, 12, " (flags bit 0)")
            timestamp = DateTime.unpack_from(data, 5)
            offset = 12
        status = device = None
        pai = None
        if flags & 0x02:
            if size < offset + 2:
                truncated(cls.NAME, "measurement_status", data, offset + 2, " (flags bit 1)")
            status = data[offset] | data[offset + 1] << 8
            offset += 2
        if flags & 0x04:
            if size < offset + 3:
                truncated(cls.NAME, "device_and_sensor_status", data, offset + 3, " (flags bit 2)")
            device = _u24(data, offset)
            offset += 3
        if flags & 0x08:
            if size < offset + 2:
                truncated(cls.NAME, "pulse_amplitude_index", data, offset + 2, " (flags bit 3)")
            pai = SFLOAT_TABLE[data[offset] | data[offset + 1] << 8]
        return _new_PLXSpotCheckMeasurement(
            SFLOAT_TABLE[spo2],
            SFLOAT_TABLE[pulse],
            timestamp,
            status,
            device,
            pai,
            bool(flags & 0x10),
        )

    def __bytes__(self) -> bytes:
        flags = 0x10 if self.device_clock_not_set else 0
        stamp = b""
        if self.timestamp is not None:
            flags |= 0x01
            stamp = bytes(self.timestamp)
        bits, tail = _status_tail(
            self.NAME,
            self.measurement_status,
            self.device_and_sensor_status,
            self.pulse_amplitude_index,
        )
        flags |= bits << 1
        head = _HEAD.pack(flags, encode_sfloat(self.spo2), encode_sfloat(self.pulse_rate))
        return head + stamp + tail

    def as_dict(self) -> JsonDict:
        """SpO2, pulse rate, timestamp, status names and pulse amplitude index."""
        return {
            "spo2_percent": self.spo2,
            "pulse_rate_bpm": self.pulse_rate,
            "timestamp": iso_or_none(self.timestamp),
            "measurement_status": MEASUREMENT_STATUS_NAMES(self.measurement_status),
            "device_and_sensor_status": DEVICE_AND_SENSOR_STATUS_NAMES(
                self.device_and_sensor_status
            ),
            "pulse_amplitude_index_percent": self.pulse_amplitude_index,
            "device_clock_not_set": self.device_clock_not_set,
        }


_new_PLXSpotCheckMeasurement = fast_constructor(PLXSpotCheckMeasurement)


@final
@dataclass(frozen=True, slots=True)
class PLXContinuousMeasurement:
    """One continuous SpO2 sample (normal, and optionally fast and slow averages)."""

    NAME: ClassVar[str] = "plx_continuous_measurement"
    UUID: ClassVar[int] = 0x2A5F
    Flags: ClassVar[type[PLXContinuousFlags]] = PLXContinuousFlags

    spo2: float | None
    pulse_rate: float | None
    spo2_fast: float | None = None
    pulse_rate_fast: float | None = None
    spo2_slow: float | None = None
    pulse_rate_slow: float | None = None
    measurement_status: int | None = None
    device_and_sensor_status: int | None = None
    pulse_amplitude_index: float | None = None
    #: Whether the fast / slow pairs were sent (a sent pair of NaNs decodes to ``None``s).
    fast_present: bool = False
    slow_present: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> PLXContinuousMeasurement:
        """Decode one notification; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 5:
            truncated(
                cls.NAME, ("flags", "spo2", "spo2", "pulse_rate", "pulse_rate")[size], data, 5
            )
        flags, spo2, pulse = _HEAD.unpack_from(data)
        offset = 5
        spo2_fast = pulse_fast = spo2_slow = pulse_slow = None
        if flags & 0x01:
            if size < 9:
                field = "spo2_fast" if size < 7 else "pulse_rate_fast"
                truncated(cls.NAME, field, data, 9, " (flags bit 0)")
            raw_spo2, raw_pulse = _PAIR.unpack_from(data, 5)
            spo2_fast = SFLOAT_TABLE[raw_spo2]
            pulse_fast = SFLOAT_TABLE[raw_pulse]
            offset = 9
        if flags & 0x02:
            if size < offset + 4:
                field = "spo2_slow" if size < offset + 2 else "pulse_rate_slow"
                truncated(cls.NAME, field, data, offset + 4, " (flags bit 1)")
            raw_spo2, raw_pulse = _PAIR.unpack_from(data, offset)
            spo2_slow = SFLOAT_TABLE[raw_spo2]
            pulse_slow = SFLOAT_TABLE[raw_pulse]
            offset += 4
        status = device = None
        pai = None
        if flags & 0x04:
            if size < offset + 2:
                truncated(cls.NAME, "measurement_status", data, offset + 2, " (flags bit 2)")
            status = data[offset] | data[offset + 1] << 8
            offset += 2
        if flags & 0x08:
            if size < offset + 3:
                truncated(cls.NAME, "device_and_sensor_status", data, offset + 3, " (flags bit 3)")
            device = _u24(data, offset)
            offset += 3
        if flags & 0x10:
            if size < offset + 2:
                truncated(cls.NAME, "pulse_amplitude_index", data, offset + 2, " (flags bit 4)")
            pai = SFLOAT_TABLE[data[offset] | data[offset + 1] << 8]
        return _new_PLXContinuousMeasurement(
            SFLOAT_TABLE[spo2],
            SFLOAT_TABLE[pulse],
            spo2_fast,
            pulse_fast,
            spo2_slow,
            pulse_slow,
            status,
            device,
            pai,
            bool(flags & 0x01),
            bool(flags & 0x02),
        )

    def __bytes__(self) -> bytes:
        flags = 0
        pairs = b""
        if self.fast_present or self.spo2_fast is not None or self.pulse_rate_fast is not None:
            flags |= 0x01
            pairs += _PAIR.pack(encode_sfloat(self.spo2_fast), encode_sfloat(self.pulse_rate_fast))
        if self.slow_present or self.spo2_slow is not None or self.pulse_rate_slow is not None:
            flags |= 0x02
            pairs += _PAIR.pack(encode_sfloat(self.spo2_slow), encode_sfloat(self.pulse_rate_slow))
        bits, tail = _status_tail(
            self.NAME,
            self.measurement_status,
            self.device_and_sensor_status,
            self.pulse_amplitude_index,
        )
        flags |= bits << 2
        head = _HEAD.pack(flags, encode_sfloat(self.spo2), encode_sfloat(self.pulse_rate))
        return head + pairs + tail

    def as_dict(self) -> JsonDict:
        """SpO2 and pulse rate (normal, fast, slow), status names and pulse amplitude index."""
        return {
            "spo2_percent": self.spo2,
            "pulse_rate_bpm": self.pulse_rate,
            "spo2_fast_percent": self.spo2_fast,
            "pulse_rate_fast_bpm": self.pulse_rate_fast,
            "spo2_slow_percent": self.spo2_slow,
            "pulse_rate_slow_bpm": self.pulse_rate_slow,
            "measurement_status": MEASUREMENT_STATUS_NAMES(self.measurement_status),
            "device_and_sensor_status": DEVICE_AND_SENSOR_STATUS_NAMES(
                self.device_and_sensor_status
            ),
            "pulse_amplitude_index_percent": self.pulse_amplitude_index,
        }


_new_PLXContinuousMeasurement = fast_constructor(PLXContinuousMeasurement)
