"""The e2e harness: one isolated pipeline on the local stack, and the faults done to it.

:func:`open_pipeline` starts, for one test, everything the demo starts (``simulators.demo``
supplies the topics, the subprocess launcher and the HTTP wait), under names of its own:

* topics under a unique prefix (``readings``, ``readings.rejected``, ``readings.valid``,
  ``metrics``, ``alerts``, ``heartbeats``) and two InfluxDB buckets (``storage init``);
* the worker (``carepulse worker``) with its own Faust app id and data folder;
* the alert service (``carepulse alerts serve``) with its own consumer group, port and
  SQLite case store;
* the gateway, either ``carepulse gateway`` in a subprocess (MQTT only; it can be killed)
  or in this process with BLE devices on a Bumble virtual air as well
  (:class:`GatewayMode`);
* the station's devices (:mod:`tests.e2e.traffic`): MQTT devices on the stack's Mosquitto
  and, in process, virtual BLE BP meters.

It returns once the gateway's MQTT subscription is proven by a probe (a malformed message
whose dead letter comes back on ``readings.rejected``) and every BLE meter has a link.
Everything is stopped and removed on the way out: processes, the gateway's broker session,
the buckets and the run's topics.

:func:`server_stopped` stops one server of the stack (``scripts/stack down``) and always
starts it again on the way out, so a failing test leaves the stack as it found it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import paho.mqtt.client as paho
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from paho.mqtt.enums import CallbackAPIVersion

from carepulse.settings import StackSettings
from edge.config import GatewaySettings
from edge.gateway import open_gateway, serve_gateway
from edge.ingest import Ingest
from simulators.ble import BloodPressureMonitor, VirtualAir
from simulators.demo import carepulse, create_topics, wait_http
from simulators.mqtt_devices import MqttPublisher, broker_settings_from
from simulators.runner import bumble_backend, wait_connected
from storage.config import StorageSettings
from storage.setup import StorageSetup
from storage.writer import open_client
from tests.e2e.traffic import Door, Station, Traffic
from tests.storage.support import fresh_buckets, storage_settings

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack"
_STARTING = "==== e2e: starting "
#: What a stopped subprocess gets before SIGKILL.
STOP_GRACE_S = 30.0


class GatewayMode(StrEnum):
    """Where the gateway runs."""

    #: ``carepulse gateway`` in a subprocess, MQTT devices only: it can be killed.
    PROCESS = "process"
    #: in the test's event loop, BLE devices on a Bumble virtual air and MQTT devices.
    IN_PROCESS = "in-process"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_script(*args: str) -> None:
    """``scripts/stack ARGS`` (the same ports and state folder as the tests' environment)."""
    done = subprocess.run(
        ["bash", str(STACK), *args], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode:
        msg = f"scripts/stack {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        raise RuntimeError(msg)


@contextlib.asynccontextmanager
async def server_stopped(service: str) -> AsyncIterator[None]:
    """Stop one server of the stack; start it again on the way out, whatever happened."""
    await asyncio.to_thread(stack_script, "down", service)
    try:
        yield
    finally:
        await asyncio.to_thread(stack_script, "up", service)


@dataclass
class Service:
    """A ``carepulse`` subprocess of the run: how to start it, its log, its process."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again)."""
        if self.running:
            msg = f"{self.name} is already running"
            raise RuntimeError(msg)
        with self.log.open("a") as log:
            log.write(f"\n{_STARTING}{self.name}\n")
        self.process = carepulse(*self.args, env=self.env, log=self.log)

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): its connections stay open, it reads nothing."""
        assert self.process is not None, f"{self.name} is not running"
        self._note("SIGSTOP")
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process go on (SIGCONT)."""
        if self.running:
            assert self.process is not None
            self._note("SIGCONT")
            self.process.send_signal(signal.SIGCONT)

    def _note(self, what: str) -> None:
        with self.log.open("a") as log:
            log.write(f"\n==== e2e: {what} to {self.name}\n")

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` and wait until the process is gone (SIGKILL after the grace)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            self._note(sig.name)
            process.send_signal(sig)
            if sig is not signal.SIGKILL:
                process.send_signal(signal.SIGCONT)  # a paused process must see it
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def since_start(self) -> str:
        """Its log since it was last started."""
        if not self.log.exists():
            return ""
        return self.log.read_text(errors="replace").rpartition(_STARTING)[2]

    def tail(self, lines: int = 40) -> str:
        """The last lines of its log."""
        if not self.log.exists():
            return f"({self.name}: no log)"
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"---- {self.name} ({self.log}) ----\n" + "\n".join(text)


@dataclass
class Pipeline:
    """One running pipeline; see the module docstring."""

    stack: StackSettings
    folder: Path
    mode: GatewayMode
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    air: VirtualAir | None = None
    ble: dict[str, BloodPressureMonitor] = field(default_factory=dict)
    station: Station = field(init=False)
    storage: StorageSettings = field(init=False)
    #: the alert service's web port
    port: int = field(init=False)
    #: the station's registry file
    config: Path = field(init=False)
    worker: Service = field(init=False)
    alerts: Service = field(init=False)
    gateway: Service | None = field(init=False, default=None)
    _traffic: Traffic | None = field(init=False, default=None)
    _inline_gateway: asyncio.Task[None] | None = field(init=False, default=None)
    _log_handler: logging.Handler | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        doors = (Door.MQTT, Door.BLE) if self.mode is GatewayMode.IN_PROCESS else (Door.MQTT,)
        self.station = Station.build(self.run_id, doors)
        self.storage = storage_settings(self.stack, f"e2e{self.run_id}")
        self.port = free_port()
        self.config = self.folder / "station.toml"
        common = dict(os.environ, CAREPULSE_TOPIC_PREFIX=self.prefix, CAREPULSE_LOGLEVEL="INFO")
        self.worker = Service(
            "worker",
            ("worker",),
            service_env(
                common,
                app_id=self.app_id,
                datadir=str(self.folder / "faust"),
                web_port=str(free_port()),
                influx_bucket=self.storage.influx_bucket,
                metrics_bucket=self.storage.metrics_bucket,
                # Back to writing within 5 s of InfluxDB's return (the default caps at 30 s).
                sink_max_backoff_s="5",
            ),
            self.folder / "worker.log",
        )
        self.alerts = Service(
            "alerts",
            ("alerts", "serve"),
            service_env(
                common,
                database_url=f"sqlite:///{self.cases_db}",
                consumer_group=self.alerts_group,
                listen_port=str(self.port),
                session_secret=secrets.token_hex(16),
            ),
            self.folder / "alerts.log",
        )
        if self.mode is GatewayMode.PROCESS:
            self.gateway = Service(
                "gateway",
                ("gateway", "--config", str(self.config)),
                service_env(
                    common,
                    station_secret=self.secret,
                    gateway_state_dir=str(self.folder / "gateway"),
                    mqtt_client_id=self.gateway_client_id,
                    mqtt_proxy_base="",
                    ble="none",
                ),
                self.folder / "gateway.log",
            )

    @property
    def services(self) -> list[Service]:
        """The run's subprocesses."""
        return [self.worker, self.alerts] + ([self.gateway] if self.gateway else [])

    @property
    def traffic(self) -> Traffic:
        """The run's driver."""
        assert self._traffic is not None, "the traffic exists once open_pipeline yields"
        return self._traffic

    # -- names ----------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """The run's topic prefix."""
        return f"e2e{self.run_id}."

    @property
    def app_id(self) -> str:
        """The worker's Faust app id (its consumer groups start with it)."""
        return f"carepulse-e2e-{self.run_id}"

    @property
    def alerts_group(self) -> str:
        """The alert service's consumer group."""
        return f"carepulse-e2e-alerts-{self.run_id}"

    @property
    def gateway_client_id(self) -> str:
        """The gateway's MQTT client id (its persistent session on the broker)."""
        return f"carepulse-e2e-gateway-{self.run_id}"

    @property
    def cases_db(self) -> Path:
        """The alert service's SQLite case store."""
        return self.folder / "alerts.db"

    @property
    def outbox_db(self) -> Path:
        """The gateway's outbox."""
        return self.folder / "gateway" / "outbox.db"

    def topic(self, name: str) -> str:
        """The run's name of a pipeline topic."""
        return f"{self.prefix}{name}"

    # -- state ----------------------------------------------------------------------------
    def outbox_depth(self) -> int:
        """Messages waiting in the gateway's outbox (read from its SQLite file)."""
        if not self.outbox_db.exists():
            return 0
        db = sqlite3.connect(f"file:{self.outbox_db}?mode=ro", uri=True, timeout=10)
        try:
            return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        finally:
            db.close()

    async def wait_outbox(self, depth: int, timeout_s: float = 60.0) -> None:
        """Until at least ``depth`` messages wait in the outbox (Kafka is not taking them)."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.outbox_depth() < depth:
                    await asyncio.sleep(0.2)
        except TimeoutError:
            msg = f"the outbox never held {depth} messages (it has {self.outbox_depth()})"
            raise AssertionError(msg + "\n" + self.logs()) from None

    async def wait_log(self, service: Service, needle: str, timeout_s: float = 60.0) -> None:
        """Until ``needle`` appears in the service's log after its latest start."""
        try:
            async with asyncio.timeout(timeout_s):
                while needle not in service.since_start():
                    await asyncio.sleep(0.2)
        except TimeoutError:
            msg = f"{service.name} never logged {needle!r} within {timeout_s:.0f} s"
            raise AssertionError(msg + "\n" + self.logs()) from None

    def logs(self) -> str:
        """The tails of every service's log, for failure messages."""
        parts = [s.tail() for s in self.services]
        inline = self.folder / "gateway-inline.log"
        if inline.exists():
            lines = inline.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"---- gateway (in process, {inline}) ----\n" + "\n".join(lines))
        return "\n".join(parts)

    def check_alive(self) -> None:
        """Fail with the logs when a service of the run died on its own."""
        for service in self.services:
            if service.process is not None and service.process.poll() is not None:
                msg = f"{service.name} exited ({service.process.returncode}) on its own"
                raise AssertionError(msg + "\n" + self.logs())
        task = self._inline_gateway
        if task is not None and task.done():
            msg = f"the in-process gateway stopped: {task}"
            raise AssertionError(msg + "\n" + self.logs())

    # -- the gateway ----------------------------------------------------------------------
    def gateway_settings(self) -> GatewaySettings:
        """The gateway's settings (as ``env`` gives them to the subprocess)."""
        return GatewaySettings.load(
            topic_prefix=self.prefix,
            station_secret=self.secret,
            gateway_state_dir=self.folder / "gateway",
            mqtt_client_id=self.gateway_client_id,
            mqtt_proxy_base="",
            ble_connection_budget=max(1, len(self.ble)),
        )

    async def start_inline_gateway(self) -> None:
        """The real gateway in this event loop, with the Bumble BLE backend."""
        assert self.air is not None
        self._log_handler = logging.FileHandler(self.folder / "gateway-inline.log")
        self._log_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        edge = logging.getLogger("edge")
        edge.addHandler(self._log_handler)
        edge.setLevel(logging.INFO)
        settings = self.gateway_settings()
        gateway = open_gateway(settings, self.station.registry())
        self._inline_gateway = asyncio.create_task(
            serve_gateway(gateway, settings, ble=bumble_backend(self.air)), name="e2e-gateway"
        )

    async def stop_inline_gateway(self) -> None:
        """Cancel the in-process gateway (it closes its outbox)."""
        task, self._inline_gateway = self._inline_gateway, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._log_handler is not None:
            edge = logging.getLogger("edge")
            edge.removeHandler(self._log_handler)
            edge.setLevel(logging.NOTSET)
            self._log_handler.close()
            self._log_handler = None

    async def probe_subscription(self, timeout_s: float = 60.0) -> None:
        """Until the gateway is subscribed: a malformed probe comes back as a dead letter.

        QoS 1 messages published before the gateway's first subscription are not queued
        for it, so the traffic may only start after this.
        """
        topic = f"carepulse/devices/e2e{self.run_id}-probe/blood_pressure_measurement"
        consumer = AIOKafkaConsumer(
            self.topic("readings.rejected"),
            bootstrap_servers=self.stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    self.check_alive()
                    await self.traffic.mqtt.publish(topic, b'{"hex": "probe"}')
                    batch = await consumer.getmany(timeout_ms=1000)
                    letters = [json.loads(r.value or b"{}") for rs in batch.values() for r in rs]
                    if any(letter.get("device_id") == topic for letter in letters):
                        return
        except TimeoutError:
            msg = f"the gateway did not subscribe within {timeout_s:.0f} s"
            raise AssertionError(msg + "\n" + self.logs()) from None
        finally:
            await consumer.stop()

    def forget_gateway_session(self) -> None:
        """End the gateway's persistent session: the broker stops queueing for it."""
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.gateway_client_id,
            clean_session=True,
            protocol=paho.MQTTv311,
        )
        client.username_pw_set(
            self.stack.mqtt_username, self.stack.mqtt_password.get_secret_value()
        )
        try:
            client.connect(self.stack.mqtt_host, self.stack.mqtt_port)
            client.loop(timeout=2.0)
            client.disconnect()
        except OSError as exc:  # the broker is down: its session stays, nothing else does
            logger.warning("could not clear the gateway's MQTT session: %s", exc)

    async def delete_topics(self) -> None:
        """Delete the run's topics and the worker's internal ones."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.kafka_bootstrap)
        await admin.start()
        try:
            names = [
                t
                for t in await admin.list_topics()
                if t.startswith((self.prefix, self.app_id + "-"))
            ]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()


def service_env(pipeline_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of one subprocess: the run's names plus its own settings."""
    env = dict(pipeline_env)
    env.update({f"CAREPULSE_{k.upper()}": v for k, v in extra.items()})
    return env


@contextlib.asynccontextmanager
async def open_pipeline(
    stack: StackSettings,
    folder: Path,
    mode: GatewayMode,
    *,
    rate: float = 8.0,
) -> AsyncIterator[Pipeline]:
    """Start a pipeline for one test (see the module docstring); stop and remove it after."""
    pipeline = Pipeline(stack, folder, mode)
    station, storage = pipeline.station, pipeline.storage
    pipeline.config.write_text(station.registry_toml(), encoding="utf-8")
    keep = os.environ.get("CAREPULSE_E2E_KEEP") == "1"  # topics and buckets, to look at
    async with contextlib.AsyncExitStack() as exits:
        await create_topics(stack, pipeline.prefix)
        if not keep:
            exits.push_async_callback(pipeline.delete_topics)
        if keep:
            async with open_client(storage) as client:
                await StorageSetup(client, storage).run()
        else:
            await exits.enter_async_context(fresh_buckets(storage))
        for service in (pipeline.worker, pipeline.alerts):
            exits.callback(service.kill, signal.SIGTERM)
            service.start()
        exits.callback(pipeline.forget_gateway_session)  # after the gateway stopped
        if mode is GatewayMode.IN_PROCESS:
            pipeline.air = VirtualAir(advertising_interval_ms=50)
            for spec in station.devices:
                if spec.door is Door.BLE:
                    meter = BloodPressureMonitor(
                        pipeline.air,
                        name=f"e2e {spec.resident}"[:20],
                        address=spec.id,
                        clock_writable=False,
                    )
                    pipeline.ble[spec.id] = await exits.enter_async_context(meter)
            exits.push_async_callback(pipeline.stop_inline_gateway)
            await pipeline.start_inline_gateway()
        else:
            assert pipeline.gateway is not None
            exits.callback(pipeline.gateway.kill, signal.SIGTERM)
            pipeline.gateway.start()
        publisher = await exits.enter_async_context(
            MqttPublisher(broker_settings_from(stack, f"carepulse-e2e-devices-{pipeline.run_id}"))
        )
        settings = pipeline.gateway_settings()
        ingest = Ingest(station.registry(), settings.secret_bytes(), settings.topics)
        pipeline._traffic = Traffic(station, ingest, mqtt=publisher, ble=pipeline.ble, rate=rate)
        exits.push_async_callback(pipeline.traffic.cancel)
        await wait_http(f"http://127.0.0.1:{pipeline.port}/", 60)
        await pipeline.probe_subscription()
        if pipeline.ble:
            connected = await wait_connected(dict(pipeline.ble), 60)
            assert connected == len(pipeline.ble), pipeline.logs()
        yield pipeline
