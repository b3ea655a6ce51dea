"""Reading JSON messages back from a topic, for the integration tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer


async def consume_json(
    bootstrap: str, topic: str, expected: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Read ``topic`` from the start until ``expected`` messages arrived or time ran out.

    Returns what arrived (possibly fewer): the caller's assertion says what was missing.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(found) < expected:
                batch = await consumer.getmany(timeout_ms=300)
                found.extend(json.loads(r.value) for rs in batch.values() for r in rs if r.value)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return found
