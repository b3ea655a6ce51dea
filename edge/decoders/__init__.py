"""Pure decoders for SIG health characteristics and Xiaomi vendor adverts.

No I/O and no Bluetooth stack: bytes in, frozen dataclasses out. Each class decodes with
``from_bytes()``, encodes with ``bytes()`` and gives its JSON-ready fields with
``as_dict()``; ``decode()`` picks the class by 16-bit UUID or snake_case name::

    >>> decode("2A37", bytes.fromhex("1e5532002100")).as_dict()["rr_intervals_s"]
    [0.0322265625]

A bad payload raises :class:`edge.errors.DecodeError` (``.field`` names the field),
never ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from edge.decoders.base import ByteSerializable, Decoder, JsonDict, Measurement, OpenIntEnum
from edge.decoders.blood_pressure import BloodPressureMeasurement
from edge.decoders.body_composition import BodyCompositionMeasurement, merge_body_composition
from edge.decoders.current_time import BatteryLevel, CurrentTime
from edge.decoders.date_time import DateTime
from edge.decoders.glucose import GlucoseMeasurement, GlucoseMeasurementContext
from edge.decoders.health_thermometer import TemperatureMeasurement, TemperatureType
from edge.decoders.heart_rate import HeartRateMeasurement
from edge.decoders.ieee11073 import decode_float, decode_sfloat, encode_float, encode_sfloat
from edge.decoders.pulse_oximeter import PLXContinuousMeasurement, PLXSpotCheckMeasurement
from edge.decoders.racp import RecordAccessControlPoint
from edge.decoders.units import ConcentrationUnit, PressureUnit, TemperatureUnit, WeightUnit
from edge.decoders.weight_scale import WeightMeasurement, WeightScaleFeature
from edge.decoders.xiaomi import MiBandHeartRate, MiBodyScale, MiScale
from edge.errors import DecodeError

__all__ = [
    "CHARACTERISTICS",
    "BatteryLevel",
    "BloodPressureMeasurement",
    "BodyCompositionMeasurement",
    "ByteSerializable",
    "ConcentrationUnit",
    "CurrentTime",
    "DateTime",
    "DecodeError",
    "Decoder",
    "GlucoseMeasurement",
    "GlucoseMeasurementContext",
    "HeartRateMeasurement",
    "JsonDict",
    "Measurement",
    "MiBandHeartRate",
    "MiBodyScale",
    "MiScale",
    "OpenIntEnum",
    "PLXContinuousMeasurement",
    "PLXSpotCheckMeasurement",
    "PressureUnit",
    "RecordAccessControlPoint",
    "TemperatureMeasurement",
    "TemperatureType",
    "TemperatureUnit",
    "WeightMeasurement",
    "WeightScaleFeature",
    "WeightUnit",
    "decode",
    "decode_float",
    "decode_sfloat",
    "encode_float",
    "encode_sfloat",
    "lookup",
    "merge_body_composition",
]

_SIG: Final[tuple[type[Decoder], ...]] = (
    HeartRateMeasurement,
    BloodPressureMeasurement,
    WeightMeasurement,
    WeightScaleFeature,
    BodyCompositionMeasurement,
    PLXSpotCheckMeasurement,
    PLXContinuousMeasurement,
    TemperatureMeasurement,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    RecordAccessControlPoint,
    CurrentTime,
    BatteryLevel,
)
_VENDOR: Final[tuple[type[Decoder], ...]] = (MiScale, MiBodyScale, MiBandHeartRate)

#: Every decoder by snake_case name.
CHARACTERISTICS: Final[Mapping[str, type[Decoder]]] = MappingProxyType(
    {cls.NAME: cls for cls in (*_SIG, *_VENDOR)}
)
#: SIG decoders by 16-bit UUID.
BY_UUID: Final[Mapping[int, type[Decoder]]] = MappingProxyType(
    {getattr(cls, "UUID"): cls for cls in _SIG}  # noqa: B009 - UUID is on SIG classes only
)
_SIG_BASE_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"


def _spellings() -> dict[str, type[Decoder]]:
    table: dict[str, type[Decoder]] = dict(CHARACTERISTICS)
    for uuid, cls in BY_UUID.items():
        for text in (f"{uuid:04X}", f"{uuid:04x}", f"0x{uuid:04X}", f"0x{uuid:04x}"):
            table[text] = cls
        table[f"0000{uuid:04x}{_SIG_BASE_SUFFIX}"] = cls
    return table


_BY_TEXT: Final = _spellings()


def lookup(characteristic: str | int) -> type[Decoder] | None:
    """The decoder class for a UUID (``"2A37"``, ``"0x2a37"``, ``0x2A37``, the 128-bit
    SIG form) or a snake_case name; ``None`` when unknown."""
    if isinstance(characteristic, int):
        return BY_UUID.get(characteristic)
    found = _BY_TEXT.get(characteristic)
    if found is not None:
        return found
    text = characteristic.strip().lower()
    found = _BY_TEXT.get(text)
    if found is not None:
        return found
    if text.startswith("0x"):
        text = text[2:]
    if len(text) == 36 and text.startswith("0000") and text.endswith(_SIG_BASE_SUFFIX):
        text = text[4:8]
    if 0 < len(text) <= 4:
        try:
            return BY_UUID.get(int(text, 16))
        except ValueError:
            return None
    return None


def decode(characteristic: str | int, payload: bytes | bytearray) -> Measurement:
    """Decode one payload of ``characteristic`` (16-bit UUID or snake_case name).

    An unknown characteristic or a bad payload raises ``DecodeError``.
    """
    cls = _BY_TEXT.get(characteristic) if isinstance(characteristic, str) else None
    if cls is None:
        cls = lookup(characteristic)
        if cls is None:
            name = f"0x{characteristic:04X}" if isinstance(characteristic, int) else characteristic
            supported = ", ".join(sorted(CHARACTERISTICS))
            reason = f"unknown characteristic {name!r}; supported: {supported}"
            raise DecodeError(str(name), "characteristic", bytes(payload), reason)
    if type(payload) is not bytes:
        payload = bytes(payload)
    return cls.from_bytes(payload)
