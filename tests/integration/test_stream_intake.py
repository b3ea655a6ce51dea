"""Reading skipped records back from the real Kafka (stream.intake.read_range)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from carepulse.settings import StackSettings
from stream.intake import read_range

pytestmark = pytest.mark.kafka


async def test_read_range_returns_exactly_the_offsets_asked_for(
    kafka: StackSettings, unique: str
) -> None:
    """Records 3..6 of a 10-record partition, in order, with their values; nothing else."""
    topic = f"test.intake.{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(10):
            await producer.send_and_wait(topic, f"reading {n}".encode(), partition=1)
    finally:
        await producer.stop()
    records = await read_range(kafka.kafka_bootstrap, topic, 1, 3, 7)
    assert [r.message.offset for r in records] == [3, 4, 5, 6]
    assert [r.value for r in records] == [f"reading {n}".encode() for n in range(3, 7)]
    assert {(r.message.topic, r.message.partition) for r in records} == {(topic, 1)}
    assert records[0].message.tp == (topic, 1)
