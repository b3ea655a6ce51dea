"""``python -m stream.bench [--json]``: one worker's throughput and alert latency.

Runs the real worker (``python -m stream worker``, sink on, own InfluxDB buckets) on the
stack's Kafka under a unique topic prefix and app id, then:

1. **Throughput**: ``--count`` heart-rate observations (1,000 residents) are put on
   ``readings`` before the worker starts; sustained observations/s = observations / time
   between the first and the last of them forwarded to ``readings.valid`` (the pipeline
   forwards an observation in the same Kafka-acknowledged batch as its window, resident
   and alert updates, so a forward means the observation was fully handled).
2. **Latency**: observations at ``--rate`` per second for ``--seconds``; every 100th is
   a hypertensive crisis for a new resident, which raises ``bp.urgent_referral`` at
   once. Latency = alert seen on ``alerts`` minus the observation's ``received_at``
   (gateway receipt), both on this machine's clock; p50/p99 over those alerts.

The worker's InfluxDB sink runs too (own buckets), as in production. For a profile of
the running worker use py-spy (``py-spy record --pid <worker pid> -f raw``).
``--profile FILE`` runs the worker under cProfile and prints where its time went.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from influxdb_client.client.influxdb_client import InfluxDBClient

from carepulse.observation import Observation
from carepulse.settings import StackSettings

TOPICS = (
    "readings",
    "readings.rejected",
    "readings.valid",
    "metrics",
    "alerts",
    "heartbeats",
    "devices.owner",
)


def _subject(n: int) -> str:
    return hashlib.sha256(f"bench-{n}".encode()).hexdigest()[:32]


def _obs(n: int, kind: str, values: dict[str, Any], subject: str) -> Observation:
    now = datetime.now(UTC)
    return Observation(
        observation_id=hashlib.sha256(f"{uuid.uuid4()}".encode()).hexdigest()[:32],
        station_id="st-bench",
        subject_id=subject,
        device_id=f"dev-{n % 500}",
        device_kind="band",
        kind=kind,  # type: ignore[arg-type]  # validated to Kind on construction
        values=values,
        measured_at=now,
        received_at=now,
        source="sim",  # type: ignore[arg-type]  # validated to Source on construction
    )


async def _count_until(
    consumer: AIOKafkaConsumer, predicate: Any, timeout_s: float, proc: subprocess.Popen[bytes]
) -> list[tuple[float, bytes]]:
    seen: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + timeout_s
    while not predicate(seen):
        if time.monotonic() > deadline or proc.poll() is not None:
            break
        batch = await consumer.getmany(timeout_ms=200)
        now = time.time()
        seen.extend((now, r.value) for rs in batch.values() for r in rs if r.value)
    return seen


def _stored(influx: Any, bucket: str) -> int:
    """Readings stored in ``bucket`` (heart rate and systolic fields: one per reading)."""
    query = (
        f'from(bucket: "{bucket}") |> range(start: 0) |> filter(fn: (r) => '
        'r._measurement == "reading" and '
        '(r._field == "heart_rate_bpm" or r._field == "systolic_mmhg")) |> group() |> count()'
    )
    tables = influx.query_api().query(query)
    return sum(int(rec.get_value()) for table in tables for rec in table.records)


async def bench(
    count: int,
    rate: int,
    seconds: int,
    partitions: int,
    profile: Path | None,
    sink: str = "process",
) -> dict[str, Any]:
    """Run both phases and return the figures."""
    stack = StackSettings.load()
    unique = uuid.uuid4().hex[:10]
    prefix = f"bench{unique}."
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(f"{prefix}{t}", num_partitions=partitions, replication_factor=1)
                for t in TOPICS
            ]
        )
    finally:
        await admin.close()
    buckets = (f"bench_raw_{unique}", f"bench_met_{unique}")
    influx = InfluxDBClient(
        url=stack.influx_url, token=stack.influx_token.get_secret_value(), org=stack.influx_org
    )
    for bucket in buckets:
        influx.buckets_api().create_bucket(bucket_name=bucket, org=stack.influx_org)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=5)
    await producer.start()
    readings = f"{prefix}readings"
    for n in range(count):
        obs = _obs(n, "heart_rate", {"heart_rate_bpm": 60 + n % 40}, _subject(n % 1000))
        await producer.send(readings, obs.to_json(), key=obs.subject_id.encode())
    await producer.flush()
    env = dict(
        os.environ,
        CAREPULSE_TOPIC_PREFIX=prefix,
        CAREPULSE_PARTITIONS=str(partitions),
        CAREPULSE_APP_ID=f"carepulse-bench-{unique}",
        CAREPULSE_INFLUX_BUCKET=buckets[0],
        CAREPULSE_METRICS_BUCKET=buckets[1],
        CAREPULSE_SINK_ENABLED="true" if sink == "worker" else "false",
    )
    workdir = Path(tempfile.mkdtemp(prefix="carepulse-bench-"))
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += [
        "-m",
        "stream",
        "--datadir",
        str(workdir),
        "worker",
        "--without-web",
        "--loglevel",
        "warn",
    ]
    log = (workdir / "worker.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    # The InfluxDB sink: its own process (the default), or a task in the worker.
    sink_proc = (
        None
        if sink != "process"
        else subprocess.Popen(
            [sys.executable, "-m", "stream.sink"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    )
    metrics = AIOKafkaConsumer(
        f"{prefix}readings.valid",
        bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    alerts = AIOKafkaConsumer(
        f"{prefix}alerts",
        bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="latest",
        group_id=None,
    )
    await metrics.start()
    await alerts.start()
    result: dict[str, Any] = {
        "sink": {"process": "own process", "worker": "worker task", "none": "none"}[sink],
        "count": count,
        "rate": rate,
        "seconds": seconds,
        "partitions": partitions,
    }
    try:
        # Phase 1: the backlog. Each observation is forwarded to readings.valid once, in
        # the same acknowledged batch as its window, resident and alert updates.
        seen = await _count_until(metrics, lambda s: len(s) >= count, 600, proc)
        hours = [t for t, _ in seen]
        span = hours[-1] - hours[0] if len(hours) > 1 else float("nan")
        result["throughput_obs_per_s"] = round(len(hours) / span, 1) if span else None
        result["throughput_processed"] = len(hours)
        # Phase 2 starts from a steady state: the sink has stored the backlog.
        settled = time.monotonic()
        while (
            sink != "none"
            and _stored(influx, buckets[0]) < count
            and time.monotonic() < settled + 180
        ):
            await asyncio.sleep(1)
        result["sink_backlog_stored_after_s"] = round(time.monotonic() - settled, 1)
        # Phase 2: steady rate with crises; alerts are read while observations go out.
        await alerts.getmany(timeout_ms=500)
        sent: dict[str, float] = {}
        # (seen by this process, the record's create time set by the worker's producer, value)
        arrived: list[tuple[float, float, bytes]] = []

        async def read_alerts() -> None:
            while True:
                batch = await alerts.getmany(timeout_ms=100)
                now = time.time()
                arrived.extend(
                    (now, r.timestamp / 1000, r.value)
                    for rs in batch.values()
                    for r in rs
                    if r.value
                )

        reader = asyncio.create_task(read_alerts())
        total = rate * seconds
        crisis = {"systolic_mmhg": 186.0, "diastolic_mmhg": 114.0}
        start = time.monotonic()
        for n in range(total):
            if n % 100 == 0:
                obs = _obs(n, "blood_pressure", crisis, _subject(10_000 + n))
                sent[obs.observation_id] = obs.received_at.timestamp()
            else:
                obs = _obs(n, "heart_rate", {"heart_rate_bpm": 70}, _subject(n % 1000))
            await producer.send(readings, obs.to_json(), key=obs.subject_id.encode())
            lag = start + (n + 1) / rate - time.monotonic()
            if lag > 0.002:
                await asyncio.sleep(lag)
        result["achieved_rate"] = round(total / (time.monotonic() - start), 1)
        await producer.flush()
        produced = time.monotonic()
        deadline = produced + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(1 for _, _, v in arrived if b"bp.urgent_referral" in v) >= len(sent):
                break
            await asyncio.sleep(0.2)
        reader.cancel()
        # Latency: the alert's record timestamp (when the worker put it on `alerts`) minus
        # the gateway's received_at; "seen" also counts this process reading it back.
        latencies, seen_latencies = [], []
        for seen_at, created_at, value in arrived:
            alert = json.loads(value)
            if alert["rule_id"] == "bp.urgent_referral":
                observation_id = alert["evidence"]["readings"][0]["observation_id"]
                if observation_id in sent:
                    latencies.append((created_at - sent[observation_id]) * 1000)
                    seen_latencies.append((seen_at - sent[observation_id]) * 1000)
        result["latency_samples"] = len(latencies)
        for name, values in (("latency", latencies), ("seen_latency", seen_latencies)):
            if values:
                values.sort()
                result[f"{name}_p50_ms"] = round(statistics.median(values), 1)
                result[f"{name}_p99_ms"] = round(
                    values[min(len(values) - 1, int(0.99 * len(values)))], 1
                )
                result[f"{name}_max_ms"] = round(values[-1], 1)
        # The sink: how long after the last observation was sent InfluxDB has every reading.
        expected = count + total
        sink_deadline = time.monotonic() + 180
        while sink != "none" and (stored := _stored(influx, buckets[0])) < expected:
            if time.monotonic() > sink_deadline:
                break
            await asyncio.sleep(2)
        if sink != "none":
            result["sink_stored"] = f"{stored}/{expected}"
            result["sink_caught_up_s"] = round(time.monotonic() - produced, 1)
    finally:
        await metrics.stop()
        await alerts.stop()
        await producer.stop()
        # Stopped while it may still be working off a backlog: how long the shutdown takes.
        proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        try:
            proc.wait(timeout=60)
            result["shutdown_s"] = round(time.monotonic() - stopping, 1)
        except subprocess.TimeoutExpired:
            result["shutdown_s"] = None  # hung: killed after 60 s
            proc.kill()
            proc.wait()
        if sink_proc is not None:
            sink_proc.send_signal(signal.SIGTERM)
            try:
                sink_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sink_proc.kill()
                sink_proc.wait()
        log.close()
        _drop_buckets(influx, buckets)
    return result


def _drop_buckets(influx: Any, buckets: tuple[str, ...]) -> None:
    api = influx.buckets_api()
    for bucket in buckets:
        found = api.find_bucket_by_name(bucket)
        if found is not None:
            api.delete_bucket(found)
    influx.close()


@click.command()
@click.option("--count", default=20_000, show_default=True, help="Backlog observations (phase 1).")
@click.option("--rate", default=1000, show_default=True, help="Observations per second (phase 2).")
@click.option("--seconds", default=20, show_default=True, help="Length of phase 2.")
@click.option("--partitions", default=4, show_default=True)
@click.option(
    "--profile", type=click.Path(dir_okay=False, path_type=Path), help="cProfile output file."
)
@click.option(
    "--sink",
    type=click.Choice(["process", "worker", "none"]),
    default="process",
    show_default=True,
    help="The InfluxDB sink: its own process, a task in the worker, or not run.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def main(
    count: int,
    rate: int,
    seconds: int,
    partitions: int,
    profile: Path | None,
    sink: str,
    as_json: bool,
) -> None:
    """Benchmark one stream worker against the local stack."""
    result = asyncio.run(bench(count, rate, seconds, partitions, profile, sink))
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key:24} {value}")
    if profile is not None and profile.exists():
        stats = pstats.Stats(str(profile))
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
