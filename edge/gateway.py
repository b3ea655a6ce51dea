"""The gateway: sources in, ingest, outbox, uplink out, heartbeats alongside.

``Gateway`` wires the pure ingest decision to the I/O pieces it is given (STYLE: no
singletons, collaborators through the constructor). ``run_gateway`` builds them from
settings and a registry file; ``carepulse gateway --config FILE`` calls it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carepulse.observation import Source
from carepulse.pseudonym import MIN_SECRET_BYTES
from edge import mqtt_formats
from edge.ble import BleSource, ClientFactory, ScannerFactory, bleak_factories
from edge.config import GatewaySettings
from edge.errors import MqttFormatError, OutboxFullError
from edge.held import HeldStore
from edge.ingest import Accepted, HeldReading, Ingest, Outcome, Rejected, Unknown
from edge.mqtt import MqttConnection, MqttMessage, MqttSource
from edge.outbox import Outbox
from edge.records import Rejection, heartbeat_message, rejection_message
from edge.registry import Registry, load_registry
from edge.uplink import KafkaUplink

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The gateway clock."""
    return datetime.now(UTC)


@dataclass(slots=True)
class DeviceStatus:
    """What the gateway knows of one device, for its heartbeat."""

    last_seen: datetime | None = None
    readings: int = 0
    rejected: int = 0
    battery_percent: int | None = None


@dataclass(slots=True)
class Gateway:
    """One station's gateway."""

    registry: Registry
    ingest: Ingest
    outbox: Outbox
    uplink: KafkaUplink
    held: HeldStore
    clock: Clock = utc_now
    #: ``ble`` on real adapters, ``sim`` on the Bumble virtual air
    ble_source: Source = Source.BLE
    devices: dict[str, DeviceStatus] = field(default_factory=dict)
    started_at: datetime = field(default_factory=utc_now)

    def store(self, outcome: Outcome) -> Outcome:
        """Put what an outcome produced into the outbox or the held list.

        Raises:
            OutboxFullError: the outbox is full; the caller must not acknowledge the input.
        """
        if isinstance(outcome, Accepted | Rejected):
            self.outbox.put(outcome.message)
            self.uplink.wake()
        elif isinstance(outcome, HeldReading):
            entry = self.held.add(outcome)
            logger.warning(
                "held reading %d from %s for a person to assign: %s",
                entry,
                outcome.device_id,
                outcome.reason,
            )
        if not isinstance(outcome, Unknown):
            self._seen(outcome)
        return outcome

    def payload(self, device_id: str, name: str, payload: bytes, received_at: datetime) -> None:
        """A BLE payload (the BLE source's sink): ingest and store it.

        BLE has already acknowledged the value at the link layer, so a full outbox cannot
        push back here: the reading is logged as lost (devices with record stores keep it
        and are asked again on the next connection).
        """
        outcome = self.ingest.payload(
            device_id, name, payload, received_at=received_at, source=self.ble_source
        )
        try:
            self.store(outcome)
        except OutboxFullError:
            self.ingest.counters["lost:outbox_full"] += 1
            logger.error("outbox full: BLE reading from %s lost (%s)", device_id, payload.hex())

    def battery(self, device_id: str, percent: int) -> None:
        """A battery level read from a device, for its heartbeat."""
        self.devices.setdefault(device_id.upper(), DeviceStatus()).battery_percent = percent

    def _seen(self, outcome: Outcome) -> None:
        if isinstance(outcome, Accepted):
            device_id = outcome.observation.device_id
        elif isinstance(outcome, Rejected):
            device_id = outcome.rejection.device_id
        elif isinstance(outcome, HeldReading):
            device_id = outcome.device_id
        else:
            return
        status = self.devices.setdefault(device_id.upper(), DeviceStatus())
        status.last_seen = self.clock()
        if isinstance(outcome, Rejected):
            status.rejected += 1
        else:
            status.readings += 1

    async def handle_mqtt(self, message: MqttMessage) -> None:
        """Parse, ingest and store one MQTT message (the MQTT source acks after this)."""
        received_at = self.clock()
        try:
            parsed = mqtt_formats.parse(message.topic, message.payload)
        except MqttFormatError as exc:
            self._mqtt_dead_letter(message, received_at, exc.reason, "rejected:mqtt_format")
            return
        try:
            if parsed.fields is None:
                outcome = self.ingest.payload(
                    parsed.device_id,
                    parsed.name,
                    parsed.raw,
                    received_at=received_at,
                    source=Source.MQTT,
                )
            else:
                outcome = self.ingest.fields(
                    parsed.device_id,
                    parsed.name,
                    parsed.fields,
                    raw=parsed.raw,
                    received_at=received_at,
                    source=Source.MQTT,
                )
        except Exception as exc:
            # Our bug, but left unacknowledged the message would come back forever and hold
            # one of the broker's in-flight slots for this client: dead-letter it instead.
            logger.exception("mqtt: could not ingest a message on %s", message.topic)
            reason = f"the gateway failed on this message ({type(exc).__name__}); see its log"
            self._mqtt_dead_letter(message, received_at, reason, "rejected:gateway_error")
            return
        self.store(outcome)

    def _mqtt_dead_letter(
        self, message: MqttMessage, received_at: datetime, reason: str, counter: str
    ) -> None:
        self.ingest.counters[counter] += 1
        rejection = Rejection(
            station_id=self.registry.station_id,
            device_id=message.topic,
            source=Source.MQTT.value,
            reason=reason,
            raw=message.payload,
            received_at=received_at,
        )
        self.outbox.put(rejection_message(rejection, self.ingest.topics))
        self.uplink.wake()

    def heartbeat(self) -> None:
        """Queue one heartbeat for the gateway and one per device seen."""
        now = self.clock()
        topics = self.ingest.topics
        station = self.registry.station_id
        stats = self.outbox.stats()
        gateway_status: dict[str, Any] = {
            "started_at": self.started_at.isoformat(),
            "outbox_depth": stats.depth,
            "outbox_bytes": stats.bytes,
            "outbox_max_bytes": stats.max_bytes,
            "uplink_connected": self.uplink.stats.connected,
            "uplink_sent": self.uplink.stats.sent,
            "held": len(self.held.list()),
            "counters": dict(self.ingest.counters),
        }
        messages = [
            heartbeat_message(
                station_id=station,
                subject="gateway",
                sent_at=now,
                status=gateway_status,
                topics=topics,
            )
        ]
        for device in self.registry:
            status = self.devices.get(device.id.upper(), DeviceStatus())
            messages.append(
                heartbeat_message(
                    station_id=station,
                    subject=f"device/{device.id}",
                    sent_at=now,
                    status={
                        "device_kind": device.kind,
                        "last_seen": status.last_seen.isoformat() if status.last_seen else None,
                        "readings": status.readings,
                        "rejected": status.rejected,
                        "battery_percent": status.battery_percent,
                    },
                    topics=topics,
                )
            )
        try:
            self.outbox.put_many(messages)
        except OutboxFullError:
            logger.warning("outbox full: heartbeat skipped")
        self.uplink.wake()

    async def heartbeats(self, interval_s: float) -> None:
        """Send heartbeats every ``interval_s`` until cancelled."""
        while True:
            self.heartbeat()
            await asyncio.sleep(interval_s)


