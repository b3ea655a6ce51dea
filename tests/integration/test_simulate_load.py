"""The load generator straight into the stack's real Kafka, for a short run."""

from __future__ import annotations

import json

import pytest
from aiokafka import AIOKafkaConsumer

from carepulse.observation import Observation
from carepulse.settings import StackSettings
from simulators.load import ObservationFactory, load_kafka

pytestmark = pytest.mark.kafka


def test_factory_messages_are_valid_observations_with_deterministic_ids() -> None:
    """Each message parses as an Observation whose id is the one Observation.create gives."""
    factory = ObservationFactory(7)
    for _ in range(30):
        key, value = factory.next()
        observation = Observation.from_json(value)
        again = Observation.create(
            station_id=observation.station_id,
            subject_id=observation.subject_id,
            device_id=observation.device_id,
            device_kind=observation.device_kind,
            kind=observation.kind,
            values=observation.values,
            measured_at=observation.measured_at,
            received_at=observation.received_at,
            source=observation.source,
        )
        assert again.to_json() == value
        assert key == observation.subject_id.encode()


async def test_load_generator_reaches_its_rate_into_kafka(
    kafka: StackSettings, unique: str
) -> None:
    """2 s at 5,000 observations/s: all acknowledged, rate within 10 %, all on the topic."""
    topic = f"test.load.{unique}.readings"
    report = await load_kafka(
        bootstrap=kafka.kafka_bootstrap, topic=topic, devices=100, rate=5000, duration_s=2
    )
    assert report.acknowledged == report.sent == 10000
    assert report.achieved_rate > 4500
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 10000:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                break
            seen += sum(len(rs) for rs in batch.values())
            first = next(iter(batch.values()))[0]
            assert json.loads(first.value)["station_id"] == "st-load"
    finally:
        await consumer.stop()
    assert seen == 10000
