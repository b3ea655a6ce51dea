"""The base of every virtual BLE device: a radio on the air, adverts, faults.

:class:`VirtualDevice` owns one Bumble ``Device`` (its radio) and advertises; the Xiaomi
advertisers stop there. :class:`VirtualPeripheral` adds a GATT server with the services
every health device carries (Device Information 0x180A, Battery 0x180F, Current Time
0x1805), connection handling, notification and indication delivery, stored records and
the fault switches. Subclasses add their health service and a driving API
(``await band.notify_heart_rate(...)``).

Payloads are always ``bytes(measurement)`` of an ``edge.decoders`` dataclass, so the
simulator and the gateway share one encoding.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Final, Self, TypedDict

from bumble.att import ErrorCode
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, Service
from bumble.profiles.device_information_service import DeviceInformationService

from edge.decoders import BatteryLevel, ByteSerializable, CurrentTime, DecodeError
from simulators.ble.advertising import build_advert
from simulators.ble.air import Listing, VirtualAir, normalize_address
from simulators.ble.attributes import AppError, Properties, att_error, characteristic, uuid16
from simulators.clock import DeviceClock
from simulators.errors import DeviceNotRunningError
from simulators.faults import DROP_REASON, REFUSE_REASON, Faults, malform, shift_timestamps

logger = logging.getLogger(__name__)

BATTERY_SERVICE: Final = 0x180F
CURRENT_TIME_SERVICE: Final = 0x1805
#: CTS Adjust Reason bit "manual time update" (CTS 3.1.2.1).
MANUAL_TIME_UPDATE: Final = 0x01


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The strings of the Device Information service (0x180A)."""

    manufacturer: str = "carepulse"
    model: str = "virtual"
    serial: str = "0000"
    hardware: str = "1.0"
    firmware: str = "1.0.0"
    software: str = "1.0.0"


class PeripheralOptions(TypedDict, total=False):
    """Keyword options every virtual peripheral takes (see :class:`VirtualPeripheral`)."""

    name: str | None
    address: str | None
    info: DeviceInfo | None
    battery_level: int
    clock: DeviceClock | None
    clock_writable: bool
    logger: logging.Logger | None


