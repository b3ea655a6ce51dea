"""A virtual glucose meter: Glucose service 0x1808 with a working RACP.

* Glucose Measurement 0x2A18 and Glucose Measurement Context 0x2A34: notify, sent only
  in answer to a Record Access Control Point request.
* Glucose Feature 0x2A51: read.
* Record Access Control Point 0x2A52: write and indicate. Report Stored Records, Delete
  Stored Records, Abort Operation and Report Number of Stored Records with every
  operator, filtered by sequence number or user facing time (decisions in
  :mod:`simulators.racp`). A write while the collector has not enabled Glucose
  Measurement notifications and RACP indications is refused with ATT error 0xFD (CCCD
  improperly configured), one while a procedure runs with 0xFE (procedure already in
  progress), as GLS 1.0 3.6.1 requires.

::

    meter.store(GlucoseMeasurement(1, DateTime(2026, 5, 1, 7, 30), concentration=0.0055))
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import struct
from datetime import datetime, timedelta
from typing import Any, Final, Unpack

from bumble.device import Connection
from bumble.gatt import Service

from edge.decoders import GlucoseMeasurement, GlucoseMeasurementContext, RecordAccessControlPoint
from edge.decoders.racp import RACPOpCode
from simulators.ble.air import VirtualAir
from simulators.ble.attributes import AppError, Properties, att_error, characteristic, uuid16
from simulators.ble.peripheral import PeripheralOptions, VirtualPeripheral
from simulators.racp import RecordKeys, answer

GLUCOSE_SERVICE: Final = 0x1808
GLUCOSE_FEATURE: Final = 0x2A51


class GlucoseFeature(enum.IntFlag):
    """Glucose Feature 0x2A51 bits (GLS 3.3)."""

    LOW_BATTERY_DETECTION = 1 << 0
    SENSOR_MALFUNCTION_DETECTION = 1 << 1
    SENSOR_SAMPLE_SIZE = 1 << 2
    SENSOR_STRIP_INSERTION_ERROR = 1 << 3
    SENSOR_STRIP_TYPE_ERROR = 1 << 4
    SENSOR_RESULT_HIGH_LOW = 1 << 5
    SENSOR_TEMPERATURE_HIGH_LOW = 1 << 6
    SENSOR_READ_INTERRUPT = 1 << 7
    GENERAL_DEVICE_FAULT = 1 << 8
    TIME_FAULT = 1 << 9
    MULTIPLE_BOND = 1 << 10


def _facing_time(
    record: tuple[GlucoseMeasurement, GlucoseMeasurementContext | None],
) -> datetime | None:
    measurement = record[0]
    base = measurement.base_time.to_datetime()
    if base is None:
        return None
    return base + timedelta(minutes=measurement.time_offset or 0)


_KEYS: Final[RecordKeys[tuple[GlucoseMeasurement, GlucoseMeasurementContext | None]]] = RecordKeys(
    sequence_number=lambda record: record[0].sequence_number, facing_time=_facing_time
)


class GlucoseMeter(VirtualPeripheral):
    """A blood glucose meter whose stored readings the gateway fetches through RACP."""

    DEFAULT_NAME = "Glucose Meter"
    MODEL = "Glucose Meter"
    ADVERTISED_SERVICES = (GLUCOSE_SERVICE,)

    def __init__(
        self,
        air: VirtualAir,
        *,
        features: GlucoseFeature = GlucoseFeature.LOW_BATTERY_DETECTION,
        **options: Unpack[PeripheralOptions],
    ) -> None:
        super().__init__(air, **options)
        self.features = features
        self._records: list[tuple[GlucoseMeasurement, GlucoseMeasurementContext | None]] = []
        self._measurement = characteristic(GlucoseMeasurement.UUID, Properties.NOTIFY)
        self._context = characteristic(GlucoseMeasurementContext.UUID, Properties.NOTIFY)
        self._racp = characteristic(
            RecordAccessControlPoint.UUID,
            Properties.WRITE | Properties.INDICATE,
            write=self._on_racp_write,
        )
        self._procedure: asyncio.Task[Any] | None = None

    def _services(self) -> list[Service]:
        feature = characteristic(
            GLUCOSE_FEATURE,
            Properties.READ,
            read=lambda _connection: struct.pack("<H", self.features),
        )
        return [
            Service(
                uuid16(GLUCOSE_SERVICE), [self._measurement, self._context, feature, self._racp]
            )
        ]

    # -- driving API -------------------------------------------------------------------
    def store(
        self, measurement: GlucoseMeasurement, context: GlucoseMeasurementContext | None = None
    ) -> None:
        """Keep a reading (and its context); records are kept in sequence-number order."""
        if context is not None and not measurement.context_follows:
            measurement = dataclasses.replace(measurement, context_follows=True)
        self._records.append((measurement, context))
        self._records.sort(key=lambda record: record[0].sequence_number)

    @property
    def records(self) -> tuple[GlucoseMeasurement, ...]:
        """The stored readings, in sequence-number order."""
        return tuple(measurement for measurement, _ in self._records)

    # -- RACP ----------------------------------------------------------------------------
    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        busy = self._procedure is not None and not self._procedure.done()
        if busy and value[:1] != bytes((RACPOpCode.ABORT_OPERATION,)):
            raise att_error(AppError.PROCEDURE_ALREADY_IN_PROGRESS)
        if not (
            self._subscribed(connection, self._racp, indicate=True)
            and self._subscribed(connection, self._measurement, indicate=False)
        ):
            raise att_error(AppError.CCCD_IMPROPERLY_CONFIGURED)
        plan = answer(value, self._records, _KEYS)
        self._log.debug(
            "glucose meter %s RACP %s -> %s", self.address, value.hex(), bytes(plan.response).hex()
        )
        if plan.abort and busy and self._procedure is not None:
            self._procedure.cancel()
        self._procedure = self._spawn(self._carry_out(plan.report, plan.delete, plan.response))

    async def _carry_out(
        self, report: tuple[int, ...], delete: tuple[int, ...], response: RecordAccessControlPoint
    ) -> None:
        for index in report:
            measurement, context = self._records[index]
            await self._send(self._measurement, measurement, indicate=False)
            if context is not None:
                await self._send(self._context, context, indicate=False)
        if delete:
            doomed = set(delete)
            self._records = [r for i, r in enumerate(self._records) if i not in doomed]
        if not self._faults.silent:
            await self._deliver(self._racp, bytes(response), indicate=True)
