"""Two workers sharing the ``readings`` partitions: throughput, and windows across a rebalance.

    python -m stream.scaleout [--residents 200] [--per-resident 50] [--json]

Three runs on the local stack, each with its own topics, app id and buckets:

1. **one worker** takes ``residents x per-resident`` heart-rate readings sent as fast as
   a producer can;
2. **two workers**, started together, take the same readings (the group splits the
   partitions between them);
3. **a rebalance under load**: one worker starts on the first half of the readings, a
   second joins while the rest arrive, and every resident's 1-hour window must end with
   exactly the resident's readings (count and mean), however the partitions moved.

Throughput is the readings over the time from the first being sent (once every worker is
ready and the group has all its members) to the last resident's 1-hour window on the
``metrics`` topic counting all of that resident's readings: end to end, not just
consumed. Workers run as
subprocesses (``carepulse worker``), like in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from influxdb_client.client.influxdb_client import InfluxDBClient

from carepulse.bench import print_result
from carepulse.kafka_lag import group_lag
from carepulse.observation import Observation
from carepulse.settings import StackSettings
from carepulse.topics import Topics

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """One run's names: topic prefix, app id (consumer group), buckets, folder."""

    name: str
    stack: StackSettings
    folder: Path

    @property
    def prefix(self) -> str:
        return f"{self.name}."

    @property
    def app_id(self) -> str:
        return f"carepulse-{self.name}"

    @property
    def readings(self) -> str:
        return f"{self.prefix}readings"

    def env(self) -> dict[str, str]:
        """The workers' environment."""
        return dict(
            os.environ,
            CAREPULSE_KAFKA_BOOTSTRAP=self.stack.kafka_bootstrap,
            CAREPULSE_TOPIC_PREFIX=self.prefix,
            CAREPULSE_APP_ID=self.app_id,
            CAREPULSE_INFLUX_BUCKET=f"{self.name}_raw",
            CAREPULSE_METRICS_BUCKET=f"{self.name}_metrics",
        )


def subject(n: int) -> str:
    """The pseudonym of simulated resident ``n`` (32 hex characters)."""
    return f"{n:032x}"


def backlog(residents: int, per_resident: int, hour: datetime) -> list[Observation]:
    """Heart-rate readings inside one past hour: resident ``r``'s ``i``-th is 60 + i % 40."""
    out = []
    for i in range(per_resident):
        at = hour + timedelta(seconds=3600 * i / per_resident)
        for r in range(residents):
            out.append(
                Observation.create(
                    station_id="st-scale",
                    subject_id=subject(r),
                    device_id=f"scale-band-{r}",
                    device_kind="hr_band",
                    kind="heart_rate",
                    values={"heart_rate_bpm": float(60 + i % 40)},
                    measured_at=at,
                    received_at=at,
                    source="sim",
                )
            )
    return out


def expected_mean(per_resident: int) -> float:
    """Each resident's mean heart rate in the hour, as ``backlog`` makes it."""
    return sum(60 + i % 40 for i in range(per_resident)) / per_resident


