"""Gateway throughput: decode → observation → outbox → Kafka, measured on this machine.

    python -m edge.bench [--count N] [--json]

Three figures from one run, each on the same generated heart-rate and blood-pressure
payloads (a registered band and BP meter; every payload distinct):

* ``ingest``: the pure decision alone (decode, map, assign, pseudonymise, build the message);
* ``outbox_single``: one durable outbox commit per ready message (``synchronous=FULL``),
  which is what a BLE notification costs on top of the ingest;
* ``outbox_batched``: commits of 100 ready messages at a time;
* ``uplink``: draining the outbox to the local stack's Kafka (acks=all, idempotent);
* ``gateway``: the whole path a BLE notification takes in the running gateway
  (``Gateway.payload``: decode, ingest, one durable outbox commit) while the uplink drains
  the outbox to Kafka at the same time, until the last observation is acknowledged.

The uplink and gateway figures need the local stack (``make stack-up``); the others need nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from carepulse.bench import print_result
from carepulse.observation import Source
from carepulse.settings import KafkaSettings
from carepulse.topics import Topics
from edge.config import GatewaySettings
from edge.decoders import BloodPressureMeasurement, DateTime, HeartRateMeasurement
from edge.gateway import open_gateway
from edge.ingest import Accepted, Ingest
from edge.outbox import Outbox
from edge.records import OutboxMessage
from edge.registry import load_registry
from edge.uplink import KafkaUplink

REGISTRY = """
[station]
id = "st-bench"
[[devices]]
id = "AA:00:00:00:00:01"
kind = "hr_band"
transport = "ble"
resident = "R1"
[[devices]]
id = "AA:00:00:00:00:02"
kind = "bp_meter"
transport = "ble"
resident = "R2"
"""
SECRET = b"benchmark-station-secret-0123456789"


def payloads(count: int) -> list[tuple[str, str, bytes]]:
    """``count`` distinct payloads: 4 in 5 heart rate with RR intervals, 1 in 5 BP."""
    out = []
    for n in range(count):
        if n % 5:
            hr = HeartRateMeasurement(60 + n % 60, True, rr_intervals=(0.8, 0.81, 0.79))
            out.append(("AA:00:00:00:00:01", "heart_rate_measurement", bytes(hr)))
        else:
            stamp = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
            bp = BloodPressureMeasurement(
                110.0 + n % 50,
                70.0 + n % 30,
                90.0,
                timestamp=DateTime(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute),
            )
            out.append(("AA:00:00:00:00:02", "blood_pressure_measurement", bytes(bp)))
    return out


def ingest_all(ingest: Ingest, items: list[tuple[str, str, bytes]]) -> list[OutboxMessage]:
    """Run every payload through the ingest; the received time advances 1 ms per payload."""
    start = datetime(2026, 11, 27, tzinfo=UTC)
    messages = []
    for n, (device, name, payload) in enumerate(items):
        received = start + timedelta(milliseconds=n)
        outcome = ingest.payload(device, name, payload, received_at=received, source=Source.SIM)
        if isinstance(outcome, Accepted):
            messages.append(outcome.message)
    return messages


async def drain(outbox: Outbox, bootstrap: str) -> float:
    """Seconds the uplink needs to empty the outbox into Kafka."""
    uplink = KafkaUplink(outbox, bootstrap_servers=bootstrap, batch_size=1000)
    started = time.perf_counter()
    task = asyncio.create_task(uplink.run())
    try:
        while outbox.stats().depth:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return time.perf_counter() - started


async def through_gateway(
    items: list[tuple[str, str, bytes]], bootstrap: str, folder: Path
) -> float:
    """Seconds from the first payload into a real gateway to the last one in Kafka."""
    settings = GatewaySettings.load(
        kafka_bootstrap=bootstrap,
        station_secret=SECRET.decode(),
        gateway_state_dir=folder,
        topic_prefix="bench.",
    )
    gateway = open_gateway(settings, load_registry(REGISTRY))
    start = datetime.now(UTC)
    started = time.perf_counter()
    uplink = asyncio.create_task(gateway.uplink.run())
    try:
        for n, (device, name, payload) in enumerate(items):
            gateway.payload(device, name, payload, start + timedelta(milliseconds=n))
            if n % 100 == 99:
                await asyncio.sleep(0)  # the uplink sends while payloads arrive
        while gateway.outbox.stats().depth:
            await asyncio.sleep(0.005)
        return time.perf_counter() - started
    finally:
        uplink.cancel()
        await asyncio.gather(uplink, return_exceptions=True)
        gateway.outbox.close()
        gateway.held.close()


def run(count: int, with_kafka: bool) -> dict[str, Any]:
    """Measure every figure; returns observations per second for each."""
    items = payloads(count)
    registry = load_registry(REGISTRY)
    results: dict[str, Any] = {"count": count}

    started = time.perf_counter()
    messages = ingest_all(Ingest(registry, SECRET, Topics.with_prefix("bench.")), items)
    results["ingest_obs_per_s"] = count / (time.perf_counter() - started)
    assert len(messages) == count  # noqa: S101  # every payload is valid by construction

    with tempfile.TemporaryDirectory() as folder:
        single = min(count, 2000)
        with Outbox(Path(folder) / "single.db") as outbox:
            started = time.perf_counter()
            for message in messages[:single]:
                outbox.put(message)
            results["outbox_single_obs_per_s"] = single / (time.perf_counter() - started)

        with Outbox(Path(folder) / "batched.db") as outbox:
            started = time.perf_counter()
            for i in range(0, count, 100):
                outbox.put_many(messages[i : i + 100])
            results["outbox_batched_obs_per_s"] = count / (time.perf_counter() - started)
            if with_kafka:
                bootstrap = KafkaSettings.load().kafka_bootstrap
                seconds = asyncio.run(drain(outbox, bootstrap))
                results["uplink_obs_per_s"] = count / seconds
        if with_kafka:
            bootstrap = KafkaSettings.load().kafka_bootstrap
            seconds = asyncio.run(through_gateway(items, bootstrap, Path(folder) / "gateway"))
            results["gateway_obs_per_s"] = count / seconds
    return results


def main() -> None:
    """Print the figures (a table, or JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--no-kafka", action="store_true", help="skip the uplink figure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.count, with_kafka=not args.no_kafka)
    print_result(results, args.json)


if __name__ == "__main__":
    main()
