"""The e2e driver: a station of known devices, the readings they send and a ledger of acks.

Every reading the driver sends has a known observation id: the driver runs the gateway's
own pure core (:class:`edge.ingest.Ingest`, same registry and station secret) on the
payload it is about to send, so it knows the observation, its id and its InfluxDB point
before the gateway does. Device clocks are set (every reading carries a time stamp), so the
id does not depend on when the gateway receives it.

What counts as **acknowledged** depends on the door (docs/e2e.md):

* MQTT: the broker's PUBACK reached the device. Mosquitto sends it once the message is
  queued for the gateway's persistent QoS 1 session, and the gateway acknowledges that
  delivery (its own PUBACK) only after the outbox commit, so from the device's PUBACK on
  the reading is held by the broker or by the outbox.
* BLE: the gateway received the indication. The BP meters here keep each reading until
  the ATT Handle Value Confirmation, which the gateway's stack sends after its
  notification callback returned, i.e. after the outbox commit; a reading still pending
  in the device when the run ends was never acknowledged.

Readings are sent steadily (``rate`` per second across the steady devices); each phase
of a fault test (before, during, after) also sends one hypertensive crisis (186/114 mmHg)
per door from a resident who sends nothing else, so each must open exactly one
``bp.urgent_referral`` case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from carepulse.observation import Observation, Source
from edge.decoders import BloodPressureMeasurement, DateTime
from edge.ingest import Accepted, Ingest
from edge.registry import Registry, load_registry
from simulators.ble import BloodPressureMonitor
from simulators.mqtt_devices import BrokerUnavailableError, MqttPublisher

logger = logging.getLogger(__name__)

STATION_ID = "st-e2e"
TIMEZONE = "Asia/Shanghai"
CRISIS_RULE = "bp.urgent_referral"
#: A hypertensive crisis: at or above 180/110 mmHg fires bp.urgent_referral on one reading.
CRISIS = (186.0, 114.0)


class Door(StrEnum):
    """How a reading enters the gateway."""

    MQTT = "mqtt"
    BLE = "ble"


class Phase(StrEnum):
    """When, relative to the fault, a reading was sent."""

    BEFORE = "before"
    DURING = "during"
    AFTER = "after"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One registered device of the e2e station."""

    id: str
    kind: str  # bp_meter | scale
    door: Door
    resident: str
    #: the phase whose crisis this device sends; None for a steady device
    crisis: Phase | None = None

    @property
    def topic(self) -> str:
        """The MQTT topic of a Wi-Fi device."""
        name = "blood_pressure_measurement" if self.kind == "bp_meter" else "weight_measurement"
        return f"carepulse/devices/{self.id}/{name}"


@dataclass(frozen=True, slots=True)
class Station:
    """The devices of one run and the registry the gateway reads."""

    run_id: str
    devices: tuple[DeviceSpec, ...]

    @classmethod
    def build(cls, run_id: str, doors: tuple[Door, ...], steady: int = 3) -> Station:
        """``steady`` residents per door sending steadily, one crisis resident per door and phase.

        MQTT residents have a Wi-Fi BP meter and a Wi-Fi scale; BLE residents a BP meter
        that keeps records. Device ids carry the run id: the broker is shared by every run.
        """
        devices: list[DeviceSpec] = []
        for door in doors:
            for n in range(steady):
                resident = f"R-{door}-{n}"
                if door is Door.MQTT:
                    devices.append(DeviceSpec(f"e2e{run_id}-bp{n}", "bp_meter", door, resident))
                    devices.append(DeviceSpec(f"e2e{run_id}-sc{n}", "scale", door, resident))
                else:
                    devices.append(DeviceSpec(_address(n), "bp_meter", door, resident))
            for p, phase in enumerate(Phase):
                resident = f"R-{door}-{phase}"
                device_id = f"e2e{run_id}-x{p}" if door is Door.MQTT else _address(0x80 + p)
                devices.append(DeviceSpec(device_id, "bp_meter", door, resident, crisis=phase))
        return cls(run_id, tuple(devices))

    @property
    def doors(self) -> tuple[Door, ...]:
        """The doors this station uses."""
        return tuple(dict.fromkeys(d.door for d in self.devices))

    def steady(self) -> list[DeviceSpec]:
        """The devices that send all the time."""
        return [d for d in self.devices if d.crisis is None]

    def crisis_devices(self, phase: Phase) -> list[DeviceSpec]:
        """The devices that send ``phase``'s crisis, one per door."""
        return [d for d in self.devices if d.crisis is phase]

    def registry_toml(self) -> str:
        """The gateway's registry file."""
        lines = ["[station]", f'id = "{STATION_ID}"', f'timezone = "{TIMEZONE}"']
        for d in self.devices:
            transport = "mqtt" if d.door is Door.MQTT else "ble"
            lines += [
                "",
                "[[devices]]",
                f'id = "{d.id}"',
                f'kind = "{d.kind}"',
                f'transport = "{transport}"',
                f'resident = "{d.resident}"',
            ]
        return "\n".join(lines) + "\n"

    def registry(self) -> Registry:
        """The registry the gateway builds from :meth:`registry_toml`."""
        return load_registry(self.registry_toml())


