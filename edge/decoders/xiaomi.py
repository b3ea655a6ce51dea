"""Xiaomi vendor advertisements: Mi Scale v1, Mi Body Composition Scale v2, band heart rate.

These are not SIG characteristics: the scales put their own layout in *service data*
under SIG service UUIDs, and the bands put the heart rate in *manufacturer data*.

* Mi Smart Scale v1 (XMTZC01HM/04HM), service data for 0x181D, 10 bytes:
  ``control u8 | weight u16 | Date Time 7``. Control bit 0 = lb (raw / 100), bit 4 = jin
  (raw / 100), neither = kg (raw / 200); bit 5 = stabilized, bit 7 = load removed.
* Mi Body Composition Scale v2 (XMTZC02HM/05HM), service data for 0x181B, 13 bytes:
  ``control u16 | Date Time 7 | impedance u16 ohm | weight u16``. Low control byte bit 0
  = lb; high byte bit 1 = impedance present, bit 5 = stabilized, bit 6 = jin, bit 7 =
  load removed. The same 13 bytes arrive as 0x2A9C notifications when connected, so the
  device registry, not the UUID, decides which decoder applies.
* Xiaomi/Amazfit band heart-rate broadcast (enabled in Zepp Life), manufacturer data of
  company 0x0157, 26 bytes including the company id: the heart rate is byte 5 (0xF0 and
  above: none), the band's MAC address the last 6 bytes (in display order).

Sources: Theengs Decoder ``XMTZC04HMKG``/``XMTZC05HMKG``/``Miband`` models and tests,
xiaomi-ble ``parser.py`` (``_parse_scale_v1``/``_v2``), openScale Mi Scale handlers. Where
lb and jin bits are both set, lb wins (as in xiaomi-ble). 1 jin = 0.5 kg.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar, Final, final

from edge.decoders.base import JsonDict, check_range, fast_constructor, invalid, truncated
from edge.decoders.date_time import DateTime
from edge.decoders.units import KG_PER_JIN, KG_PER_LB, WeightUnit
from edge.errors import EncodeError

_V1: Final = struct.Struct("<BH")
_V2: Final = struct.Struct("<HH")
_KG: Final = WeightUnit.KG
_LB: Final = WeightUnit.LB
_JIN: Final = WeightUnit.JIN
_TO_KG: Final = {_KG: 1.0, _LB: KG_PER_LB, _JIN: KG_PER_JIN}
_DIVISOR: Final = {_KG: 200, _LB: 100, _JIN: 100}

XIAOMI_COMPANY_ID: Final = 0x0157


class MiScaleControl(enum.IntFlag):
    """Control byte of the Mi Scale v1 advert (other bits are kept as sent)."""

    POUNDS = 0x01
    JIN = 0x10
    STABILIZED = 0x20
    LOAD_REMOVED = 0x80


class MiBodyScaleControl(enum.IntFlag):
    """Control word of the Mi Body Composition Scale v2 advert (low byte first)."""

    POUNDS = 0x0001
    IMPEDANCE_PRESENT = 0x0200
    STABILIZED = 0x2000
    JIN = 0x4000
    LOAD_REMOVED = 0x8000


def _unit(pounds: bool, jin: bool) -> WeightUnit:
    return _LB if pounds else _JIN if jin else _KG


def _weight_raw(name: str, weight: float, unit: WeightUnit) -> int:
    return check_range(name, "weight", round(weight * _DIVISOR[unit]), 0, 0xFFFF)


@final
@dataclass(frozen=True, slots=True)
class MiScale:
    """One Mi Smart Scale v1 advert. ``control`` keeps every bit as sent."""

    NAME: ClassVar[str] = "mi_scale"
    SERVICE_UUID: ClassVar[int] = 0x181D

    control: int
    weight: float
    timestamp: DateTime

    @classmethod
    def from_bytes(cls, data: bytes) -> MiScale:
        """Decode the 10 service-data bytes; another length raises ``DecodeError``."""
        if len(data) != 10:
            if len(data) < 10:
                truncated(
                    cls.NAME,
                    "control" if not data else "weight" if len(data) < 3 else "timestamp",
                    data,
                    10,
                )
            invalid(
                cls.NAME, "payload", data, f"a Mi Scale v1 advert has 10 bytes, got {len(data)}"
            )
        control, raw = _V1.unpack_from(data)
        unit = _unit(bool(control & 0x01), bool(control & 0x10))
        return _new_MiScale(control, raw / _DIVISOR[unit], DateTime.unpack_from(data, 3))

    @property
    def unit(self) -> WeightUnit:
        """The unit the scale displays and sends."""
        return _unit(bool(self.control & 0x01), bool(self.control & 0x10))

    def __bytes__(self) -> bytes:
        control = check_range(self.NAME, "control", self.control, 0, 0xFF)
        return (
            bytes((control,))
            + struct.pack("<H", _weight_raw(self.NAME, self.weight, self.unit))
            + bytes(self.timestamp)
        )

    def as_dict(self) -> JsonDict:
        """Weight as sent and in kg, unit, stabilized / load-removed, scale clock."""
        unit = self.unit
        control = self.control
        return {
            "unit": unit,
            "weight": self.weight,
            "weight_kg": self.weight * _TO_KG[unit],
            "stabilized": bool(control & 0x20),
            "load_removed": bool(control & 0x80),
            "timestamp": self.timestamp.isoformat(),
        }


_new_MiScale = fast_constructor(MiScale)


@final
@dataclass(frozen=True, slots=True)
class MiBodyScale:
    """One Mi Body Composition Scale v2 advert. ``control`` keeps every bit as sent."""

    NAME: ClassVar[str] = "mi_body_scale"
    SERVICE_UUID: ClassVar[int] = 0x181B

    control: int
    weight: float
    timestamp: DateTime
    impedance: int = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> MiBodyScale:
        """Decode the 13 service-data bytes; another length raises ``DecodeError``."""
        size = len(data)
        if size != 13:
            if size < 13:
                field = (
                    "control"
                    if size < 2
                    else "timestamp"
                    if size < 9
                    else "impedance"
                    if size < 11
                    else "weight"
                )
                truncated(cls.NAME, field, data, 13)
            invalid(
                cls.NAME,
                "payload",
                data,
                f"a Mi Body Composition Scale advert has 13 bytes, got {size}",
            )
        control = data[0] | data[1] << 8
        impedance, raw = _V2.unpack_from(data, 9)
        unit = _unit(bool(control & 0x0001), bool(control & 0x4000))
        return _new_MiBodyScale(
            control,
            raw / _DIVISOR[unit],
            DateTime.unpack_from(data, 2),
            impedance,
        )

    @property
    def unit(self) -> WeightUnit:
        """The unit the scale displays and sends."""
        return _unit(bool(self.control & 0x0001), bool(self.control & 0x4000))

    def __bytes__(self) -> bytes:
        name = self.NAME
        control = check_range(name, "control", self.control, 0, 0xFFFF)
        impedance = check_range(name, "impedance", self.impedance, 0, 0xFFFF)
        stamp = self.timestamp
        return (
            struct.pack("<H", control)
            + bytes(stamp)
            + struct.pack("<HH", impedance, _weight_raw(name, self.weight, self.unit))
        )

    def as_dict(self) -> JsonDict:
        """Weight as sent and in kg, unit, flags, scale clock, impedance when present."""
        unit = self.unit
        control = self.control
        return {
            "unit": unit,
            "weight": self.weight,
            "weight_kg": self.weight * _TO_KG[unit],
            "stabilized": bool(control & 0x2000),
            "load_removed": bool(control & 0x8000),
            "timestamp": self.timestamp.isoformat(),
            "impedance_ohm": self.impedance if control & 0x0200 else None,
        }


_new_MiBodyScale = fast_constructor(MiBodyScale)

_BAND_SIZE: Final = 26
_BAND_HR: Final = 5
#: Bytes 2-4 and 6-19 of the band frame as seen in Theengs' test vector (not decoded).
_BAND_MIDDLE: Final = bytes.fromhex("020201")
_BAND_TAIL: Final = bytes.fromhex("ff" * 13 + "02")


@final
@dataclass(frozen=True, slots=True)
class MiBandHeartRate:
    """A Xiaomi/Amazfit band heart-rate broadcast (manufacturer data, company 0x0157).

    ``heart_rate`` is ``None`` when the band sends no value (0xF0-0xFF). ``header`` and
    ``tail`` are the bytes around it whose meaning is unknown; they are kept as sent.
    """

    NAME: ClassVar[str] = "mi_band_heart_rate"
    COMPANY_ID: ClassVar[int] = XIAOMI_COMPANY_ID

    heart_rate: int | None
    mac: str
    header: bytes = _BAND_MIDDLE
    tail: bytes = _BAND_TAIL

    @classmethod
    def from_bytes(cls, data: bytes) -> MiBandHeartRate:
        """Decode the 26 manufacturer-data bytes, company id (``57 01``) included."""
        size = len(data)
        if size < 2 or data[0] | data[1] << 8 != XIAOMI_COMPANY_ID:
            if size < 2:
                truncated(cls.NAME, "company_id", data, _BAND_SIZE)
            invalid(
                cls.NAME,
                "company_id",
                data,
                f"expected Xiaomi's 0x0157 (bytes 57 01), got {data[0] | data[1] << 8:#06x}",
            )
        if size != _BAND_SIZE:
            if size <= _BAND_HR:
                truncated(cls.NAME, "heart_rate", data, _BAND_SIZE)
            if size < _BAND_SIZE:
                truncated(cls.NAME, "mac", data, _BAND_SIZE)
            invalid(
                cls.NAME,
                "payload",
                data,
                f"the heart-rate broadcast has {_BAND_SIZE} bytes, got {size}",
            )
        raw = data[_BAND_HR]
        mac = ":".join(f"{byte:02X}" for byte in data[20:26])
        return _new_MiBandHeartRate(
            None if raw >= 0xF0 else raw, mac, bytes(data[2:5]), bytes(data[6:20])
        )

    @classmethod
    def from_manufacturer_data(cls, company_id: int, data: bytes) -> MiBandHeartRate:
        """Decode bleak's form: ``AdvertisementData.manufacturer_data[company_id]``."""
        return cls.from_bytes(company_id.to_bytes(2, "little") + data)

    def __bytes__(self) -> bytes:
        name = self.NAME
        heart_rate = (
            0xFF
            if self.heart_rate is None
            else check_range(name, "heart_rate", self.heart_rate, 0, 0xEF)
        )
        try:
            mac = bytes.fromhex(self.mac.replace(":", ""))
        except ValueError:
            mac = b""
        if len(mac) != 6:
            reason = f"{self.mac!r} is not a MAC address like AA:BB:CC:DD:EE:FF"
            raise EncodeError(name, "mac", reason)
        if len(self.header) != 3 or len(self.tail) != 14:
            reason = "header must be 3 bytes and tail 14 bytes"
            raise EncodeError(name, "header", reason)
        return (
            struct.pack("<H", XIAOMI_COMPANY_ID)
            + self.header
            + bytes((heart_rate,))
            + self.tail
            + mac
        )

    def as_dict(self) -> JsonDict:
        """``heart_rate_bpm`` (``None`` when the band has no value) and the band's ``mac``."""
        return {"heart_rate_bpm": self.heart_rate, "mac": self.mac}


_new_MiBandHeartRate = fast_constructor(MiBandHeartRate)
