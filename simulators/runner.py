"""Run a planned scenario in (accelerated) real time: virtual BLE devices, MQTT devices, gateway.

:func:`run_scenario` starts every BLE device of the plan on one :class:`VirtualAir`,
optionally the real gateway in the same process (``serve_gateway`` with a Bumble
``BleBackend``, MQTT on the stack's Mosquitto, uplink to the stack's Kafka), connects the
MQTT devices to Mosquitto, and then performs each :class:`~simulators.scenario.Action`
when its time comes.

**Time.** Simulated time runs ``speed`` times faster than the wall clock and is anchored
so that the simulated period *ends* when the run ends: ``sim(wall) = sim_start + (wall -
wall_start) * speed`` with ``sim_start`` chosen (at local midnight, see
:func:`anchor_start`) so that ``sim_start + period <= wall_end``. Simulated time is never
ahead of the gateway's clock, so no time-stamped reading looks "in the future" (the
gateway distrusts stamps more than 5 minutes ahead), and a resident who stops checking in
near the end is really silent when the run ends. Devices whose characteristic carries a
time stamp (BP, weight, SpO2 spot check, temperature, glucose, Xiaomi scales) send the
simulated measurement time with their reading (stored records carry their own
time stamps); live notifications without one (heart rate 0x2A37, the band broadcast)
are stamped by the gateway on arrival, so under acceleration they land on the wall
clock, compressed by ``speed``. The truth file gives their expected arrival windows.
Device clocks are not writable by the gateway in simulations (``clock_writable=False``):
a Current Time write would otherwise move the device clock from simulated to wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bleak import BleakClient, BleakScanner

from carepulse.observation import Source, format_time
from edge.config import GatewaySettings
from edge.decoders import GlucoseMeasurement, MiScale
from edge.gateway import BleBackend, Gateway, open_gateway, serve_gateway
from edge.registry import load_registry
from simulators.ble import (
    BloodPressureMonitor,
    Faults,
    GlucoseMeter,
    HeartRateBand,
    MiScaleAdvertiser,
    PulseOximeter,
    Thermometer,
    VirtualAir,
    VirtualDevice,
    VirtualPeripheral,
    WeightScale,
)
from simulators.bleak_bumble import BumbleBackend
from simulators.mqtt_devices import BrokerSettings, MqttDevices, MqttLogins
from simulators.scenario import PROXY_BASE, Action, DeviceKind, Link, Op, Plan, Scenario

logger = logging.getLogger(__name__)


def anchor_start(scenario: Scenario, days: float, speed: float, now: datetime) -> datetime:
    """The simulated start: local midnight such that the period ends by the run's end."""
    period = timedelta(days=days)
    latest = now + period / speed - period
    local = latest.astimezone(scenario.station.timezone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass(slots=True)
class RunSummary:
    """What a run sent."""

    scenario: str
    seed: int
    speed: float
    start: datetime
    end: datetime
    actions: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    by_link: Counter[str] = field(default_factory=Counter)
    undelivered: int = 0
    #: band readings held past ``BAND_HOLD_S`` and never notified, by ``resident/kind``:
    #: observations the gateway could not have received (each copy is one)
    given_up: Counter[str] = field(default_factory=Counter)
    max_lag_s: float = 0.0
    wall_s: float = 0.0
    gateway: bool = False
    #: whether devices and the gateway's outbox were empty when the run stopped
    drained: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "speed": self.speed,
            "simulated": {"start": format_time(self.start), "end": format_time(self.end)},
            "actions": self.actions,
            "readings_sent": sum(self.sent.values()),
            "sent": dict(sorted(self.sent.items())),
            "by_link": dict(sorted(self.by_link.items())),
            "undelivered_ble": self.undelivered,
            "band_readings_given_up": dict(sorted(self.given_up.items())),
            "max_lag_s": round(self.max_lag_s, 3),
            "wall_s": round(self.wall_s, 3),
            "gateway_in_process": self.gateway,
            "drained": self.drained,
        }


_GATT = {
    DeviceKind.HR_BAND: HeartRateBand,
    DeviceKind.BP_METER: BloodPressureMonitor,
    DeviceKind.SCALE: WeightScale,
    DeviceKind.OXIMETER: PulseOximeter,
    DeviceKind.THERMOMETER: Thermometer,
    DeviceKind.GLUCOSE_METER: GlucoseMeter,
}


