"""A virtual pulse oximeter: Pulse Oximeter service 0x1822.

* PLX Spot-check Measurement 0x2A5E: indicate; stored spot checks are indicated when a
  collector subscribes.
* PLX Continuous Measurement 0x2A5F: notify.
* PLX Features 0x2A60: read (measurement status and device/sensor status supported).

Spot-check storage through a Record Access Control Point is not simulated here (the
glucose meter shows RACP).
"""

from __future__ import annotations

import enum
import struct
from typing import Final, Unpack

from bumble.gatt import Service

from edge.decoders import PLXContinuousMeasurement, PLXSpotCheckMeasurement
from simulators.ble.air import VirtualAir
from simulators.ble.attributes import Properties, characteristic, uuid16
from simulators.ble.peripheral import PeripheralOptions, VirtualPeripheral
from simulators.ble.records import StoredRecords

PULSE_OXIMETER_SERVICE: Final = 0x1822
PLX_FEATURES: Final = 0x2A60


class PLXSupportedFeatures(enum.IntFlag):
    """PLX Features 0x2A60, Supported Features field bits (PLXS 3.3.1.1)."""

    MEASUREMENT_STATUS = 1 << 0
    DEVICE_AND_SENSOR_STATUS = 1 << 1
    SPOT_CHECK_STORAGE = 1 << 2
    SPOT_CHECK_TIMESTAMP = 1 << 3
    SPO2PR_FAST = 1 << 4
    SPO2PR_SLOW = 1 << 5
    PULSE_AMPLITUDE_INDEX = 1 << 6
    MULTIPLE_BONDS = 1 << 7


DEFAULT_PLX_FEATURES: Final = (
    PLXSupportedFeatures.SPOT_CHECK_TIMESTAMP | PLXSupportedFeatures.PULSE_AMPLITUDE_INDEX
)


class PulseOximeter(VirtualPeripheral):
    """A fingertip oximeter with spot checks and a continuous stream."""

    DEFAULT_NAME = "Pulse Oximeter"
    MODEL = "Pulse Oximeter"
    ADVERTISED_SERVICES = (PULSE_OXIMETER_SERVICE,)

    def __init__(
        self,
        air: VirtualAir,
        *,
        features: PLXSupportedFeatures = DEFAULT_PLX_FEATURES,
        **options: Unpack[PeripheralOptions],
    ) -> None:
        super().__init__(air, **options)
        self.features = features
        self._spot = characteristic(PLXSpotCheckMeasurement.UUID, Properties.INDICATE)
        self._continuous = characteristic(PLXContinuousMeasurement.UUID, Properties.NOTIFY)
        self.spot_checks = StoredRecords(self, self._spot)

    def _services(self) -> list[Service]:
        features = characteristic(
            PLX_FEATURES, Properties.READ, read=lambda _connection: struct.pack("<H", self.features)
        )
        return [Service(uuid16(PULSE_OXIMETER_SERVICE), [self._spot, self._continuous, features])]

    def store(self, *readings: PLXSpotCheckMeasurement) -> None:
        """Keep spot checks to indicate when a collector subscribes."""
        self.spot_checks.store(*readings)

    async def measure(self, reading: PLXSpotCheckMeasurement) -> bool:
        """Take a spot check: store it and deliver it if a collector is subscribed."""
        return await self.spot_checks.measure(reading)

    async def notify_continuous(self, reading: PLXContinuousMeasurement) -> int:
        """Notify one continuous SpO2/pulse reading."""
        return await self._send(self._continuous, reading, indicate=False)
