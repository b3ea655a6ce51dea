"""One run of the real pipeline for the security checks: scenario, gateway, worker, alerts.

Built from the demo's pieces (``simulators.demo``): the run's own topic prefix, InfluxDB
buckets, Faust app id and alert database; the worker and the alert service as
subprocesses; the scenario's devices and the gateway in this process. What differs from
the demo: the plan gets extra actions (bad MQTT input among the good readings), bad
messages are produced straight onto ``readings`` (the worker's door), and the run ends
when every expected reading is in InfluxDB (or a generous limit says what is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from carepulse.settings import StackSettings
from simulators.demo import (
    DemoRun,
    carepulse,
    create_topics,
    residents_csv,
    stored_readings,
    wait_http,
    wait_log,
)
from simulators.mqtt_devices import broker_settings_from, provision_mqtt_logins
from simulators.runner import RunSummary, anchor_start, gateway_settings, run_scenario
from simulators.scenario import Action, Plan, load_scenario, plan
from simulators.truth import ground_truth
from storage.config import StorageSettings
from storage.setup import StorageSetup

#: Generous limits for a 2-core machine shared with other work; each failure says which.
SERVICE_START_S = 240.0
STORED_WAIT_S = 240.0


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """What a run did and where it left its data."""

    run: DemoRun
    stack: StackSettings
    storage: StorageSettings
    plan: Plan
    truth: dict[str, Any]
    people_csv: str
    summary: RunSummary
    expected_stored: int
    stored: int


def free_port() -> int:
    """A TCP port nobody listens on now (for the alert service)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def new_run(folder: Path, run_id: str) -> DemoRun:
    """A run isolated by ``run_id`` (topics, buckets, app id, alert database)."""
    return DemoRun(
        run_id=run_id,
        folder=folder,
        prefix=f"{run_id}.",
        readings_bucket=f"{run_id}_readings",
        metrics_bucket=f"{run_id}_metrics",
        port=free_port(),
        password="security-run-password",  # a throw-away local login
    )


@contextlib.asynccontextmanager
async def services(run: DemoRun, people: Path) -> AsyncIterator[None]:
    """The worker and the alert service (with the residents' names) for the run."""
    env = run.env()
    for args in (
        ("alerts", "users", "add", "security", "--role", "supervisor", "--display-name", "S"),
        ("alerts", "residents", "import", str(people)),
    ):
        subprocess.run(  # our own command line
            [sys.executable, "-m", "carepulse", *args],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    worker = carepulse("worker", env=env, log=run.folder / "worker.log")
    alerts = carepulse("alerts", "serve", env=env, log=run.folder / "alerts.log")
    try:
        try:
            await wait_http(f"http://127.0.0.1:{run.port}/", SERVICE_START_S)
        except TimeoutError:
            msg = f"the alert service did not answer within {SERVICE_START_S:.0f} s; see alerts.log"
            raise AssertionError(msg) from None
        try:
            await wait_log(run.folder / "worker.log", "Ready", SERVICE_START_S)
        except TimeoutError:
            msg = f"the worker was not ready within {SERVICE_START_S:.0f} s; see worker.log"
            raise AssertionError(msg) from None
        yield
    finally:
        for process in (worker, alerts):
            process.send_signal(signal.SIGTERM)
        for process in (worker, alerts):
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


async def produce(bootstrap: str, topic: str, values: Sequence[bytes]) -> None:
    """Write ``values`` straight onto a topic (what a broken or hostile producer could)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def wait_stored(storage: StorageSettings, expected: int, limit_s: float) -> int:
    """Poll InfluxDB until ``expected`` readings are stored (or the limit); returns the count."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    stored = sum((await stored_readings(storage)).values())
    while stored < expected and loop.time() < deadline:
        await asyncio.sleep(2.0)
        stored = sum((await stored_readings(storage)).values())
    return stored


async def run_pipeline(
    folder: Path,
    run_id: str,
    scenario_file: Path,
    *,
    duration_s: float,
    extra: Callable[[Plan], list[Action]],
    extra_stored: int,
    kafka_values: Sequence[bytes] = (),
) -> PipelineRun:
    """Run ``scenario_file`` plus ``extra(plan)`` actions; ``extra_stored`` of them are good."""
    stack = StackSettings.load()
    run = new_run(folder, run_id)
    storage = StorageSettings.load(
        influx_bucket=run.readings_bucket, metrics_bucket=run.metrics_bucket
    )
    async with InfluxDBClientAsync(
        url=storage.influx_url,
        token=storage.influx_token.get_secret_value(),
        org=storage.influx_org,
    ) as client:
        await StorageSetup(client, storage).run()

    scenario = load_scenario(scenario_file)
    speed = scenario.days * 86400.0 / duration_s
    planned = plan(scenario, start=anchor_start(scenario, scenario.days, speed, datetime.now(UTC)))
    truth = ground_truth(planned).as_dict(speed=speed)
    actions = sorted([*planned.actions, *extra(planned)], key=lambda a: a.at)
    augmented = dataclasses.replace(planned, actions=tuple(actions))
    (folder / "residents.toml").write_text(planned.residents_toml(), encoding="utf-8")
    (folder / "truth.json").write_text(json.dumps(truth, indent=2), encoding="utf-8")
    people_csv = residents_csv(truth, str(truth["station_id"]))
    (folder / "people.csv").write_text(people_csv, encoding="utf-8")

    await create_topics(stack, run.prefix)
    async with services(run, folder / "people.csv"):
        await produce(stack.kafka_bootstrap, f"{run.prefix}readings", kafka_values)
        # Every device (the stranger too) and the gateway log in as themselves (the ACL).
        logins = await asyncio.to_thread(provision_mqtt_logins, augmented)
        summary = await run_scenario(
            augmented,
            speed=speed,
            broker=broker_settings_from(stack, f"carepulse-sec-devices-{run_id}"),
            gateway=gateway_settings(
                augmented,
                folder,
                topic_prefix=run.prefix,
                logins=logins,
                mqtt_client_id=f"carepulse-sec-gateway-{run_id}",
            ),
            state_dir=folder,
            logins=logins,
        )
        expected = int(truth["counts"]["observations_total"]) + extra_stored
        stored = await wait_stored(storage, expected, STORED_WAIT_S)
    return PipelineRun(
        run=run,
        stack=stack,
        storage=storage,
        plan=augmented,
        truth=truth,
        people_csv=people_csv,
        summary=summary,
        expected_stored=expected,
        stored=stored,
    )
