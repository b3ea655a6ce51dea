"""How far consumer groups are behind their topics, from Kafka's committed offsets.

Used where a run must wait until a consumer has really finished (the demo, the
scale-out benchmark) instead of sleeping a guessed time.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def group_lag(bootstrap: str, groups: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Messages each consumer group has not yet committed, over its topics.

    A group's topics are the ones it has committed offsets on, plus those named for it
    (so a group that has committed nothing yet counts the whole topic as lag).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        lags: dict[str, int] = {}
        for group, named in groups.items():
            committed = await admin.list_consumer_group_offsets(group)
            topics = set(named) | {tp.topic for tp in committed}
            await consumer.topics()  # refresh metadata
            partitions = [
                TopicPartition(topic, p)
                for topic in sorted(topics)
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            lags[group] = sum(
                max(end - (committed[tp].offset if tp in committed else 0), 0)
                for tp, end in ends.items()
            )
        return lags
    finally:
        await consumer.stop()
        await admin.close()


async def wait_caught_up(
    bootstrap: str, groups: dict[str, tuple[str, ...]], timeout_s: float
) -> dict[str, int]:
    """Until every group has committed everything on its topics; returns the last lags."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        lags = await group_lag(bootstrap, groups)
        if not any(lags.values()) or loop.time() >= deadline:
            return lags
        await asyncio.sleep(1.0)