def open_gateway(settings: GatewaySettings, registry: Registry) -> Gateway:
    """Build a gateway (outbox, held store, ingest, uplink) from settings."""
    secret = settings.secret_bytes()
    if len(secret) < MIN_SECRET_BYTES:
        msg = (
            "CAREPULSE_STATION_SECRET is missing or shorter than 16 bytes; set it to the "
            "station's secret (e.g. the output of `openssl rand -hex 32`), kept outside the "
            "registry file"
        )
        raise ValueError(msg)
    state = settings.state_path()
    outbox = Outbox(state / "outbox.db", max_bytes=settings.outbox_max_bytes)
    uplink = KafkaUplink(
        outbox,
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"carepulse-gateway-{registry.station_id}",
    )
    return Gateway(
        registry=registry,
        ingest=Ingest(registry, secret, settings.topics),
        outbox=outbox,
        uplink=uplink,
        held=HeldStore(state / "held.db"),
    )


@dataclass(frozen=True, slots=True)
class BleBackend:
    """Where the BLE source gets its bleak objects, and how its readings are labelled."""

    scanner_factory: ScannerFactory
    client_factory: ClientFactory
    source: Source = Source.BLE


def ble_backend(moniker: str) -> BleBackend | None:
    """The BLE backend named by ``CAREPULSE_BLE``: ``bleak`` (BlueZ) or ``none``.

    The Bumble virtual air lives in one process with its devices, so simulations pass a
    ``BleBackend`` built from ``simulators.bleak_bumble`` to ``run_gateway`` directly.
    """
    if moniker == "none":
        return None
    if moniker == "bleak":
        scanner_factory, client_factory = bleak_factories()
        return BleBackend(scanner_factory, client_factory)
    msg = f"CAREPULSE_BLE={moniker!r}: use 'bleak' (BlueZ adapters) or 'none'"
    raise ValueError(msg)


async def run_gateway(
    settings: GatewaySettings, config: Path, *, ble: BleBackend | None = None
) -> None:
    """Run the gateway described by the registry file ``config`` until cancelled.

    ``ble`` overrides ``settings.ble`` (simulations pass the Bumble backend here).
    """
    registry = load_registry(config.read_text())
    await serve_gateway(open_gateway(settings, registry), settings, ble=ble)


async def serve_gateway(
    gateway: Gateway, settings: GatewaySettings, *, ble: BleBackend | None = None
) -> None:
    """Run an opened gateway's sources, uplink and heartbeats until cancelled, then close it.

    Callers that need to watch the gateway (a simulation waiting for the outbox to drain)
    open it with :func:`open_gateway` and serve it here.
    """
    registry = gateway.registry
    backend = ble if ble is not None else ble_backend(settings.ble)
    logger.info(
        "gateway for station %s: %d devices, outbox %s",
        registry.station_id,
        len(registry),
        gateway.outbox.path,
    )
    tasks = [gateway.uplink.run(), gateway.heartbeats(settings.heartbeat_interval_s)]
    if settings.mqtt_enabled:
        connection = MqttConnection(
            host=settings.mqtt_host,
            port=settings.mqtt_tls_port if settings.mqtt_tls else settings.mqtt_port,
            username=settings.mqtt_username or None,
            password=settings.mqtt_password.get_secret_value() or None,
            ca_file=settings.mqtt_ca_file,
            tls=settings.mqtt_tls,
            client_id=settings.mqtt_client_id or f"carepulse-gateway-{registry.station_id}",
        )
        proxy = settings.mqtt_proxy_base or None
        source = MqttSource(connection, mqtt_formats.subscriptions(proxy), gateway.handle_mqtt)
        tasks.append(source.run())
    if backend is not None:
        gateway.ble_source = backend.source
        ble_source = BleSource(
            registry,
            gateway,
            scanner_factory=backend.scanner_factory,
            client_factory=backend.client_factory,
            connection_budget=settings.ble_connection_budget,
        )
        tasks.append(ble_source.run())
    try:
        await asyncio.gather(*tasks)
    finally:
        gateway.outbox.close()
        gateway.held.close()