class VirtualDevice:
    """A radio on the virtual air that advertises; subclasses say what.

    ``address`` defaults to one the air allocates; ``clock`` to the station's clock.
    Use as ``async with Device(air, ...) as device`` or ``await device.start()`` /
    ``await device.stop()``.
    """

    #: Local name when none is given.
    DEFAULT_NAME: ClassVar[str] = "Virtual device"

    def __init__(
        self,
        air: VirtualAir,
        *,
        name: str | None = None,
        address: str | None = None,
        clock: DeviceClock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.air = air
        self.name = name or self.DEFAULT_NAME
        self.address = normalize_address(address) if address else air.allocate_address()
        self.clock = clock or DeviceClock()
        self._log = logger or globals()["logger"]
        self._radio: Device | None = None
        self._faults = Faults()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Bumble's start/stop_advertising must not interleave: two stops at once remove
        # the same advertising set twice (KeyError in Bumble). One change at a time.
        self._advertising = asyncio.Lock()

    # -- life cycle ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the device is on the air."""
        return self._radio is not None

    async def start(self) -> None:
        """Power the radio on, build the GATT table and start advertising (idempotent)."""
        if self._radio is not None:
            return
        radio = await self.air.open_radio(self.name, self.address)
        self._radio = radio
        self._setup(radio)
        self.air.list_peripheral(Listing(self.address, self.name))
        await self._advertise()
        self._log.info("virtual %s %r up at %s", type(self).__name__, self.name, self.address)

    async def stop(self) -> None:
        """Drop every link, stop advertising and take the radio off the air (idempotent)."""
        radio = self._radio
        if radio is None:
            return
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.air.unlist_peripheral(self.address)
        try:
            async with self._advertising:
                await radio.stop_advertising()
            for connection in list(radio.connections.values()):
                await connection.disconnect(DROP_REASON)
        finally:
            self._radio = None
            await self.air.close_radio(radio)
        self._log.info("virtual %s %r down", type(self).__name__, self.name)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- faults ----------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The fault switches in force (all off by default)."""
        return self._faults

    async def set_faults(self, faults: Faults) -> None:
        """Switch faults on or off; going silent stops adverts at once, and back resumes them."""
        silent_changed = faults.silent != self._faults.silent
        self._faults = faults
        self._log.info("virtual device %s faults: %s", self.address, faults)
        if silent_changed and self._radio is not None:
            await self._advertise()

    # -- hooks -----------------------------------------------------------------------
    def _setup(self, radio: Device) -> None:
        """Add services and listeners to a freshly powered radio."""

    def _advert(self) -> bytes:
        """The advert payload right now."""
        return build_advert(self.name, name=self.name)

    def _connectable(self) -> bool:
        return True

    # -- helpers ---------------------------------------------------------------------
    def _require(self) -> Device:
        if self._radio is None:
            raise DeviceNotRunningError(self.name)
        return self._radio

    async def _advertise(self) -> None:
        """Advertise the current advert, or stay quiet while silent or connected."""
        async with self._advertising:
            radio = self._radio
            if radio is None:
                return
            if self._faults.silent or radio.connections:
                await radio.stop_advertising()
                return
            await radio.start_advertising(advertising_data=self._advert())

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(
                "virtual device %s: background task failed",
                self.address,
                exc_info=task.exception(),
            )


class VirtualPeripheral(VirtualDevice):
    """A connectable health device with a GATT server.

    Subclasses return their health services from :meth:`_services` and the 16-bit UUIDs
    to advertise from :attr:`ADVERTISED_SERVICES`. Every peripheral also carries Device
    Information, Battery (read, notify) and Current Time (read, notify, and write when
    ``clock_writable``; a write sets :attr:`clock`).
    """

    ADVERTISED_SERVICES: ClassVar[tuple[int, ...]] = ()
    #: Model Number String of the default Device Information.
    MODEL: ClassVar[str] = "Virtual device"

    def __init__(
        self,
        air: VirtualAir,
        *,
        name: str | None = None,
        address: str | None = None,
        info: DeviceInfo | None = None,
        battery_level: int = 100,
        clock: DeviceClock | None = None,
        clock_writable: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(air, name=name, address=address, clock=clock, logger=logger)
        self.info = info or DeviceInfo(model=self.MODEL, serial=self.address.replace(":", ""))
        self._battery = BatteryLevel(battery_level)
        bytes(self._battery)  # range check now rather than at the first read
        self._clock_writable = clock_writable
        self._last: tuple[Characteristic[bytes], bytes, bool] | None = None
        self._sent_on_link = 0
        self._stored: dict[int, deque[ByteSerializable]] = {}
        self._flushes: dict[int, asyncio.Task[Any]] = {}
        self._battery_char = characteristic(
            BatteryLevel.UUID,
            Properties.READ | Properties.NOTIFY,
            read=lambda _connection: bytes(self._battery),
        )
        time_properties = Properties.READ | Properties.NOTIFY
        if clock_writable:
            time_properties |= Properties.WRITE
        self._time_char = characteristic(
            CurrentTime.UUID,
            time_properties,
            read=lambda _connection: bytes(CurrentTime.from_datetime(self.clock.now())),
            write=self._on_time_write,
        )

    # -- what the gateway can read ----------------------------------------------------
    @property
    def battery_level(self) -> int:
        """The battery level in percent."""
        return self._battery.level

    @property
    def connected(self) -> bool:
        """Whether a central holds a link to this device."""
        return bool(self._radio is not None and self._radio.connections)

    @property
    def pending_records(self) -> int:
        """Stored readings not yet delivered to a central (indications awaiting a link)."""
        return sum(len(queue) for queue in self._stored.values())

    # -- one-off faults and device actions --------------------------------------------
    async def set_battery(self, level: int) -> None:
        """Set the battery level (``5`` for a low battery) and notify subscribers."""
        self._battery = BatteryLevel(level)
        payload = bytes(self._battery)
        if self._radio is not None and not self._faults.silent:
            await self._deliver(self._battery_char, payload, indicate=False)

    async def set_clock_error(self, offset: timedelta) -> None:
        """Run a wrong clock: ``offset`` ahead of true time (negative: behind)."""
        self.clock.offset = offset
        if self._radio is not None and not self._faults.silent:
            now = CurrentTime.from_datetime(self.clock.now(), MANUAL_TIME_UPDATE)
            await self._deliver(self._time_char, bytes(now), indicate=False)

    async def drop_connections(self, reason: int = DROP_REASON) -> None:
        """Disconnect every central now (a disconnect mid-stream)."""
        radio = self._require()
        for connection in list(radio.connections.values()):
            await connection.disconnect(reason)

    async def resend_last(self) -> int:
        """Send the last measurement payload again; returns how many centrals got it."""
        self._require()
        if self._last is None or self._faults.silent:
            return 0
        char, payload, indicate = self._last
        return await self._transmit(char, payload, indicate)

    # -- GATT table ----------------------------------------------------------------------
    def _services(self) -> list[Service]:
        """The device's health services."""
        return []

    def _setup(self, radio: Device) -> None:
        info = self.info
        services = [
            *self._services(),
            DeviceInformationService(
                manufacturer_name=info.manufacturer,
                model_number=info.model,
                serial_number=info.serial,
                hardware_revision=info.hardware,
                firmware_revision=info.firmware,
                software_revision=info.software,
            ),
            Service(uuid16(BATTERY_SERVICE), [self._battery_char]),
            Service(uuid16(CURRENT_TIME_SERVICE), [self._time_char]),
        ]
        radio.add_services(services)
        radio.on(Device.EVENT_CONNECTION, self._on_connection)

    def _advert(self) -> bytes:
        return build_advert(self.name, name=self.name, service_uuids=self.ADVERTISED_SERVICES)

    def _on_time_write(self, _connection: Connection, value: bytes) -> None:
        try:
            written = CurrentTime.from_bytes(value)
        except DecodeError:
            raise att_error(ErrorCode.INVALID_ATTRIBUTE_LENGTH) from None
        moment = written.date_time.to_datetime()
        if moment is None:
            # CTS 3.1.3: a value the server cannot use is answered "Data field ignored".
            raise att_error(AppError.CONTROL_POINT_NOT_SUPPORTED)
        self.clock.set(moment + timedelta(seconds=written.fractions256 / 256))
        self._log.info("virtual device %s clock set to %s", self.address, moment.isoformat())

    # -- connections ----------------------------------------------------------------------
    def _on_connection(self, connection: Connection) -> None:
        def on_disconnection(reason: int) -> None:
            self._log.debug("virtual device %s link lost (reason 0x%02X)", self.address, reason)
            if self._radio is not None:
                self._spawn(self._advertise())

        connection.once(Connection.EVENT_DISCONNECTION, on_disconnection)
        if self._faults.refuse_connections:
            self._log.info("virtual device %s refuses %s", self.address, connection.peer_address)
            self._spawn(connection.disconnect(REFUSE_REASON))
            return
        self._sent_on_link = 0
        self._log.debug("virtual device %s connected to %s", self.address, connection.peer_address)

    def _subscribed(
        self, connection: Connection, char: Characteristic[bytes], indicate: bool
    ) -> bool:
        radio = self._radio
        if radio is None:
            return False
        cccd = radio.gatt_server.subscribers.get(connection, {}).get(char.handle)
        return bool(cccd and cccd[0] & (0x02 if indicate else 0x01))

    # -- sending ---------------------------------------------------------------------------
    async def _send(
        self, char: Characteristic[bytes], measurement: ByteSerializable, *, indicate: bool
    ) -> int:
        """Encode with the device's faults and send; returns how many centrals got it."""
        self._require()
        faults = self._faults
        if faults.silent:
            self._log.debug("virtual device %s is silent; dropped %s", self.address, measurement)
            return 0
        payload = bytes(shift_timestamps(measurement, self.clock.offset))
        if faults.malformed:
            payload = malform(payload)
        self._last = (char, payload, indicate)
        return await self._transmit(char, payload, indicate)

    async def _transmit(self, char: Characteristic[bytes], payload: bytes, indicate: bool) -> int:
        reached = await self._deliver(char, payload, indicate=indicate)
        if reached and self._faults.duplicate:
            await self._deliver(char, payload, indicate=indicate)
        if reached:
            self._sent_on_link += 1
            limit = self._faults.disconnect_after
            if limit is not None and self._sent_on_link >= limit:
                self._log.info("virtual device %s drops the link mid-stream", self.address)
                await self.drop_connections()
        return reached

    async def _deliver(self, char: Characteristic[bytes], payload: bytes, *, indicate: bool) -> int:
        radio = self._require()
        reached = 0
        for connection in list(radio.connections.values()):
            if not self._subscribed(connection, char, indicate):
                continue
            self._log.debug(
                "virtual device %s %s %s: %s",
                self.address,
                "indicates" if indicate else "notifies",
                char.uuid,
                payload.hex(),
            )
            if indicate:
                confirmed = await _until_disconnected(
                    connection, radio.indicate_subscriber(connection, char, payload)
                )
                reached += confirmed
            else:
                await radio.notify_subscriber(connection, char, payload)
                reached += 1
        return reached

    # -- stored records ---------------------------------------------------------------------
    def _watch_records(self, char: Characteristic[bytes]) -> None:
        """Indicate stored records on ``char`` whenever a central enables indications."""

        def on_subscription(_bearer: object, _notify: bool, indicate: bool) -> None:
            if indicate:
                self._kick(char)

        char.on(Characteristic.EVENT_SUBSCRIPTION, on_subscription)

    def _store(
        self, char: Characteristic[bytes], records: Iterable[ByteSerializable]
    ) -> asyncio.Task[Any] | None:
        queue = self._stored.setdefault(id(char), deque())
        queue.extend(records)
        return self._kick(char)

    def _kick(self, char: Characteristic[bytes]) -> asyncio.Task[Any] | None:
        radio = self._radio
        if radio is None or not self._stored.get(id(char)):
            return None
        if not any(self._subscribed(c, char, True) for c in radio.connections.values()):
            return None
        running = self._flushes.get(id(char))
        if running is not None and not running.done():
            return running
        task = self._spawn(self._flush(char))
        self._flushes[id(char)] = task
        return task

    async def _flush(self, char: Characteristic[bytes]) -> None:
        queue = self._stored.get(id(char))
        while queue:
            if not await self._send(char, queue[0], indicate=True):
                return
            queue.popleft()

    def _pending(self, char: Characteristic[bytes]) -> tuple[ByteSerializable, ...]:
        return tuple(self._stored.get(id(char), ()))


async def _until_disconnected(connection: Connection, operation: Coroutine[Any, Any, Any]) -> bool:
    """Run ``operation`` unless the link drops first; ``True`` when it completed.

    Bumble's server forgets a pending indication when the link drops but leaves the
    sender waiting for the 30 s GATT timeout; racing the disconnection avoids that.
    """
    loop = asyncio.get_running_loop()
    lost: asyncio.Future[None] = loop.create_future()

    def on_disconnection(_reason: int) -> None:
        if not lost.done():
            lost.set_result(None)

    connection.on(Connection.EVENT_DISCONNECTION, on_disconnection)
    task = loop.create_task(operation)
    try:
        done, _ = await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            return True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    finally:
        connection.remove_listener(Connection.EVENT_DISCONNECTION, on_disconnection)
        if not task.done():
            task.cancel()
