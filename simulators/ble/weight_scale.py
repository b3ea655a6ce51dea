"""Virtual scales: Weight Scale 0x181D, and Body Composition 0x181B on top.

* Weight Scale Feature 0x2A9E: read (multi-user, time stamp and BMI by default).
* Weight Measurement 0x2A9D: indicate; stored readings are indicated when a collector
  subscribes. Readings carry the ``user_id`` of the person on the scale.
* Body Composition Feature 0x2A9B: read; Body Composition Measurement 0x2A9C: indicate,
  stored likewise (``BodyCompositionScale`` only).

The User Data Service (registration and consent codes for multi-user scales) is not
simulated: every reading is offered to any collector.
"""

from __future__ import annotations

import enum
import struct
from typing import ClassVar, Final, Unpack

from bumble.gatt import Service

from edge.decoders import BodyCompositionMeasurement, WeightMeasurement, WeightScaleFeature
from simulators.ble.air import VirtualAir
from simulators.ble.attributes import Properties, characteristic, uuid16
from simulators.ble.peripheral import PeripheralOptions, VirtualPeripheral
from simulators.ble.records import StoredRecords

WEIGHT_SCALE_SERVICE: Final = 0x181D
BODY_COMPOSITION_SERVICE: Final = 0x181B
BODY_COMPOSITION_FEATURE: Final = 0x2A9B

MULTI_USER_SCALE: Final = WeightScaleFeature(
    time_stamp_supported=True, multiple_users_supported=True, bmi_supported=True
)


class BodyCompositionFeature(enum.IntFlag):
    """Body Composition Feature 0x2A9B bits (BCS 3.1); resolutions left at "not specified"."""

    TIME_STAMP = 1 << 0
    MULTIPLE_USERS = 1 << 1
    BASAL_METABOLISM = 1 << 2
    MUSCLE_PERCENTAGE = 1 << 3
    MUSCLE_MASS = 1 << 4
    FAT_FREE_MASS = 1 << 5
    SOFT_LEAN_MASS = 1 << 6
    BODY_WATER_MASS = 1 << 7
    IMPEDANCE = 1 << 8
    WEIGHT = 1 << 9
    HEIGHT = 1 << 10


ALL_BODY_COMPOSITION: Final = BodyCompositionFeature(0x07FF)


class WeightScale(VirtualPeripheral):
    """A bathroom scale shared by several residents (one user id each)."""

    DEFAULT_NAME = "Weight Scale"
    MODEL = "Weight Scale"
    ADVERTISED_SERVICES: ClassVar[tuple[int, ...]] = (WEIGHT_SCALE_SERVICE,)

    def __init__(
        self,
        air: VirtualAir,
        *,
        feature: WeightScaleFeature = MULTI_USER_SCALE,
        **options: Unpack[PeripheralOptions],
    ) -> None:
        super().__init__(air, **options)
        self.feature = feature
        self._weight = characteristic(WeightMeasurement.UUID, Properties.INDICATE)
        self.weights = StoredRecords(self, self._weight)

    def _services(self) -> list[Service]:
        feature = characteristic(
            WeightScaleFeature.UUID, Properties.READ, read=lambda _connection: bytes(self.feature)
        )
        return [Service(uuid16(WEIGHT_SCALE_SERVICE), [feature, self._weight])]

    def store(self, *readings: WeightMeasurement) -> None:
        """Keep weight readings to indicate when a collector subscribes."""
        self.weights.store(*readings)

    async def measure(self, reading: WeightMeasurement) -> bool:
        """Weigh someone: store the reading and deliver it if a collector is subscribed."""
        return await self.weights.measure(reading)


class BodyCompositionScale(WeightScale):
    """A scale that also measures body composition (impedance)."""

    DEFAULT_NAME = "Body Composition Scale"
    MODEL = "Body Composition Scale"
    ADVERTISED_SERVICES = (WEIGHT_SCALE_SERVICE, BODY_COMPOSITION_SERVICE)

    def __init__(
        self,
        air: VirtualAir,
        *,
        feature: WeightScaleFeature = MULTI_USER_SCALE,
        body_features: BodyCompositionFeature = ALL_BODY_COMPOSITION,
        **options: Unpack[PeripheralOptions],
    ) -> None:
        super().__init__(air, feature=feature, **options)
        self.body_features = body_features
        self._body = characteristic(BodyCompositionMeasurement.UUID, Properties.INDICATE)
        self.compositions = StoredRecords(self, self._body)

    def _services(self) -> list[Service]:
        feature = characteristic(
            BODY_COMPOSITION_FEATURE,
            Properties.READ,
            read=lambda _connection: struct.pack("<I", self.body_features),
        )
        return [
            *super()._services(),
            Service(uuid16(BODY_COMPOSITION_SERVICE), [feature, self._body]),
        ]

    def store_body_composition(self, *readings: BodyCompositionMeasurement) -> None:
        """Keep body composition readings to indicate when a collector subscribes."""
        self.compositions.store(*readings)

    async def measure_body_composition(self, reading: BodyCompositionMeasurement) -> bool:
        """Store a body composition reading and deliver it if a collector is subscribed."""
        return await self.compositions.measure(reading)
