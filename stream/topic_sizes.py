"""Messages and bytes per topic of one run, for sizing a Kafka cluster.

    python -m stream.topic_sizes PREFIX [--app-id ID] [--json]

Reads every topic whose name starts with ``PREFIX`` (a run's topic prefix, e.g.
``demo20261127141719.``) or with ``APP_ID-`` (the worker's changelog and internal
topics), from the earliest offset, and counts messages and key + value bytes. Divided by
the run's observations, that is what one observation costs each topic.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer

from carepulse.bench import print_result
from carepulse.settings import StackSettings


async def topic_sizes(bootstrap: str, prefixes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """``{topic: {"messages": n, "bytes": b}}`` for every topic starting with a prefix."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await probe.start()
    try:
        topics = sorted(t for t in await probe.topics() if t.startswith(prefixes))
    finally:
        await probe.stop()
    sizes = {}
    for topic in topics:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        messages = size = 0
        try:
            while batch := await consumer.getmany(timeout_ms=1500, max_records=5000):
                for records in batch.values():
                    messages += len(records)
                    size += sum(len(r.value or b"") + len(r.key or b"") for r in records)
        finally:
            await consumer.stop()
        sizes[topic] = {"messages": messages, "bytes": size}
    return sizes


def main() -> None:
    """Print each topic's messages and bytes (lines, or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", help="the run's topic prefix")
    parser.add_argument("--app-id", help="the worker's app id (its internal topics)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    prefixes = (args.prefix, f"{args.app_id}-") if args.app_id else (args.prefix,)
    sizes = asyncio.run(topic_sizes(StackSettings.load().kafka_bootstrap, prefixes))
    result: dict[str, Any] = {
        topic: f"{s['messages']} messages, {s['bytes']} bytes" for topic, s in sizes.items()
    }
    print_result(sizes if args.json else result, args.json)


if __name__ == "__main__":
    main()
