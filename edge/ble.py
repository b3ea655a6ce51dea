"""The BLE source: passive scanning for advert devices, connections for GATT devices (bleak).

* **Adverts.** One scanner runs all the time. Service data of Xiaomi scales (0x181D, 0x181B)
  and the Xiaomi band broadcast (manufacturer 0x0157) from registered ``advert`` devices go
  straight to the sink. A watchdog restarts the scanner when no advert arrived for a while
  although one was expected (BlueZ scanners are known to go quiet after adapter hiccups);
  while every GATT device is connected none is, and the scanner is left alone
  (:mod:`edge.scan_watchdog`).
* **GATT devices.** Each registered ``ble`` device gets a task that connects when the
  device is heard, discovers its services, subscribes to every health measurement it has
  (notify or indicate), reads its battery (and subscribes to the level where it
  notifies), sets its clock through Current Time where that is writable, asks a Record
  Access Control Point for the records stored since the last one seen, and then listens
  until the device disconnects. Connections share a budget per
  adapter (default 5, a semaphore); reconnects back off exponentially with jitter; each
  device logs once when it fails and once when it recovers.

bleak objects come from the factories given to the constructor, so the same code runs on
BlueZ (real adapters) and on the Bumble virtual air (``simulators.bleak_bumble``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from edge.backoff import Backoff
from edge.decoders import (
    BodyCompositionMeasurement,
    CurrentTime,
    DateTime,
    RecordAccessControlPoint,
    lookup,
    merge_body_composition,
)
from edge.decoders.racp import RACPOperator
from edge.decoders.xiaomi import XIAOMI_COMPANY_ID
from edge.errors import DecodeError
from edge.registry import Device, Registry, Transport
from edge.scan_watchdog import ScanWatchdog, adverts_expected

logger = logging.getLogger(__name__)

#: Measurement characteristics the gateway subscribes to, by 16-bit UUID.
MEASUREMENTS: Final = (0x2A37, 0x2A35, 0x2A9D, 0x2A9C, 0x2A5E, 0x2A5F, 0x2A1C, 0x2A18)
BATTERY_LEVEL: Final = 0x2A19
CURRENT_TIME: Final = 0x2A2B
RACP: Final = 0x2A52
BODY_COMPOSITION: Final = 0x2A9C
#: How long to wait for the rest of a multiple-packet body-composition reading.
MULTI_PACKET_WAIT_S: Final = 1.0
_SIG_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"
_SERVICE_DATA: Final = {0x181D: "mi_scale", 0x181B: "mi_body_scale"}
_XIAOMI_PREFIX: Final = XIAOMI_COMPANY_ID.to_bytes(2, "little")


def uuid16(uuid: str) -> int | None:
    """The 16-bit value of a SIG UUID in bleak's 128-bit spelling, else None."""
    text = uuid.lower()
    if (
        len(text) == 36
        and text.startswith("0000")
        and text.endswith("-0000-1000-8000-00805f9b34fb")
    ):
        return int(text[4:8], 16)
    return None


class PayloadSink(Protocol):
    """Where the source delivers what devices send (the gateway)."""

    def payload(self, device_id: str, name: str, payload: bytes, received_at: datetime) -> None:
        """A measurement payload of ``name`` (``carepulse decode`` name) from a device."""

    def battery(self, device_id: str, percent: int) -> None:
        """A battery level read from a device."""


ScannerFactory = Callable[[Callable[[BLEDevice, AdvertisementData], None]], BleakScanner]
#: Builds a client for a device; the callback runs when the device disconnects.
ClientFactory = Callable[[BLEDevice, Callable[[BleakClient], None]], BleakClient]
Clock = Callable[[], datetime]


def bleak_factories() -> tuple[ScannerFactory, ClientFactory]:
    """Factories for bleak's default backend (BlueZ on Linux): real adapters."""
    return (
        lambda callback: BleakScanner(callback),
        lambda device, on_disconnect: BleakClient(device, disconnected_callback=on_disconnect),
    )


@dataclass(slots=True)
class _DeviceState:
    device: Device
    seen: asyncio.Event = field(default_factory=asyncio.Event)
    ble_device: BLEDevice | None = None
    failures: int = 0
    last_sequence: int | None = None
    connected: bool = False
    paired: bool = False
    parts: list[BodyCompositionMeasurement] = field(default_factory=list)
    parts_timer: asyncio.TimerHandle | None = None


