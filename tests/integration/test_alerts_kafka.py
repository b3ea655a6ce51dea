"""Alerts on the real Kafka reach the queue; a restart neither loses nor doubles a case."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from alerts.consumer import AlertConsumer
from alerts.health import ConsumerPhase
from alerts.store import CaseStore, QueueQuery, Role
from alerts.web import WebConfig, create_app
from carepulse.alert import Alert, Severity
from carepulse.settings import StackSettings
from tests.alerts.factories import T0, alert

pytestmark = pytest.mark.kafka


async def make_topic(kafka: StackSettings, unique: str) -> str:
    topic = f"test.alerts.{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    return topic


async def produce(kafka: StackSettings, topic: str, alerts: Sequence[Alert | bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for item in alerts:
            if isinstance(item, bytes):
                await producer.send(topic, item, key=b"garbage")
            else:
                await producer.send(topic, item.to_json(), key=item.subject_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


def subject(n: int) -> str:
    return f"{n:032x}"


def the_store(tmp_path: Path) -> tuple[CaseStore, int]:
    store = CaseStore(
        CaseStore.engine_for(f"sqlite:///{tmp_path / 'kafka.sqlite3'}"), scrypt_n=2**8
    )
    store.create_schema()
    user = store.add_user("alice", "alice-password", Role.SUPERVISOR)
    return store, user.id


@contextlib.asynccontextmanager
async def consuming(consumer: AlertConsumer) -> AsyncIterator[None]:
    """Run ``consumer`` until the block ends; the block starts once it has partitions."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(consumer.ready.wait(), timeout=30)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    pytest.fail(f"condition not met within {timeout} s")


async def test_alerts_reach_the_queue_within_seconds(
    kafka: StackSettings, unique: str, tmp_path: Path
) -> None:
    """Produced to Kafka, an emergency shows at the top of the queue in a few seconds."""
    topic = await make_topic(kafka, unique)
    store, uid = the_store(tmp_path)
    viewer = store.viewer(uid)
    assert viewer is not None
    consumer = AlertConsumer(
        store, bootstrap=kafka.kafka_bootstrap, topic=topic, group=f"alerts-{unique}"
    )
    async with consuming(consumer):
        await produce(
            kafka,
            topic,
            [
                alert(subject_id=subject(1)),
                b"not an alert",
                alert("news2.high", subject_id=subject(2), severity=Severity.EMERGENCY),
            ],
        )
        took = await wait_for(lambda: store.queue(viewer, QueueQuery()).total == 2)
        assert took < 10
        assert [i.rule_id for i in store.queue(viewer, QueueQuery()).items] == [
            "news2.high",
            "bp.urgent_referral",
        ]
        assert consumer.stats.rejected == 1
    store.engine.dispose()


class CrashBeforeCommit(AlertConsumer):
    """Stores batches but 'crashes' before committing offsets (the worst moment), every time."""

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        return None


async def test_a_restart_loses_nothing_and_duplicates_no_case(
    kafka: StackSettings, unique: str, tmp_path: Path
) -> None:
    """Consumer 1 stores everything but never commits; consumer 2 re-reads it all: same cases."""
    topic = await make_topic(kafka, unique)
    store, uid = the_store(tmp_path)
    viewer = store.viewer(uid)
    assert viewer is not None
    first = [alert(subject_id=subject(n), episode=f"e{n}") for n in range(30)]
    repeats = [
        alert(subject_id=subject(n), episode=f"r{n}", at=T0 + timedelta(hours=1)) for n in range(10)
    ]
    await produce(kafka, topic, first + repeats + first[:5])  # the last five are re-sends

    group = f"alerts-{unique}"
    crashing = CrashBeforeCommit(
        store, bootstrap=kafka.kafka_bootstrap, topic=topic, group=group, max_batch=7
    )
    stop = asyncio.Event()
    task = asyncio.create_task(crashing.run(stop))
    await wait_for(lambda: crashing.stats.messages >= 45)
    stop.set()
    await asyncio.wait_for(task, timeout=30)

    def snapshot() -> list[tuple[str, int]]:
        page = store.queue(viewer, QueueQuery(limit=500))
        return sorted((i.subject_id, i.repeat_count) for i in page.items)

    after_first = snapshot()
    assert len(after_first) == 30
    assert sum(count for _, count in after_first) == 40

    second = AlertConsumer(store, bootstrap=kafka.kafka_bootstrap, topic=topic, group=group)
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    try:
        await wait_for(lambda: second.stats.messages >= 45)
        assert second.stats.result.duplicates == 45
        await produce(kafka, topic, [alert(subject_id=subject(99))])
        await wait_for(lambda: second.stats.messages >= 46)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert snapshot() == sorted([*after_first, (subject(99), 1)])
    store.engine.dispose()


async def readyz(store: CaseStore, consumer: AlertConsumer) -> tuple[int, dict[str, Any]]:
    """The alert service's ``/readyz`` for this store and consumer: status and body."""
    app = create_app(store, WebConfig(secret_key="k" * 40), consumer=consumer.health)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://alerts") as client:
        response = await client.get("/readyz")
    return response.status_code, response.json()


async def test_the_consumer_tells_readyz_whether_it_consumes(
    kafka: StackSettings, unique: str, tmp_path: Path
) -> None:
    """Consuming on the real Kafka: ready, and still fetching while no alert comes (an idle
    topic does not look like a lost Kafka); stopped: not ready."""
    topic = await make_topic(kafka, unique)
    store, _uid = the_store(tmp_path)
    consumer = AlertConsumer(
        store, bootstrap=kafka.kafka_bootstrap, topic=topic, group=f"alerts-{unique}"
    )
    async with consuming(consumer):
        await wait_for(lambda: consumer.health().fetch_age_s is not None)
        idle_s = 3.0
        await asyncio.sleep(idle_s)
        health = consumer.health()
        assert (health.phase, health.partitions) == (ConsumerPhase.CONSUMING, 3)
        assert health.fetch_age_s is not None
        assert health.fetch_age_s < idle_s
        status, body = await readyz(store, consumer)
        assert status == 200, body
        assert body["checks"]["kafka_consumer"]["reason"] == "consuming 3 partition(s) of alerts"
    status, body = await readyz(store, consumer)
    assert status == 503
    assert body["checks"]["kafka_consumer"]["reason"].startswith("the Kafka consumer has stopped")
    store.engine.dispose()


async def test_without_kafka_the_consumer_keeps_trying_and_is_not_ready(
    unique: str, tmp_path: Path
) -> None:
    """Nothing listens at the bootstrap address: the consumer does not give up, /readyz is
    503 with the error's type, and a stop ends the waiting at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    store, _uid = the_store(tmp_path)
    consumer = AlertConsumer(
        store, bootstrap=f"127.0.0.1:{closed}", topic=f"test.alerts.{unique}", group=unique
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_for(lambda: consumer.health().error is not None, timeout=30)
        assert not task.done()
        status, body = await readyz(store, consumer)
        assert status == 503
        assert body["checks"]["kafka_consumer"] == {
            "ok": False,
            "reason": "connecting to Kafka (KafkaConnectionError); retrying",
        }
        assert body["checks"]["database"]["ok"] is True
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert consumer.health().phase is ConsumerPhase.STOPPED
    store.engine.dispose()