@contextlib.asynccontextmanager
async def ble_devices(plan: Plan, air: VirtualAir) -> AsyncIterator[dict[str, VirtualDevice]]:
    """Every BLE and advert device of the plan, running on ``air``."""
    devices: dict[str, VirtualDevice] = {}
    async with contextlib.AsyncExitStack() as stack:
        for resident in plan.scenario.residents:
            for spec in resident.devices:
                # The advertised name carries no resident id: anyone nearby can hear it.
                name = f"{spec.kind.value} {spec.id.replace(':', '')[-4:]}"
                device: VirtualDevice
                if spec.link is Link.BLE:
                    device = _GATT[spec.kind](
                        air, name=name[:20], address=spec.id, clock_writable=False
                    )
                elif spec.link is Link.ADVERT:
                    device = MiScaleAdvertiser(air, address=spec.id)
                else:
                    continue
                devices[spec.id] = await stack.enter_async_context(device)
        yield devices


def bumble_backend(air: VirtualAir) -> BleBackend:
    """The gateway's BLE backend on the virtual air (MTU 247 for RR-interval bursts)."""
    bumble = BumbleBackend(air, mtu=247)
    return BleBackend(
        scanner_factory=lambda callback: BleakScanner(callback, backend=bumble.scanner_class),
        client_factory=lambda device, gone: BleakClient(
            device, disconnected_callback=gone, backend=bumble.client_class
        ),
        source=Source.SIM,
    )


async def start_gateway(
    plan: Plan, air: VirtualAir, settings: GatewaySettings, state_dir: Path
) -> tuple[Gateway, asyncio.Task[None]]:
    """The real gateway, in this process, for the plan's registry; returns it and its task."""
    config = state_dir / "station.toml"
    config.write_text(plan.registry_toml(), encoding="utf-8")
    gateway = open_gateway(settings, load_registry(config.read_text(encoding="utf-8")))
    task = asyncio.create_task(serve_gateway(gateway, settings, ble=bumble_backend(air)))
    return gateway, task


def gateway_settings(
    plan: Plan,
    state_dir: Path,
    *,
    topic_prefix: str = "",
    logins: MqttLogins | None = None,
    **overrides: Any,
) -> GatewaySettings:
    """Gateway settings for a simulation: the scenario's secret, a budget for every device.

    With ``logins`` the gateway logs in to the broker as the station's gateway user;
    otherwise with the MQTT credentials of the settings (the stack's test user).
    """
    ble = sum(d.link is Link.BLE for r in plan.scenario.residents for d in r.devices)
    mqtt = any(
        d.link in (Link.MQTT, Link.PROXY) for r in plan.scenario.residents for d in r.devices
    )
    values: dict[str, Any] = {
        "topic_prefix": topic_prefix,
        "station_secret": plan.scenario.station.secret,
        "gateway_state_dir": state_dir / "gateway",
        "mqtt_enabled": mqtt,
        "mqtt_proxy_base": PROXY_BASE,
        "mqtt_client_id": f"carepulse-sim-{plan.scenario.station.id}-{int(time.time())}",
        "ble_connection_budget": max(ble, 1),
        "heartbeat_interval_s": 5.0,
    }
    if logins is not None:
        values.update(mqtt_username=logins.gateway_user, mqtt_password=logins.gateway_password)
    values.update(overrides)
    return GatewaySettings.load(**values)