class BleSource:
    """Reads every registered BLE device until cancelled."""

    def __init__(
        self,
        registry: Registry,
        sink: PayloadSink,
        *,
        scanner_factory: ScannerFactory,
        client_factory: ClientFactory,
        connection_budget: int = 5,
        backoff: Backoff | None = None,
        scanner_watchdog_s: float = 60.0,
        clock: Clock = lambda: datetime.now(UTC),
        logger: logging.Logger | None = None,
    ) -> None:
        self.registry = registry
        self.sink = sink
        self._new_scanner = scanner_factory
        self._new_client = client_factory
        self._budget = asyncio.Semaphore(connection_budget)
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=120.0)
        self._watchdog = ScanWatchdog(scanner_watchdog_s)
        self._clock = clock
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self.adverts = 0
        self.scanner_restarts = 0
        #: Restarts since the last advert (the first is a warning, the rest are not).
        self._quiet_restarts = 0
        self._gatt = {
            d.id.upper(): _DeviceState(d) for d in registry if d.transport is Transport.BLE
        }

    async def run(self) -> None:
        """Scan and keep every GATT device connected until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._scan())
            for state in self._gatt.values():
                tasks.create_task(self._keep_connected(state))

    # -- adverts ---------------------------------------------------------------------------

    def _on_advert(self, ble_device: BLEDevice, advert: AdvertisementData) -> None:
        self.adverts += 1
        self._watchdog.heard(asyncio.get_running_loop().time())
        if self._quiet_restarts:
            self._log.info(
                "ble: adverts heard again after %d scanner restart(s)", self._quiet_restarts
            )
            self._quiet_restarts = 0
        address = ble_device.address.upper()
        state = self._gatt.get(address)
        if state is not None:
            state.ble_device = ble_device
            state.seen.set()
            return
        device = self.registry.lookup(address)
        if device is None or device.transport is not Transport.ADVERT:
            return
        received_at = self._clock()
        for uuid, data in advert.service_data.items():
            name = _SERVICE_DATA.get(uuid16(uuid) or -1)
            if name is not None:
                self._log.debug("advert %s %s %s", device.id, name, data.hex())
                self.sink.payload(device.id, name, bytes(data), received_at)
        band = advert.manufacturer_data.get(XIAOMI_COMPANY_ID)
        if band is not None:
            self.sink.payload(
                device.id, "mi_band_heart_rate", _XIAOMI_PREFIX + bytes(band), received_at
            )

    def adverts_expected(self) -> bool:
        """Whether a registered GATT device is not connected (so it should be advertising)."""
        return adverts_expected(state.connected for state in self._gatt.values())

    async def _scan(self) -> None:
        loop = asyncio.get_running_loop()
        watchdog = self._watchdog
        check_s = min(watchdog.limit_s / 4, 5.0)
        while True:
            scanner = self._new_scanner(self._on_advert)
            try:
                await scanner.start()
                watchdog.started(loop.time())
                while not watchdog.due(loop.time(), expected := self.adverts_expected()):
                    if not expected and self._quiet_restarts:
                        self._log.info(
                            "ble: every device connected again after %d scanner restart(s)",
                            self._quiet_restarts,
                        )
                        self._quiet_restarts = 0
                    await asyncio.sleep(check_s)
                self.scanner_restarts += 1
                self._quiet_restarts += 1
                self._log.log(
                    logging.WARNING if self._quiet_restarts == 1 else logging.DEBUG,
                    "ble: no advert for %g s although a device is not connected; "
                    "restarting the scanner",
                    watchdog.limit_s,
                )
            except BleakError as exc:
                _reraise_if_cancelled(exc)
                self._log.warning("ble: scanner failed (%s); retrying", exc)
                await asyncio.sleep(self._backoff.delay(1))
            finally:
                with contextlib.suppress(BleakError):
                    await scanner.stop()

    # -- GATT devices ----------------------------------------------------------------------

    async def _keep_connected(self, state: _DeviceState) -> None:
        device = state.device
        while True:
            await state.seen.wait()
            state.seen.clear()
            assert state.ble_device is not None  # noqa: S101  # set together with `seen`
            try:
                async with self._budget:
                    await self._session(state, state.ble_device)
                if state.failures:
                    self._log.info("ble: %s is back after %d failures", device.id, state.failures)
                state.failures = 0
                if device.mode.value == "poll":
                    await asyncio.sleep(device.poll_interval_s)
            except (BleakError, TimeoutError, OSError) as exc:
                _reraise_if_cancelled(exc)
                if state.failures == 0:
                    self._log.warning("ble: %s: %s; retrying with backoff", device.id, exc)
                state.failures += 1
                await asyncio.sleep(self._backoff.delay(state.failures))
                state.seen.set()  # try again even if no new advert arrives

    async def _session(self, state: _DeviceState, ble_device: BLEDevice) -> None:
        device = state.device
        disconnected = asyncio.Event()
        client = self._new_client(ble_device, lambda _c: disconnected.set())
        async with client:
            state.connected = True
            try:
                if device.pairing and not state.paired:
                    # Bonded once per gateway run; BlueZ keeps the bond across runs.
                    await client.pair()
                    state.paired = True
                present = {uuid16(c.uuid): c for s in client.services for c in s.characteristics}
                for uuid in MEASUREMENTS:
                    characteristic = present.get(uuid)
                    if characteristic is not None:
                        await client.start_notify(characteristic, self._notifier(state, uuid))
                battery = present.get(BATTERY_LEVEL)
                if battery is not None:
                    level = await client.read_gatt_char(battery)
                    if level:
                        self.sink.battery(device.id, int(level[0]))
                    if "notify" in battery.properties:
                        # A device that stays connected reports a new level (a charge, a
                        # drain) only this way; read once, it would stay at the old one.
                        await client.start_notify(battery, self._battery_notifier(state))
                clock = present.get(CURRENT_TIME)
                if clock is not None and "write" in clock.properties:
                    now = self._clock().astimezone(device.timezone)
                    await client.write_gatt_char(clock, bytes(_current_time(now)), response=True)
                if RACP in present:
                    await self._pull_records(client, state, present[RACP])
                if device.mode.value == "poll":
                    return
                await disconnected.wait()
            finally:
                state.connected = False

    def _battery_notifier(self, state: _DeviceState) -> Callable[[Any, bytearray], None]:
        def on_level(_sender: Any, data: bytearray) -> None:
            if data and data[0] <= 100:
                self.sink.battery(state.device.id, int(data[0]))
            else:
                self._log.warning("ble: %s: battery level %r ignored", state.device.id, data)

        return on_level

    def _notifier(self, state: _DeviceState, uuid: int) -> Callable[[Any, bytearray], None]:
        decoder = lookup(uuid)
        name = decoder.NAME if decoder is not None else f"{uuid:04x}"

        def on_value(_sender: Any, data: bytearray) -> None:
            payload = bytes(data)
            self._log.debug("notify %s %s %s", state.device.id, name, payload.hex())
            if uuid == 0x2A18 and len(payload) >= 3:
                state.last_sequence = payload[1] | payload[2] << 8
            if uuid == BODY_COMPOSITION and self._collect_part(state, payload):
                return
            self.sink.payload(state.device.id, name, payload, self._clock())

        return on_value

    def _collect_part(self, state: _DeviceState, payload: bytes) -> bool:
        """Hold the packets of a multiple-packet body-composition reading; True if held.

        The spec does not say how many packets follow; scales send two. The parts are
        merged when the second arrives, or after ``MULTI_PACKET_WAIT_S`` with what came.
        """
        try:
            part = BodyCompositionMeasurement.from_bytes(payload)
        except DecodeError:
            return False  # the ingest rejects it with the reason
        if not part.multiple_packet:
            return False
        state.parts.append(part)
        if len(state.parts) >= 2:
            self._flush_parts(state)
        elif state.parts_timer is None:
            loop = asyncio.get_running_loop()
            state.parts_timer = loop.call_later(MULTI_PACKET_WAIT_S, self._flush_parts, state)
        return True

    def _flush_parts(self, state: _DeviceState) -> None:
        parts, state.parts = state.parts, []
        if state.parts_timer is not None:
            state.parts_timer.cancel()
            state.parts_timer = None
        if not parts:
            return
        try:
            payload = bytes(merge_body_composition(parts))
        except DecodeError:
            payload = b"".join(bytes(p) for p in parts)  # rejected downstream, with the reason
        self.sink.payload(state.device.id, BodyCompositionMeasurement.NAME, payload, self._clock())

    async def _pull_records(self, client: BleakClient, state: _DeviceState, racp: Any) -> None:
        """Ask for the stored records after the last sequence number seen (all the first time)."""
        answered = asyncio.Event()

        def on_response(_sender: Any, data: bytearray) -> None:
            answered.set()

        await client.start_notify(racp, on_response)
        if state.last_sequence is None:
            request = RecordAccessControlPoint.report_stored_records()
        else:
            request = RecordAccessControlPoint.report_stored_records(
                RACPOperator.GREATER_THAN_OR_EQUAL_TO, minimum=state.last_sequence + 1
            )
        await client.write_gatt_char(racp, bytes(request), response=True)
        await asyncio.wait_for(answered.wait(), timeout=30)


def _reraise_if_cancelled(exc: BaseException) -> None:
    """A backend may turn our own cancellation into a BleakError; never retry through it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


def _current_time(now: datetime) -> CurrentTime:
    return CurrentTime(
        DateTime(now.year, now.month, now.day, now.hour, now.minute, now.second),
        day_of_week=now.isoweekday(),
    )
