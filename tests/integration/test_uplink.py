"""The gateway's outbox and uplink against the stack's real Kafka: nothing put is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from carepulse.settings import StackSettings
from edge.backoff import Backoff
from edge.outbox import Outbox
from edge.records import OutboxMessage
from edge.uplink import KafkaUplink

pytestmark = pytest.mark.kafka

STACK = Path(__file__).resolve().parents[2] / "scripts" / "stack"


def messages(topic: str, count: int, start: int = 0) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            topic=topic,
            key=f"subject-{n % 7}".encode(),
            value=f"reading-{n}".encode(),
            timestamp_ms=1_795_000_000_000 + n,
            dedup_id=f"obs-{n}",
        )
        for n in range(start, start + count)
    ]


async def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float) -> list[bytes]:
    """Read a topic from the beginning until ``expected`` values arrived (or time out)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(values) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                values.extend(r.value for rs in batch.values() for r in rs if r.value)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return values


async def wait_drained(outbox: Outbox, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while outbox.stats().depth:
            await asyncio.sleep(0.1)


@pytest.fixture
async def running_uplink(kafka: StackSettings, tmp_path: Path) -> AsyncIterator[KafkaUplink]:
    outbox = Outbox(tmp_path / "outbox.db")
    uplink = KafkaUplink(outbox, bootstrap_servers=kafka.kafka_bootstrap, backoff=Backoff(0.2, 2.0))
    task = asyncio.create_task(uplink.run())
    yield uplink
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    outbox.close()


async def test_outbox_drains_to_kafka_in_order(
    kafka: StackSettings, running_uplink: KafkaUplink, unique: str
) -> None:
    """Everything put is delivered once, in order per key, and leaves the outbox."""
    topic = f"test.uplink.{unique}"
    sent = messages(topic, 1000)
    running_uplink.outbox.put_many(sent)
    running_uplink.wake()
    await wait_drained(running_uplink.outbox, 30)
    received = await read_topic(kafka.kafka_bootstrap, topic, 1000, 30)
    assert sorted(received) == sorted(m.value for m in sent)
    assert running_uplink.stats.sent == 1000


async def test_kafka_outage_loses_nothing(
    kafka: StackSettings, running_uplink: KafkaUplink, unique: str
) -> None:
    """Readings put while Kafka is down wait in the outbox and arrive once it is back."""
    topic = f"test.outage.{unique}"
    running_uplink.outbox.put_many(messages(topic, 50))
    await wait_drained(running_uplink.outbox, 30)

    subprocess.run(["bash", str(STACK), "down", "kafka"], check=True)
    try:
        running_uplink.outbox.put_many(messages(topic, 200, start=50))
        running_uplink.wake()
        await asyncio.sleep(3)
        # Nothing was acknowledged, so nothing left the outbox.
        assert running_uplink.outbox.stats().depth == 200
    finally:
        subprocess.run(["bash", str(STACK), "up", "kafka"], check=True)

    await wait_drained(running_uplink.outbox, 90)
    received = await read_topic(kafka.kafka_bootstrap, topic, 250, 30)
    assert {f"reading-{n}".encode() for n in range(250)} <= set(received)


UPLINK_SCRIPT = """
import asyncio, sys
from pathlib import Path
from edge.outbox import Outbox
from edge.records import OutboxMessage
from edge.uplink import KafkaUplink

async def main():
    outbox = Outbox(Path(sys.argv[1]))
    topic, count = sys.argv[3], int(sys.argv[4])
    for n in range(count):
        outbox.put(OutboxMessage(topic, b"k", b"reading-%d" % n, n, "obs-%d" % n))
    print("stored", flush=True)
    await KafkaUplink(outbox, bootstrap_servers=sys.argv[2], batch_size=50).run()

asyncio.run(main())
"""


def depth(path: Path) -> int:
    with Outbox(path) as outbox:
        return outbox.stats().depth


async def test_uplink_killed_with_sigkill_loses_nothing(
    kafka: StackSettings, tmp_path: Path, unique: str
) -> None:
    """A gateway killed mid-drain delivers the rest after restart: at least once, none lost."""
    topic = f"test.sigkill.{unique}"
    path = tmp_path / "outbox.db"
    args = [sys.executable, "-c", UPLINK_SCRIPT, str(path), kafka.kafka_bootstrap, topic]
    env = dict(os.environ)
    first = subprocess.Popen([*args, "5000"], stdout=subprocess.PIPE, env=env)
    assert first.stdout is not None
    assert first.stdout.readline() == b"stored\n"
    # Let it deliver some batches, then kill it without warning.
    async with asyncio.timeout(30):
        while depth(path) > 4000:
            await asyncio.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()
    left = depth(path)
    assert 0 < left < 5000, "kill the uplink mid-drain"

    second = subprocess.Popen([*args, "0"], stdout=subprocess.DEVNULL, env=env)
    try:
        async with asyncio.timeout(60):
            while depth(path):
                await asyncio.sleep(0.1)
    finally:
        second.terminate()
        second.wait()
    received = await read_topic(kafka.kafka_bootstrap, topic, 5000, 30)
    assert {b"reading-%d" % n for n in range(5000)} <= set(received)