def _address(n: int) -> str:
    return f"C0:E2:E0:00:00:{n:02X}"


@dataclass(slots=True)
class Sent:
    """One reading the driver sent, and whether the gateway acknowledged it."""

    observation: Observation
    device: DeviceSpec
    phase: Phase
    acked: bool = False
    #: the BLE measurement, to find it among the device's unconfirmed records
    measurement: Any = None

    @property
    def id(self) -> str:
        """The observation id."""
        return self.observation.observation_id

    @property
    def crisis(self) -> bool:
        """Whether this reading must open a case."""
        return self.device.crisis is not None

    def describe(self) -> str:
        """One line for a failure message."""
        values = ", ".join(f"{k}={v}" for k, v in self.observation.values.items())
        return (
            f"{self.id} {self.device.door}/{self.device.id} {self.phase} "
            f"measured {self.observation.measured_at:%H:%M:%S} ({values})"
        )


@dataclass
class Ledger:
    """Everything sent in one run, in order."""

    entries: list[Sent] = field(default_factory=list)

    def __iter__(self) -> Iterator[Sent]:
        return iter(self.entries)

    def acked(self) -> list[Sent]:
        """The readings the gateway acknowledged."""
        return [s for s in self.entries if s.acked]

    def count(self, phase: Phase) -> int:
        """Acknowledged readings of ``phase``."""
        return sum(1 for s in self.entries if s.phase is phase and s.acked)

    def crises(self) -> list[Sent]:
        """The crisis readings."""
        return [s for s in self.entries if s.crisis]

    def summary(self) -> dict[str, Any]:
        """Counts by phase and door, for reports and failure messages."""
        rows: dict[str, Any] = {}
        for s in self.entries:
            row = rows.setdefault(f"{s.phase}/{s.device.door}", {"sent": 0, "acked": 0})
            row["sent"] += 1
            row["acked"] += int(s.acked)
        return rows


