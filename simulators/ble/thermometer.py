"""A virtual thermometer: Health Thermometer service 0x1809.

* Temperature Measurement 0x2A1C: indicate; stored readings are indicated when a
  collector subscribes.
* Temperature Type 0x2A1D: read (where the thermometer measures).
* Intermediate Temperature 0x2A1E: notify (readings while measuring).
"""

from __future__ import annotations

from typing import Final, Unpack

from bumble.gatt import Service

from edge.decoders import TemperatureMeasurement, TemperatureType
from simulators.ble.air import VirtualAir
from simulators.ble.attributes import Properties, characteristic, uuid16
from simulators.ble.peripheral import PeripheralOptions, VirtualPeripheral
from simulators.ble.records import StoredRecords

HEALTH_THERMOMETER_SERVICE: Final = 0x1809
TEMPERATURE_TYPE: Final = 0x2A1D
INTERMEDIATE_TEMPERATURE: Final = 0x2A1E


class Thermometer(VirtualPeripheral):
    """An ear or armpit thermometer."""

    DEFAULT_NAME = "Thermometer"
    MODEL = "Thermometer"
    ADVERTISED_SERVICES = (HEALTH_THERMOMETER_SERVICE,)

    def __init__(
        self,
        air: VirtualAir,
        *,
        site: TemperatureType = TemperatureType.EAR,
        **options: Unpack[PeripheralOptions],
    ) -> None:
        super().__init__(air, **options)
        self.site = site
        self._measurement = characteristic(TemperatureMeasurement.UUID, Properties.INDICATE)
        self._intermediate = characteristic(INTERMEDIATE_TEMPERATURE, Properties.NOTIFY)
        self.records = StoredRecords(self, self._measurement)

    def _services(self) -> list[Service]:
        site = characteristic(
            TEMPERATURE_TYPE, Properties.READ, read=lambda _connection: bytes((self.site,))
        )
        return [
            Service(
                uuid16(HEALTH_THERMOMETER_SERVICE), [self._measurement, site, self._intermediate]
            )
        ]

    def store(self, *readings: TemperatureMeasurement) -> None:
        """Keep readings to indicate when a collector subscribes."""
        self.records.store(*readings)

    async def measure(self, reading: TemperatureMeasurement) -> bool:
        """Take a temperature: store it and deliver it if a collector is subscribed."""
        return await self.records.measure(reading)

    async def notify_intermediate(self, reading: TemperatureMeasurement) -> int:
        """Notify an Intermediate Temperature while measuring."""
        return await self._send(self._intermediate, reading, indicate=False)
