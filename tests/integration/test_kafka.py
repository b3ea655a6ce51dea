"""Kafka from the local stack: the pipeline topics exist, aiokafka produces and consumes."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from carepulse.settings import StackSettings

pytestmark = pytest.mark.kafka


async def test_pipeline_topics_exist_with_the_configured_partitions(kafka: StackSettings) -> None:
    """`stack up` created readings, readings.rejected, metrics and alerts."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.kafka_bootstrap)
    await consumer.start()
    try:
        for topic in kafka.topics.all():
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:  # metadata is fetched lazily
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic)
            assert partitions is not None, f"topic {topic} missing"
            assert len(partitions) == kafka.partitions
    finally:
        await consumer.stop()


async def test_produce_and_consume_round_trip(kafka: StackSettings, unique: str) -> None:
    """Keyed messages sent with acks=all and idempotence come back in order per key."""
    topic = f"test.roundtrip.{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    sent = [(f"subject-{n % 5}".encode(), f"reading-{n}".encode()) for n in range(200)]
    try:
        for key, value in sent:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.kafka_bootstrap,
        group_id=f"test-{unique}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < len(sent):
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    received.extend((r.key, r.value) for r in records if r.key and r.value)
    finally:
        await consumer.stop()

    assert sorted(received) == sorted(sent)
    for key in {k for k, _ in sent}:
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]
