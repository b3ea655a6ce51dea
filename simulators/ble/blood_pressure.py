"""A virtual blood pressure monitor: Blood Pressure service 0x1810.

* Blood Pressure Measurement 0x2A35: indicate; stored readings are indicated when a
  collector enables indications (``bp.store(...)``, ``await bp.measure(...)``).
* Intermediate Cuff Pressure 0x2A36: notify (``await bp.notify_cuff_pressure(...)``).
* Blood Pressure Feature 0x2A49: read.
"""

from __future__ import annotations

import enum
import struct
from typing import Final, Unpack

from bumble.gatt import Service

from edge.decoders import BloodPressureMeasurement
from simulators.ble.air import VirtualAir
from simulators.ble.attributes import Properties, characteristic, uuid16
from simulators.ble.peripheral import PeripheralOptions, VirtualPeripheral
from simulators.ble.records import StoredRecords

BLOOD_PRESSURE_SERVICE: Final = 0x1810
INTERMEDIATE_CUFF_PRESSURE: Final = 0x2A36
BLOOD_PRESSURE_FEATURE: Final = 0x2A49


class BloodPressureFeature(enum.IntFlag):
    """Blood Pressure Feature 0x2A49 bits (BLS 3.3)."""

    BODY_MOVEMENT_DETECTION = 0x0001
    CUFF_FIT_DETECTION = 0x0002
    IRREGULAR_PULSE_DETECTION = 0x0004
    PULSE_RATE_RANGE_DETECTION = 0x0008
    MEASUREMENT_POSITION_DETECTION = 0x0010
    MULTIPLE_BOND = 0x0020


ALL_FEATURES: Final = BloodPressureFeature(0x003F)


class BloodPressureMonitor(VirtualPeripheral):
    """An upper-arm monitor that stores readings and indicates them to the gateway."""

    DEFAULT_NAME = "BP Monitor"
    MODEL = "BP Monitor"
    ADVERTISED_SERVICES = (BLOOD_PRESSURE_SERVICE,)

    def __init__(
        self,
        air: VirtualAir,
        *,
        features: BloodPressureFeature = ALL_FEATURES,
        **options: Unpack[PeripheralOptions],
    ) -> None:
        super().__init__(air, **options)
        self.features = features
        self._measurement = characteristic(BloodPressureMeasurement.UUID, Properties.INDICATE)
        self._cuff = characteristic(INTERMEDIATE_CUFF_PRESSURE, Properties.NOTIFY)
        self.records = StoredRecords(self, self._measurement)

    def _services(self) -> list[Service]:
        feature = characteristic(
            BLOOD_PRESSURE_FEATURE,
            Properties.READ,
            read=lambda _connection: struct.pack("<H", self.features),
        )
        return [Service(uuid16(BLOOD_PRESSURE_SERVICE), [self._measurement, self._cuff, feature])]

    def store(self, *readings: BloodPressureMeasurement) -> None:
        """Keep readings to indicate when a collector subscribes."""
        self.records.store(*readings)

    async def measure(self, reading: BloodPressureMeasurement) -> bool:
        """Take a reading: store it and deliver it if a collector is subscribed."""
        return await self.records.measure(reading)

    async def notify_cuff_pressure(self, pressure: BloodPressureMeasurement) -> int:
        """Notify an Intermediate Cuff Pressure value (systolic = current cuff pressure)."""
        return await self._send(self._cuff, pressure, indicate=False)
