"""A virtual heart-rate band: Heart Rate service 0x180D.

* Heart Rate Measurement 0x2A37: notify (RR intervals, contact and energy as the
  ``HeartRateMeasurement`` you pass).
* Body Sensor Location 0x2A38: read.
* Heart Rate Control Point 0x2A39: write; ``01`` resets energy expended, any other value
  is answered with ATT error 0x80 (HRS 3.3.1, "Control Point value not supported").

::

    async with HeartRateBand(air, name="Band 1") as band:
        await band.notify_heart_rate(HeartRateMeasurement(72, True, rr_intervals=(0.8,)))
"""

from __future__ import annotations

import enum
from typing import Final, Unpack

from bumble.device import Connection
from bumble.gatt import Service

from edge.decoders import HeartRateMeasurement
from simulators.ble.air import VirtualAir
from simulators.ble.attributes import AppError, Properties, att_error, characteristic, uuid16
from simulators.ble.peripheral import PeripheralOptions, VirtualPeripheral

HEART_RATE_SERVICE: Final = 0x180D
BODY_SENSOR_LOCATION: Final = 0x2A38
HEART_RATE_CONTROL_POINT: Final = 0x2A39
#: Heart Rate Control Point value "Reset Energy Expended".
RESET_ENERGY_EXPENDED: Final = 0x01


class BodySensorLocation(enum.IntEnum):
    """Body Sensor Location 0x2A38 values (HRS 3.2)."""

    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


class HeartRateBand(VirtualPeripheral):
    """A wrist band that notifies heart rate with RR intervals and skin contact."""

    DEFAULT_NAME = "HR Band"
    MODEL = "HR Band"
    ADVERTISED_SERVICES = (HEART_RATE_SERVICE,)

    def __init__(
        self,
        air: VirtualAir,
        *,
        location: BodySensorLocation = BodySensorLocation.WRIST,
        **options: Unpack[PeripheralOptions],
    ) -> None:
        super().__init__(air, **options)
        self.location = location
        #: How many times a central reset the energy expended.
        self.energy_resets = 0
        self._measurement = characteristic(HeartRateMeasurement.UUID, Properties.NOTIFY)

    def _services(self) -> list[Service]:
        return [
            Service(
                uuid16(HEART_RATE_SERVICE),
                [
                    self._measurement,
                    characteristic(
                        BODY_SENSOR_LOCATION,
                        Properties.READ,
                        read=lambda _connection: bytes((self.location,)),
                    ),
                    characteristic(
                        HEART_RATE_CONTROL_POINT, Properties.WRITE, write=self._on_control_point
                    ),
                ],
            )
        ]

    async def notify_heart_rate(self, measurement: HeartRateMeasurement) -> int:
        """Notify one measurement; returns how many subscribed centrals it reached."""
        return await self._send(self._measurement, measurement, indicate=False)

    def _on_control_point(self, _connection: Connection, value: bytes) -> None:
        if value != bytes((RESET_ENERGY_EXPENDED,)):
            raise att_error(AppError.CONTROL_POINT_NOT_SUPPORTED)
        self.energy_resets += 1
