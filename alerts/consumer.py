"""The ``alerts`` topic into the case store: at-least-once, idempotent by alert id.

Each batch from Kafka is folded into the store in one database transaction; the consumer's
offsets are committed only after that transaction commits. A crash between the two re-delivers
the batch, and the store's receipts (alert id + status) make the second delivery a no-op, so a
restart neither loses an alert nor opens a case twice. If the database is unreachable the batch
is retried from its first offset with a growing pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from alerts.errors import RemoteAlertError
from alerts.store import CaseStore, IngestResult
from carepulse.alert import Alert
from carepulse.errors import ObservationError

#: Called after each committed batch (the web app uses it for nothing; tests and bench do).
BatchCallback = Callable[[IngestResult], None]


@dataclass
class ConsumerStats:
    """Counters since start."""

    batches: int = 0
    messages: int = 0
    rejected: int = 0
    result: IngestResult = field(default_factory=IngestResult)


def alert_from_message(partition: int, offset: int, value: bytes | None) -> Alert:
    """Parse one Kafka message value (a rejected message names its partition and offset)."""
    if value is None:
        raise RemoteAlertError(partition, offset, "empty message (tombstone)")
    try:
        return Alert.from_json(value)
    except ObservationError as exc:
        raise RemoteAlertError(partition, offset, str(exc)) from exc


class AlertConsumer:
    """Consumes ``topic`` with consumer group ``group`` into ``store``."""

    def __init__(
        self,
        store: CaseStore,
        *,
        bootstrap: str,
        topic: str,
        group: str,
        max_batch: int = 500,
        on_batch: BatchCallback | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.max_batch = max_batch
        self.on_batch = on_batch
        self.logger = logger or logging.getLogger(__name__)
        self.stats = ConsumerStats()
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="carepulse-alerts",
        )
        await consumer.start()
        self.logger.info("consuming %s as group %s from %s", self.topic, self.group, self.bootstrap)
        failing = 0
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=self.max_batch)
                if not consumer.assignment():
                    continue
                self.ready.set()
                if not batch:
                    continue
                try:
                    await self._handle(batch)
                except Exception:
                    failing += 1
                    if failing == 1:
                        self.logger.exception("could not store a batch of alerts; retrying it")
                    for tp, messages in batch.items():
                        consumer.seek(tp, messages[0].offset)
                    await asyncio.sleep(min(30.0, 0.5 * 2**failing))
                    continue
                if failing:
                    self.logger.info("storing alerts works again after %d failed tries", failing)
                    failing = 0
                await self._commit(consumer)
        finally:
            await consumer.stop()

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the positions after the batch just stored (a seam for crash tests)."""
        await consumer.commit()

    async def _handle(self, batch: dict[TopicPartition, list[object]]) -> None:
        alerts: list[Alert] = []
        count = 0
        for tp, messages in batch.items():
            for message in messages:
                count += 1
                offset = getattr(message, "offset", -1)
                try:
                    alerts.append(
                        alert_from_message(tp.partition, offset, getattr(message, "value", None))
                    )
                except RemoteAlertError as exc:
                    self.stats.rejected += 1
                    self.logger.warning("skipping a message that is not an alert: %s", exc)
        result = await asyncio.to_thread(self.store.ingest, alerts)
        self.stats.batches += 1
        self.stats.messages += count
        self.stats.result = self.stats.result + result
        if self.on_batch is not None:
            self.on_batch(result)
