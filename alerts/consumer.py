"""The ``alerts`` topic into the case store: at-least-once, idempotent by alert id.

Each batch from Kafka is folded into the store in one database transaction; the consumer's
offsets are committed only after that transaction commits. A crash between the two re-delivers
the batch, and the store's receipts (alert id + status) make the second delivery a no-op, so a
restart neither loses an alert nor opens a case twice. If the database is unreachable the batch
is retried from its first offset with a growing pause. If Kafka is unreachable at start, the
consumer tries again with a growing pause instead of giving up. :meth:`AlertConsumer.health`
tells ``/readyz`` where it is (:mod:`alerts.health`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from alerts.errors import RemoteAlertError
from alerts.health import ConsumerHealth, ConsumerPhase
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
        self._phase = ConsumerPhase.STARTING
        self._consumer: AIOKafkaConsumer | None = None
        self._failing = 0
        self._error: str | None = None

    def health(self) -> ConsumerHealth:
        """Where the consumer is, for ``/readyz``."""
        consumer = self._consumer
        if consumer is None or self._phase is not ConsumerPhase.CONSUMING:
            return ConsumerHealth(self._phase, error=self._error)
        assigned = consumer.assignment()
        polled = [consumer.last_poll_timestamp(tp) for tp in assigned]
        known = [stamp for stamp in polled if stamp is not None]
        age = (
            max(0.0, time.time() - min(known) / 1000)
            if known and len(known) == len(polled)
            else None
        )
        phase = ConsumerPhase.CONSUMING if assigned else ConsumerPhase.JOINING
        return ConsumerHealth(phase, len(assigned), age, self._failing)

    async def _start(self, stop: asyncio.Event) -> AIOKafkaConsumer | None:
        """A started consumer; while Kafka is unreachable, try again with a growing pause."""
        attempt = 0
        while not stop.is_set():
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=self.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="carepulse-alerts",
            )
            try:
                await consumer.start()
            except KafkaError as exc:
                await consumer.stop()
                attempt += 1
                self._error = type(exc).__name__
                pause = min(30.0, 0.5 * 2**attempt)
                if attempt == 1:
                    self.logger.warning(
                        "cannot reach Kafka at %s (%s); trying again, every %.0f s at most",
                        self.bootstrap,
                        exc,
                        30.0,
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                continue
            if attempt:
                self.logger.info("reached Kafka after %d failed tries", attempt)
            self._error = None
            return consumer
        return None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        self._phase = ConsumerPhase.STARTING
        try:
            consumer = await self._start(stop)
            if consumer is None:
                return
            self._consumer = consumer
            self._phase = ConsumerPhase.CONSUMING
            self.logger.info(
                "consuming %s as group %s from %s", self.topic, self.group, self.bootstrap
            )
            try:
                await self._consume(consumer, stop)
            finally:
                await consumer.stop()
        finally:
            self._phase = ConsumerPhase.STOPPED

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
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
                self._failing += 1
                if self._failing == 1:
                    self.logger.exception("could not store a batch of alerts; retrying it")
                for tp, messages in batch.items():
                    consumer.seek(tp, messages[0].offset)
                await asyncio.sleep(min(30.0, 0.5 * 2**self._failing))
                continue
            if self._failing:
                self.logger.info("storing alerts works again after %d failed tries", self._failing)
                self._failing = 0
            await self._commit(consumer)

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
