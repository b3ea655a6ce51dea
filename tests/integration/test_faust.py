"""A Faust worker with one agent round-trips messages through the stack's Kafka."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from carepulse.settings import StackSettings

pytestmark = pytest.mark.kafka

APP = Path(__file__).with_name("faust_doubler.py")


async def test_faust_agent_round_trip(kafka: StackSettings, unique: str, tmp_path: Path) -> None:
    """Numbers sent to the input topic come back doubled from the agent's output topic."""
    topic_in, topic_out = f"test.faust.in.{unique}", f"test.faust.out.{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=1, replication_factor=1) for t in (topic_in, topic_out)]
        )
    finally:
        await admin.close()

    env = dict(
        os.environ,
        CAREPULSE_KAFKA_BOOTSTRAP=kafka.kafka_bootstrap,
        CAREPULSE_TEST_FAUST_APP=f"carepulse-test-{unique}",
        CAREPULSE_TEST_FAUST_IN=topic_in,
        CAREPULSE_TEST_FAUST_OUT=topic_out,
    )
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            str(APP),
            "--datadir",
            str(tmp_path),
            "worker",
            "--without-web",
            "--loglevel",
            "warn",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for n in range(20):
                await producer.send(topic_in, str(n).encode(), key=f"k{n % 3}".encode())
            await producer.flush()
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic_out,
            bootstrap_servers=kafka.kafka_bootstrap,
            group_id=f"test-reader-{unique}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        doubled: list[int] = []
        try:
            # A cold Faust worker needs a few seconds to join its group and recover tables.
            async with asyncio.timeout(90):
                while len(doubled) < 20:
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                    batch = await consumer.getmany(timeout_ms=1000)
                    doubled.extend(int(r.value) for rs in batch.values() for r in rs if r.value)
        finally:
            await consumer.stop()
        assert sorted(doubled) == [2 * n for n in range(20)]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