async def prepare(run: Run) -> None:
    """The run's topics (Faust ignores missing ones) and InfluxDB buckets."""
    names = [*Topics.with_prefix(run.prefix).all(), f"{run.prefix}readings.valid"]
    admin = AIOKafkaAdminClient(bootstrap_servers=run.stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=run.stack.partitions, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()
    with InfluxDBClient(
        url=run.stack.influx_url,
        token=run.stack.influx_token.get_secret_value(),
        org=run.stack.influx_org,
    ) as client:
        api = client.buckets_api()
        for bucket in (f"{run.name}_raw", f"{run.name}_metrics"):
            api.create_bucket(bucket_name=bucket, org=run.stack.influx_org)


async def produce(run: Run, observations: list[Observation]) -> None:
    """Send observations keyed by resident, as the gateways do."""
    producer = AIOKafkaProducer(
        bootstrap_servers=run.stack.kafka_bootstrap, acks="all", linger_ms=20
    )
    await producer.start()
    try:
        for obs in observations:
            await producer.send(run.readings, obs.to_json(), key=obs.subject_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


@contextmanager
def workers(run: Run, count: int) -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    """``count`` worker subprocesses (more can be appended), stopped on exit."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for _ in range(count):
            started.append(start_worker(run, len(started)))
        yield started
    finally:
        for process, _log in started:
            process.send_signal(signal.SIGTERM)
        for process, _log in started:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_worker(run: Run, n: int) -> tuple[subprocess.Popen[bytes], Path]:
    """Worker ``n`` of the run, logging to its own file."""
    log = run.folder / f"{run.name}-worker{n}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603  # our own worker
            [
                sys.executable,
                "-m",
                "carepulse",
                "worker",
                "--datadir",
                str(run.folder / f"{run.name}-faust{n}"),
            ],
            env=run.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    return process, log


async def wait_ready(started: list[tuple[subprocess.Popen[bytes], Path]], timeout_s: float) -> None:
    """Until every worker's log says Faust is ready (or fail, showing the log)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    for process, log in started:
        while "Ready" not in log.read_text(errors="replace"):
            if process.poll() is not None or loop.time() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                msg = f"worker {log.name} did not get ready:\n{tail}"
                raise RuntimeError(msg)
            await asyncio.sleep(0.2)


async def drained_in(run: Run, timeout_s: float) -> float:
    """Seconds until the worker group has committed all of ``readings``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        lag = (await group_lag(run.stack.kafka_bootstrap, {run.app_id: (run.readings,)}))[
            run.app_id
        ]
        if lag == 0:
            return loop.time() - started
        if loop.time() - started > timeout_s:
            msg = f"{run.name}: {lag} readings still not committed after {timeout_s:.0f} s"
            raise RuntimeError(msg)
        await asyncio.sleep(0.5)


async def complete_windows(
    run: Run, hour: datetime, residents: int, per_resident: int, timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Read ``metrics`` until every resident's 1-hour window counts all its readings.

    Returns each resident's last emitted heart-rate window (count, mean, ...); fails
    after ``timeout_s`` naming how many windows were still short.
    """
    start = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    consumer = AIOKafkaConsumer(
        f"{run.prefix}metrics",
        bootstrap_servers=run.stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    last: dict[str, dict[str, Any]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while sum(w["count"] == per_resident for w in last.values()) < residents:
            if loop.time() > deadline:
                done = sum(w["count"] == per_resident for w in last.values())
                msg = f"{run.name}: {residents - done} of {residents} windows short"
                raise RuntimeError(msg)
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    m = json.loads(record.value or b"{}")
                    if (m.get("metric"), m.get("window"), m.get("kind"), m.get("start")) == (
                        "window",
                        "1h",
                        "heart_rate",
                        start,
                    ):
                        last[m["subject_id"]] = m["values"]["heart_rate_bpm"]
    finally:
        await consumer.stop()
    return last


async def group_members(run: Run) -> int:
    """How many members the worker group has right now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=run.stack.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([run.app_id])
    finally:
        await admin.close()
    # DescribeGroups v0+: (error_code, group_id, state, protocol_type, protocol, members, ...)
    return sum(len(group[5]) for response in described for group in response.groups)


async def throughput(
    run: Run, count: int, observations: list[Observation], hour: datetime, residents: int
) -> float:
    """Observations/s of ``count`` workers: first reading sent to last window complete."""
    await prepare(run)
    per_resident = len(observations) // residents
    with workers(run, count) as started:
        await wait_ready(started, 180)
        await wait_members(run, count, 120)
        loop = asyncio.get_running_loop()
        begun = loop.time()
        watcher = asyncio.create_task(complete_windows(run, hour, residents, per_resident, 900))
        await produce(run, observations)
        await watcher
        seconds = loop.time() - begun
    return len(observations) / seconds


async def wait_members(run: Run, count: int, timeout_s: float) -> None:
    """Until the worker group has ``count`` members (the partitions are shared out)."""
    async with asyncio.timeout(timeout_s):
        while await group_members(run) != count:
            await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # the assignment settles after the join


async def rebalance(
    run: Run, residents: int, per_resident: int, observations: list[Observation], hour: datetime
) -> dict[str, Any]:
    """A second worker joins mid-stream; every resident's window must still be exact."""
    await prepare(run)
    half = len(observations) // 2
    with workers(run, 1) as started:
        await wait_ready(started, 180)
        await produce(run, observations[:half])
        started.append(start_worker(run, 1))
        # The rest arrives over 30 s, so the second worker joins while readings flow.
        rest = observations[half:]
        step = max(1, len(rest) // 60)
        for i in range(0, len(rest), step):
            await produce(run, rest[i : i + step])
            await asyncio.sleep(0.5)
        await wait_ready(started, 180)
        await wait_members(run, 2, 120)
        windows = await complete_windows(run, hour, residents, per_resident, 900)
        await drained_in(run, 300)
    mean = expected_mean(per_resident)
    wrong = {
        s: w
        for s, w in ((subject(r), windows.get(subject(r))) for r in range(residents))
        if w is None or w["count"] != per_resident or abs(w["mean"] - mean) > 1e-6
    }
    return {
        "members_after_join": 2,
        "residents": residents,
        "windows_exact": residents - len(wrong),
        "windows_wrong": dict(list(wrong.items())[:5]),
    }


async def measure(residents: int, per_resident: int) -> dict[str, Any]:
    """All three runs."""
    stack = StackSettings.load()
    hour = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    observations = backlog(residents, per_resident, hour)
    tag = datetime.now(UTC).strftime("%H%M%S")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        one = await throughput(Run(f"scale1w{tag}", stack, base), 1, observations, hour, residents)
        two = await throughput(Run(f"scale2w{tag}", stack, base), 2, observations, hour, residents)
        moved = await rebalance(
            Run(f"scalerb{tag}", stack, base), residents, per_resident, observations, hour
        )
    return {
        "observations": len(observations),
        "partitions": stack.partitions,
        "one_worker_obs_per_s": round(one, 1),
        "two_workers_obs_per_s": round(two, 1),
        "speedup": round(two / one, 2),
        "rebalance": moved,
    }


def main() -> None:
    """Print the figures (lines, or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--per-resident", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    result = asyncio.run(measure(args.residents, args.per_resident))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print_result(result, args.json)


if __name__ == "__main__":
    main()