async def wait_connected(devices: dict[str, VirtualDevice], timeout_s: float) -> int:
    """Wait until every GATT device has a central; returns how many did."""
    gatt = [d for d in devices.values() if isinstance(d, VirtualPeripheral)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline and not all(d.connected for d in gatt):
        await asyncio.sleep(0.05)
    return sum(d.connected for d in gatt)


async def perform(
    action: Action,
    devices: dict[str, VirtualDevice],
    publisher: MqttDevices | None,
    summary: RunSummary,
    bands: BandQueue | None = None,
) -> None:
    """Carry out one action on its device.

    With ``bands``, a band's readings are handed to its queue (:class:`BandQueue`): sent
    in order, one at a time, and held while no central is subscribed. Without it a band
    notifies at once and a reading nobody received counts as undelivered.
    """
    device = devices.get(action.device_id)
    if action.op is not Op.SEND:
        if isinstance(device, VirtualPeripheral):
            if action.op is Op.BATTERY and action.battery is not None:
                await device.set_battery(action.battery)
                await device.drop_connections()  # the gateway reads the level on reconnect
            elif action.op is Op.SILENT:
                await device.set_faults(Faults(silent=True))
            elif action.op is Op.WAKE:
                await device.set_faults(Faults())
                await device.set_battery(action.battery or 100)
        return
    summary.sent[f"{action.resident}/{action.observation_kind}"] += action.copies
    summary.by_link[action.link.value] += action.copies
    if action.topic is not None:
        if publisher is None:
            summary.undelivered += action.copies
            return
        for _ in range(action.copies):
            await publisher.publish(action.topic, action.payload)
        return
    if device is None:
        summary.undelivered += action.copies
        return
    if bands is not None and isinstance(device, HeartRateBand):
        bands.add(device, action)
        return
    faults = Faults(malformed=action.malformed, duplicate=action.copies > 1)
    if faults != device.faults:
        await device.set_faults(faults)
    reached = await _send(device, action)
    for _ in range(action.copies - 2):
        if isinstance(device, VirtualPeripheral):
            await device.resend_last()
    if faults != Faults():
        await device.set_faults(Faults())
    if not reached:
        summary.undelivered += action.copies


#: How long a band holds a notification no central received (wall seconds).
BAND_HOLD_S = 15.0
#: The least wall time between two notifications of one band. The gateway stamps heart
#: rate on arrival and storage keeps one point per subject, kind and millisecond, so two
#: readings of a band that arrive within a millisecond are stored as one (issue #8). A
#: real band measures about once a second; under acceleration its readings come closer
#: (every 15 simulated minutes is 156 ms in a 60 s demo), but not this close.
BAND_SPACING_S = 0.05
#: How often a band that holds readings looks for a subscribed central (wall seconds).
BAND_POLL_S = 0.1


@dataclass(slots=True)
class _BandLine:
    """One band's readings waiting to be notified: (action, deadline), oldest first."""

    waiting: deque[tuple[Action, float]] = field(default_factory=deque)
    last_sent: float = -math.inf
    task: asyncio.Task[None] | None = None


class BandQueue:
    """Each band's readings, notified in measurement order and never in a burst.

    A band measures whether or not a phone or gateway listens; many send the reading they
    hold when a central subscribes. So a reading that reaches no central (the band is
    reconnecting after a battery change, say) is held and sent once a central has
    subscribed again; after ``hold_s`` it counts as undelivered. Readings measured
    meanwhile wait behind it, and every notification of a band follows the previous one by
    at least ``spacing_s``: a band that handed over all it held at once put several
    readings into one millisecond of the gateway's clock, and storage kept one of them.
    A reading with ``copies`` is notified that many times, each in its own turn.
    """

    def __init__(
        self,
        summary: RunSummary,
        *,
        hold_s: float = BAND_HOLD_S,
        spacing_s: float = BAND_SPACING_S,
        poll_s: float = BAND_POLL_S,
    ) -> None:
        self.summary = summary
        self.hold_s = hold_s
        self.spacing_s = spacing_s
        self.poll_s = poll_s
        self._lines: dict[str, _BandLine] = {}

    def add(self, band: HeartRateBand, action: Action) -> None:
        """Queue ``action``'s reading (each copy) behind the band's earlier ones."""
        line = self._lines.setdefault(band.address, _BandLine())
        deadline = asyncio.get_running_loop().time() + self.hold_s
        line.waiting.extend((action, deadline) for _ in range(action.copies))
        if line.task is None or line.task.done():
            line.task = asyncio.create_task(self._notify(band, line))

    @property
    def waiting(self) -> int:
        """Readings not yet notified nor given up."""
        return sum(len(line.waiting) for line in self._lines.values())

    async def wait(self) -> None:
        """Until every queued reading is notified or counted as undelivered."""
        await asyncio.gather(*(line.task for line in self._lines.values() if line.task))

    async def _notify(self, band: HeartRateBand, line: _BandLine) -> None:
        loop = asyncio.get_running_loop()
        held_since: float | None = None
        while line.waiting:
            action, deadline = line.waiting[0]
            turn = line.last_sent + self.spacing_s - loop.time()
            if turn > 0:
                await asyncio.sleep(turn)
            try:
                reached = await self._send(band, action)
            except Exception:  # one reading failing must not stop the band (STYLE 18)
                logger.exception("band %s: a reading failed; going on", band.address)
                reached = False
                deadline = -math.inf
            if reached:
                line.last_sent = loop.time()
                line.waiting.popleft()
                if held_since is not None:
                    logger.info(
                        "band %s: held readings sent after %.1f s",
                        band.address,
                        loop.time() - held_since,
                    )
                    held_since = None
            elif loop.time() >= deadline:
                line.waiting.popleft()
                self.summary.undelivered += 1
                self.summary.given_up[f"{action.resident}/{action.observation_kind}"] += 1
            else:
                if held_since is None:
                    held_since = loop.time()
                await asyncio.sleep(self.poll_s)

    async def _send(self, band: HeartRateBand, action: Action) -> bool:
        faults = Faults(malformed=action.malformed)
        if faults != band.faults:
            await band.set_faults(faults)
        try:
            return await _send(band, action)
        finally:
            if faults != Faults():
                await band.set_faults(Faults())


async def _send(device: VirtualDevice, action: Action) -> bool:
    m = action.measurement
    if isinstance(device, HeartRateBand) and m is not None and m.NAME == "heart_rate_measurement":
        return bool(await device.notify_heart_rate(m))  # type: ignore[arg-type]  # NAME checked
    if isinstance(device, MiScaleAdvertiser) and isinstance(m, MiScale):
        await device.advertise_weight(m)
        return True
    if isinstance(device, GlucoseMeter) and isinstance(m, GlucoseMeasurement):
        device.store(m)
        if device.connected:
            await device.drop_connections()  # the gateway asks RACP for new records on reconnect
        return True
    if isinstance(device, BloodPressureMonitor | WeightScale | PulseOximeter | Thermometer):
        await device.measure(m)  # type: ignore[arg-type]  # the planner pairs kind and class
        return True  # stored until delivered
    return False


async def run_plan(
    plan: Plan,
    *,
    speed: float,
    devices: dict[str, VirtualDevice],
    publisher: MqttDevices | None,
    gateway: bool = False,
) -> RunSummary:
    """Perform every action of ``plan`` at ``speed``; returns what was sent."""
    summary = RunSummary(plan.scenario.name, plan.seed, speed, plan.start, plan.end)
    summary.gateway = gateway
    loop = asyncio.get_running_loop()
    wall_start = loop.time()
    bands = BandQueue(summary)
    for action in plan.actions:
        due = wall_start + (action.at - plan.start).total_seconds() / speed
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            summary.max_lag_s = max(summary.max_lag_s, -delay)
        try:
            await perform(action, devices, publisher, summary, bands)
        except Exception:  # one device failing must not end the run (STYLE 18)
            logger.exception("action for %s failed; going on", action.device_id)
            summary.undelivered += action.copies
        summary.actions += 1
    rest = wall_start + plan.period.total_seconds() / speed - loop.time()
    if rest > 0:
        await asyncio.sleep(rest)
    await bands.wait()
    summary.wall_s = loop.time() - wall_start
    return summary


async def drained(
    devices: dict[str, VirtualDevice],
    gateway: Gateway | None,
    timeout_s: float,
    quiet_s: float = 2.0,
) -> bool:
    """Wait until devices hold no undelivered record and the gateway's outbox is empty.

    Both must stay so for ``quiet_s`` (a glucose meter's records follow a reconnection and
    a RACP request, so a momentary empty outbox is not the end). Returns whether that
    happened within ``timeout_s``; on a timeout it logs what was still waiting.
    """
    peripherals = [d for d in devices.values() if isinstance(d, VirtualPeripheral)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet_since: float | None = None
    while True:
        records = sum(d.pending_records for d in peripherals)
        depth = gateway.outbox.stats().depth if gateway is not None else 0
        now = loop.time()
        if records or depth:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return True
        if now >= deadline:
            logger.warning(
                "not drained after %.0f s: %d device records undelivered, outbox depth %d",
                timeout_s,
                records,
                depth,
            )
            return False
        await asyncio.sleep(0.1)


async def run_scenario(
    plan: Plan,
    *,
    speed: float,
    broker: BrokerSettings | None,
    gateway: GatewaySettings | None,
    state_dir: Path,
    logins: MqttLogins | None = None,
    drain_timeout_s: float = 60.0,
    connect_timeout_s: float = 60.0,
) -> RunSummary:
    """Run ``plan``: BLE devices on a virtual air, MQTT devices, and optionally the gateway.

    ``broker=None`` skips the MQTT devices; ``gateway=None`` runs the devices only (a
    gateway elsewhere can read the MQTT ones; BLE ones need one in this process). With
    ``logins`` (:func:`~simulators.mqtt_devices.provision_mqtt_logins`) each MQTT device
    logs in as itself; otherwise all share ``broker``'s credentials. After
    the last action it waits (up to ``drain_timeout_s``) until the devices' stored records
    are delivered and the gateway's outbox has reached Kafka, then stops the gateway.
    """
    air = VirtualAir(advertising_interval_ms=50)
    needs_mqtt = any(a.topic is not None for a in plan.actions)
    async with contextlib.AsyncExitStack() as stack:
        devices = await stack.enter_async_context(ble_devices(plan, air))
        running: tuple[Gateway, asyncio.Task[None]] | None = None
        if gateway is not None:
            running = await start_gateway(plan, air, gateway, state_dir)
            connected = await wait_connected(devices, connect_timeout_s)
            logger.info("gateway connected to %d virtual BLE devices", connected)
            if gateway.mqtt_enabled:
                await asyncio.sleep(1.0)  # its MQTT subscription follows the connection
        publisher = None
        if broker is not None and needs_mqtt:
            publisher = await stack.enter_async_context(MqttDevices(broker, logins))
        try:
            summary = await run_plan(
                plan, speed=speed, devices=devices, publisher=publisher, gateway=running is not None
            )
            summary.drained = await drained(
                devices, running[0] if running else None, drain_timeout_s
            )
        finally:
            if running is not None:
                running[1].cancel()
                await asyncio.gather(running[1], return_exceptions=True)
    return summary