class Traffic:
    """Sends readings from the station's devices while a test injects its fault.

    ``mqtt`` is the devices' broker connection; ``ble`` the virtual BP meters by address
    (empty without the BLE door). One task sends everything, one reading at a time:
    :meth:`start` begins with the first phase, :meth:`enter` moves to the next one (its
    crises go out first), :meth:`stop` ends the stream, waits for BLE records still in
    flight and settles which readings were acknowledged.
    """

    def __init__(
        self,
        station: Station,
        ingest: Ingest,
        *,
        mqtt: MqttPublisher,
        ble: dict[str, BloodPressureMonitor],
        rate: float = 8.0,
    ) -> None:
        self.station = station
        self.ingest = ingest
        self.mqtt = mqtt
        self.ble = ble
        self.rate = rate
        self.ledger = Ledger()
        self.phase = Phase.BEFORE
        # Device clocks count from half an hour ago, one second per reading of a device:
        # every reading has its own time (its own InfluxDB point) and none is in the future.
        self._t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        self._count: dict[str, int] = {}
        self._crises: list[tuple[DeviceSpec, Phase]] = []
        self._task: asyncio.Task[None] | None = None

    # -- the stream ---------------------------------------------------------------------
    def start(self) -> None:
        """Begin the steady stream and send the first phase's crises."""
        self.enter(Phase.BEFORE)
        self._task = asyncio.create_task(self._run(), name="e2e-traffic")

    def enter(self, phase: Phase) -> None:
        """Move to ``phase``; its crisis readings (one per door) go out next.

        It does not wait for them: during an MQTT outage a publish waits for the broker.
        """
        self.phase = phase
        self._crises.extend((d, phase) for d in self.station.crisis_devices(phase))

    async def cancel(self) -> None:
        """End the stream now."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self, settle_s: float = 60.0) -> Ledger:
        """End the stream; wait up to ``settle_s`` for BLE records still in flight."""
        self._raise_if_stopped()
        await self.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settle_s):
                while any(m.records.pending for m in self.ble.values()):
                    await asyncio.sleep(0.2)
        self.settle_ble()
        return self.ledger

    def settle_ble(self) -> None:
        """Mark BLE readings acknowledged unless their device still holds them."""
        pending = {id(m) for device in self.ble.values() for m in device.records.pending}
        for s in self.ledger:
            if s.device.door is Door.BLE:
                s.acked = id(s.measurement) not in pending

    async def wait_acked(self, count: int, timeout_s: float = 60.0) -> None:
        """Until ``count`` readings of the current phase were acknowledged."""
        phase = self.phase
        try:
            async with asyncio.timeout(timeout_s):
                while self.ledger.count(phase) < count:
                    self._raise_if_stopped()
                    self.settle_ble()
                    await asyncio.sleep(0.2)
        except TimeoutError:
            msg = (
                f"only {self.ledger.count(phase)} of {count} readings of phase {phase} were "
                f"acknowledged within {timeout_s:.0f} s: {self.ledger.summary()}"
            )
            raise AssertionError(msg) from None

    def _raise_if_stopped(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # re-raises what ended the stream
            msg = "the traffic stopped on its own"
            raise AssertionError(msg)

    async def _run(self) -> None:
        steady = self.station.steady()
        n = 0
        while True:
            while self._crises:
                device, phase = self._crises.pop(0)
                await self._send(device, phase)
            await self._send(steady[n % len(steady)], self.phase)
            n += 1
            await asyncio.sleep(1.0 / self.rate)

    # -- one reading --------------------------------------------------------------------
    async def _send(self, device: DeviceSpec, phase: Phase) -> Sent:
        """Send the device's next reading and record it in the ledger under ``phase``."""
        k = self._count.get(device.id, 0)
        self._count[device.id] = k + 1
        at = self._t0 + timedelta(seconds=k)
        if device.crisis is not None:  # a crisis is measured now: the queue shows it as new
            at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        # Device clocks carry no zone: the station's local time, as a real device sends it.
        local = at.astimezone(self.ingest.registry.timezone).replace(tzinfo=None)
        if device.door is Door.MQTT:
            return await self._send_mqtt(device, k, local, phase)
        return await self._send_ble(device, k, local, phase)

    async def _send_mqtt(self, device: DeviceSpec, k: int, local: datetime, phase: Phase) -> Sent:
        if device.kind == "scale":
            fields = {"weight_kg": round(58.0 + k % 5 * 0.1, 1), "timestamp": local.isoformat()}
            payload = json.dumps(fields).encode()
            outcome = self.ingest.fields(
                device.id,
                "weight_measurement",
                fields,
                raw=payload,
                received_at=datetime.now(UTC),
                source=Source.MQTT,
            )
        else:
            raw = bytes(_bp(device, k, local))
            payload = json.dumps({"hex": raw.hex()}).encode()
            outcome = self.ingest.payload(
                device.id,
                "blood_pressure_measurement",
                raw,
                received_at=datetime.now(UTC),
                source=Source.MQTT,
            )
        sent = Sent(_accepted(outcome, device), device, phase)
        self.ledger.entries.append(sent)
        try:
            await self.mqtt.publish(device.topic, payload)
        except BrokerUnavailableError:
            logger.warning("no PUBACK for %s; it counts as not acknowledged", sent.id)
        else:
            sent.acked = True
        return sent

    async def _send_ble(self, device: DeviceSpec, k: int, local: datetime, phase: Phase) -> Sent:
        measurement = _bp(device, k, local)
        outcome = self.ingest.payload(
            device.id,
            "blood_pressure_measurement",
            bytes(measurement),
            received_at=datetime.now(UTC),
            source=Source.SIM,
        )
        sent = Sent(_accepted(outcome, device), device, phase, measurement=measurement)
        self.ledger.entries.append(sent)
        # Stored in the meter until the gateway confirms it; ``acked`` is settled from the
        # meter's pending records (``settle_ble``) so a later delivery counts too.
        sent.acked = await self.ble[device.id].measure(measurement)
        return sent


def _bp(device: DeviceSpec, k: int, local: datetime) -> BloodPressureMeasurement:
    if device.crisis is not None:
        systolic, diastolic, pulse = *CRISIS, 92.0
    else:
        systolic, diastolic, pulse = 112.0 + k % 9, 72.0 + k % 6, 64.0 + k % 10
    mean = float(round(diastolic + (systolic - diastolic) / 3))
    return BloodPressureMeasurement(
        systolic, diastolic, mean, timestamp=DateTime.from_datetime(local), pulse_rate=pulse
    )


def _accepted(outcome: object, device: DeviceSpec) -> Observation:
    if not isinstance(outcome, Accepted):
        msg = f"the driver built a reading the gateway would not accept from {device.id}: {outcome}"
        raise AssertionError(msg)
    return outcome.observation
