"""A one-agent Faust app for the integration test: reads numbers, writes their doubles.

Run as ``python tests/integration/faust_doubler.py worker``; the app id and the topic
names come from CAREPULSE_TEST_FAUST_* variables so every test run is isolated.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import faust

app = faust.App(
    os.environ["CAREPULSE_TEST_FAUST_APP"],
    broker=f"kafka://{os.environ['CAREPULSE_KAFKA_BOOTSTRAP']}",
    store="memory://",
    web_enabled=False,
    topic_partitions=1,
)
source = app.topic(os.environ["CAREPULSE_TEST_FAUST_IN"], key_type=bytes, value_type=bytes)
sink = app.topic(os.environ["CAREPULSE_TEST_FAUST_OUT"], key_type=bytes, value_type=bytes)


@app.agent(source)
async def double(stream: faust.StreamT[bytes]) -> AsyncIterator[bytes]:
    async for key, value in stream.items():
        doubled = str(2 * int(value)).encode()
        await sink.send(key=key, value=doubled)
        yield doubled


if __name__ == "__main__":
    app.main()
