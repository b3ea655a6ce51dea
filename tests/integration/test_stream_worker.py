"""The real stream worker (``python -m stream worker``) on the stack's Kafka and InfluxDB.

Each test runs the worker in a subprocess with a unique topic prefix, app id and
InfluxDB buckets, feeds observations through Kafka and checks what comes out: alerts,
dead letters, window metrics and stored readings -- across a worker restart and an
InfluxDB outage.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from influxdb_client.client.influxdb_client import InfluxDBClient

from carepulse.alert import Alert
from carepulse.observation import Observation
from carepulse.settings import StackSettings

pytestmark = [pytest.mark.kafka, pytest.mark.influxdb]

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack"
SUBJECT = "0123456789abcdef0123456789abcdef"
PARTITIONS = 2


@dataclass
class Worker:
    """A running worker subprocess and how to reach what it writes."""

    stack: StackSettings
    prefix: str
    env: dict[str, str]
    log: Path
    tmp: Path
    raw_bucket: str
    proc: subprocess.Popen[bytes] | None = None

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "stream",
                    "--datadir",
                    str(self.tmp / "faust"),
                    "worker",
                    "--without-web",  # Faust's CLI serves 6066 otherwise; tests need no page
                    "--loglevel",
                    os.environ.get("CAREPULSE_TEST_WORKER_LOGLEVEL", "warn"),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def alive(self) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log.read_text()[-4000:]


def _influx(stack: StackSettings) -> InfluxDBClient:
    return InfluxDBClient(
        url=stack.influx_url, token=stack.influx_token.get_secret_value(), org=stack.influx_org
    )


@pytest.fixture
async def worker(
    kafka: StackSettings, influxdb: StackSettings, unique: str, tmp_path: Path
) -> AsyncIterator[Worker]:
    prefix = f"t{unique}."
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    await admin.start()
    try:
        names = [
            "readings",
            "readings.rejected",
            "readings.valid",
            "metrics",
            "alerts",
            "heartbeats",
            "devices.owner",
        ]
        await admin.create_topics(
            [
                NewTopic(f"{prefix}{n}", num_partitions=PARTITIONS, replication_factor=1)
                for n in names
            ]
        )
    finally:
        await admin.close()
    raw, metrics = f"t_raw_{unique}", f"t_met_{unique}"
    with _influx(influxdb) as client:
        for bucket in (raw, metrics):
            client.buckets_api().create_bucket(bucket_name=bucket, org=influxdb.influx_org)
    env = dict(
        os.environ,
        CAREPULSE_KAFKA_BOOTSTRAP=kafka.kafka_bootstrap,
        CAREPULSE_TOPIC_PREFIX=prefix,
        CAREPULSE_PARTITIONS=str(PARTITIONS),
        CAREPULSE_APP_ID=f"carepulse-test-{unique}",
        CAREPULSE_INFLUX_BUCKET=raw,
        CAREPULSE_METRICS_BUCKET=metrics,
        CAREPULSE_SINK_BATCH_TIMEOUT_MS="200",
        CAREPULSE_SINK_MAX_BACKOFF_S="2",
    )
    running = Worker(kafka, prefix, env, tmp_path / "worker.log", tmp_path, raw)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        with _influx(influxdb) as client:
            api = client.buckets_api()
            for bucket in (raw, metrics):
                found = api.find_bucket_by_name(bucket)
                if found is not None:
                    api.delete_bucket(found)


def observation(kind: str, values: dict[str, Any], at: datetime) -> Observation:
    return Observation.create(
        station_id="st-001",
        subject_id=SUBJECT,
        device_id="C4:7C:8D:6A:12:34",
        device_kind="band",
        kind=kind,
        values=values,
        measured_at=at,
        received_at=at,
        source="sim",
    )


async def produce(stack: StackSettings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value, key=SUBJECT.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def read_until(w: Worker, topic: str, done: Any, timeout_s: float) -> list[bytes]:
    """Read a topic from the start until ``done(values)`` holds (or fail after the timeout)."""
    consumer = AIOKafkaConsumer(
        w.topic(topic),
        bootstrap_servers=w.stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(timeout_s):
            while not done(values):
                w.alive()
                batch = await consumer.getmany(timeout_ms=500)
                values.extend(r.value for rs in batch.values() for r in rs if r.value)
    except TimeoutError:
        pytest.fail(
            f"{topic}: condition not met in {timeout_s} s; got {len(values)} messages\n"
            + w.log.read_text()[-3000:]
        )
    finally:
        await consumer.stop()
    return values


def hour_count(values: list[bytes], start: str) -> int | None:
    """The latest count of heart rate in the 1 h window starting at ``start``."""
    count = None
    for raw in values:
        message = json.loads(raw)
        if (
            message["metric"] == "window"
            and message["window"] == "1h"
            and message["kind"] == "heart_rate"
            and message["start"] == start
        ):
            count = message["values"]["heart_rate_bpm"]["count"]
    return count


def stored_count(w: Worker, field: str) -> int:
    query = (
        f'from(bucket: "{w.raw_bucket}") |> range(start: 0) '
        f'|> filter(fn: (r) => r._measurement == "reading" and r._field == "{field}") '
        "|> group() |> count()"
    )
    with _influx(w.stack) as client:
        tables = client.query_api().query(query)
    return sum(int(rec.get_value()) for table in tables for rec in table.records)


def hour_start(at: datetime) -> str:
    return at.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


async def wait_stored(w: Worker, field: str, expected: int, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while stored_count(w, field) < expected:
            w.alive()
            await asyncio.sleep(1)
    assert stored_count(w, field) == expected


async def test_readings_in_alerts_metrics_rejections_out(worker: Worker) -> None:
    """A crisis BP gives an urgent alert; a duplicate is dropped; garbage is a dead letter."""
    now = datetime.now(UTC).replace(microsecond=0)
    crisis = observation("blood_pressure", {"systolic_mmhg": 186.0, "diastolic_mmhg": 114.0}, now)
    base = now.replace(minute=0, second=30)
    beats = [
        observation("heart_rate", {"heart_rate_bpm": 70 + n}, base + timedelta(seconds=n))
        for n in range(10)
    ]
    await produce(
        worker.stack,
        worker.topic("readings"),
        [crisis.to_json(), crisis.to_json(), b"{broken", *(b.to_json() for b in beats)],
    )

    alerts = await read_until(
        worker, "alerts", lambda v: any(b"bp.urgent_referral" in x for x in v), 120
    )
    alert = next(Alert.from_json(a) for a in alerts if b"bp.urgent_referral" in a)
    assert alert.evidence["readings"][0]["observation_id"] == crisis.observation_id
    rejected = await read_until(worker, "readings.rejected", lambda v: len(v) >= 1, 30)
    letter = json.loads(rejected[0])
    assert (letter["stage"], letter["field"]) == ("schema", "(root)")
    assert "not valid JSON" in letter["reason"]
    await read_until(worker, "metrics", lambda v: hour_count(v, hour_start(base)) == 10, 60)
    # The duplicate was dropped: exactly one BP reading reaches InfluxDB.
    await wait_stored(worker, "systolic_mmhg", 1, 60)
    await wait_stored(worker, "heart_rate_bpm", 10, 60)


async def test_restart_loses_nothing_and_counts_nothing_twice(worker: Worker) -> None:
    """Readings sent while the worker is down are counted once after it restarts."""
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)
    first = [
        observation("heart_rate", {"heart_rate_bpm": 60 + n}, now + timedelta(seconds=n))
        for n in range(20)
    ]
    await produce(worker.stack, worker.topic("readings"), [o.to_json() for o in first])
    start = hour_start(now)
    await read_until(worker, "metrics", lambda v: hour_count(v, start) == 20, 120)
    worker.stop()
    second = [
        observation(
            "heart_rate", {"heart_rate_bpm": 100 + n}, now + timedelta(minutes=1, seconds=n)
        )
        for n in range(15)
    ]
    await produce(worker.stack, worker.topic("readings"), [o.to_json() for o in first[:5] + second])
    worker.start()
    values = await read_until(worker, "metrics", lambda v: hour_count(v, start) == 35, 120)
    await asyncio.sleep(5)  # anything double-counted would show up by now
    values = await read_until(worker, "metrics", lambda v: len(v) >= len(values), 30)
    assert hour_count(values, start) == 35
    await wait_stored(worker, "heart_rate_bpm", 35, 60)


async def test_influxdb_outage_loses_no_reading(worker: Worker) -> None:
    """Readings arriving while InfluxDB is down are all stored once it is back."""
    now = datetime.now(UTC).replace(microsecond=0)
    early = [
        observation("spo2", {"spo2_percent": 97.0}, now - timedelta(seconds=n)) for n in range(5)
    ]
    await produce(worker.stack, worker.topic("readings"), [o.to_json() for o in early])
    await wait_stored(worker, "spo2_percent", 5, 120)
    subprocess.run(["bash", str(STACK), "down", "influxdb"], check=True, capture_output=True)
    try:
        during = [
            observation("spo2", {"spo2_percent": 96.0}, now - timedelta(seconds=10 + n))
            for n in range(40)
        ]
        await produce(worker.stack, worker.topic("readings"), [o.to_json() for o in during])
        # The risk path keeps working while the sink waits: an emergency still gets out.
        severe = observation("spo2", {"spo2_percent": 84.0}, now + timedelta(seconds=1))
        await produce(worker.stack, worker.topic("readings"), [severe.to_json()])
        await read_until(worker, "alerts", lambda v: any(b"vitals.spo2_severe" in x for x in v), 60)
        await asyncio.sleep(3)
    finally:
        subprocess.run(["bash", str(STACK), "up", "influxdb"], check=True, capture_output=True)
    await wait_stored(worker, "spo2_percent", 46, 120)


async def test_sigterm_under_load_stops_promptly_and_loses_nothing(worker: Worker) -> None:
    """SIGTERM in the middle of a backlog: the worker exits at once, and nothing is lost.

    An overloaded worker used to hang on shutdown, waiting for events its stopped agent
    would never ack (Faust's ``stream_wait_empty``). Now it commits what was acked and
    stops; the restarted worker reads the rest again, and the watermarks keep the replayed
    part from being counted twice. The restarted consumer sometimes skips an offset; the
    pipeline reads it back (stream.intake) -- before, this ended at 5,999 of 6,000.
    """
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)
    count = 6000
    backlog = [
        observation("heart_rate", {"heart_rate_bpm": 60 + n % 50}, now + timedelta(seconds=n / 10))
        for n in range(count)
    ]
    await produce(worker.stack, worker.topic("readings"), [o.to_json() for o in backlog])
    await read_until(worker, "readings.valid", lambda v: len(v) >= 1, 120)
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    started = asyncio.get_running_loop().time()
    while worker.proc.poll() is None:
        assert asyncio.get_running_loop().time() - started < 30, "worker hangs on SIGTERM"
        await asyncio.sleep(0.2)
    worker.proc = None
    worker.start()
    start = hour_start(now)
    seen: list[int | None] = []

    def counted(values: list[bytes]) -> bool:
        seen.append(hour_count(values, start))
        return seen[-1] == count

    try:
        values = await read_until(worker, "metrics", counted, 240)
    except BaseException:
        pytest.fail(f"hour counts seen after the restart: {sorted({c for c in seen if c})[-3:]}")
    await asyncio.sleep(5)  # anything double-counted would show up by now
    values = await read_until(worker, "metrics", lambda v: len(v) >= len(values), 30)
    assert hour_count(values, start) == count
    await wait_stored(worker, "heart_rate_bpm", count, 120)
