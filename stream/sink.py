"""The storage sink: ``readings.valid`` and ``metrics`` into InfluxDB, at least once.

Faust agents on one topic share flow control, so a sink stalled by an InfluxDB outage
would stall the risk path. The sink is therefore its own consumer group (a plain
aiokafka consumer started with the worker): it reads a batch, converts it to points,
writes them, and commits the batch's offsets **only after the write returned**. While
InfluxDB is down it pauses its partitions and retries the same batch with exponential
backoff (capped), polling meanwhile so the group does not evict it; it never drops a
batch and never commits past an unwritten record. After a crash the uncommitted batch
is read again and rewritten: points are idempotent upserts (same measurement, tags and
time), so nothing is lost and nothing is counted twice in InfluxDB.

Seams: :class:`PointWriter` (``async def write(points)``) with
:class:`StorageWriterAdapter` over the storage package's batching writer, and
:class:`RecordSource` for the consumer, so tests can drive the offset discipline with fakes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from storage.config import StorageSettings
from storage.writer import (
    InfluxTransport,
    StorageWriter,
    WriteTransport,
    bucket_writer,
    open_client,
)
from stream.sink_points import READINGS, SinkPoint, metric_point, reading_point

logger = logging.getLogger(__name__)


class PointWriter(Protocol):
    """Where points go. ``write`` returns only once the points are stored; else it raises."""

    async def write(self, points: Sequence[SinkPoint]) -> None:
        """Store ``points``."""


class RecordSource(Protocol):
    """The part of ``AIOKafkaConsumer`` the sink uses."""

    async def getmany(
        self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[Any, Sequence[Any]]:
        """A batch of records per partition."""

    async def commit(self, offsets: Mapping[Any, int] | None = None) -> None:
        """Commit offsets (the next offset to read, per partition)."""

    def pause(self, *partitions: Any) -> None:
        """Stop fetching from ``partitions``."""

    def resume(self, *partitions: Any) -> None:
        """Fetch from ``partitions`` again."""

    def assignment(self) -> Any:
        """The partitions assigned to this consumer."""


def backoff_delay(attempt: int, first_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Delay before retry number ``attempt`` (1-based): doubling from ``first_s``, capped."""
    return float(min(cap_s, first_s * 2 ** max(attempt - 1, 0)))


@dataclass(slots=True)
class SinkStats:
    """What the sink did."""

    records: int = 0
    points: int = 0
    batches: int = 0
    retries: int = 0
    commits: int = 0


@dataclass(slots=True)
class StorageSink:
    """Consume, write, then commit; back off (never drop) while the writer fails.

    Attributes:
        source: the consumer (subscribed to ``readings.valid`` and ``metrics``).
        writer: where points go.
        valid_topic: name of ``readings.valid`` (its records are readings; the rest metrics).
        batch_size: records per batch at most.
        batch_timeout_ms: how long a poll waits for records.
        max_backoff_s: the longest wait between two write attempts.
        skip_windows: window labels of the metrics topic that are not stored.
    """

    source: RecordSource
    writer: PointWriter
    valid_topic: str
    batch_size: int = 2000
    batch_timeout_ms: int = 500
    max_backoff_s: float = 30.0
    #: window labels of the metrics topic not stored (see ``sink_skip_windows``)
    skip_windows: frozenset[str] = frozenset()
    stats: SinkStats = field(default_factory=SinkStats)
    on_batch: Callable[[SinkStats], None] | None = None

    def points_of(self, records: Sequence[Any]) -> list[SinkPoint]:
        """Points of a batch; a record that cannot be converted is logged and skipped."""
        points = []
        for record in records:
            try:
                if record.topic == self.valid_topic:
                    point = reading_point(record.value)
                else:
                    point = metric_point(record.value, self.skip_windows)
            except (ValueError, KeyError, TypeError):
                logger.exception(
                    "sink: unreadable record %s[%s]@%s",
                    record.topic,
                    record.partition,
                    record.offset,
                )
                continue
            if point is not None:
                points.append(point)
        return points

    async def run_once(self) -> int:
        """One batch: poll, write until acknowledged, commit. Returns records handled."""
        batch = await self.source.getmany(
            timeout_ms=self.batch_timeout_ms, max_records=self.batch_size
        )
        records = [r for rs in batch.values() for r in rs]
        if not records:
            return 0
        await self._write(self.points_of(records))
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
        await self.source.commit(offsets)
        self.stats.records += len(records)
        self.stats.batches += 1
        self.stats.commits += 1
        if self.on_batch is not None:
            self.on_batch(self.stats)
        return len(records)

    async def _write(self, points: list[SinkPoint]) -> None:
        attempt = 0
        paused: Any = None
        while True:
            try:
                if points:
                    await self.writer.write(points)
                self.stats.points += len(points)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                self.stats.retries += 1
                delay = backoff_delay(attempt, cap_s=self.max_backoff_s)
                if attempt == 1:
                    logger.warning("sink: write failed (%s); retrying with backoff", exc)
                else:
                    logger.debug("sink: write attempt %d failed (%s)", attempt, exc)
                if paused is None:
                    paused = self.source.assignment()
                    self.source.pause(*paused)
                # Poll while paused: nothing arrives, but the group sees a live member.
                await self.source.getmany(timeout_ms=int(delay * 1000))
        if paused is not None:
            self.source.resume(*paused)
            logger.info("sink: InfluxDB write succeeded again after %d attempts", attempt + 1)

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            await self.run_once()


class StorageWriterAdapter:
    """A :class:`PointWriter` over the storage package's ``StorageWriter``.

    Readings go to the readings bucket, window results to the metrics bucket; ``write``
    returns once ``StorageWriter.flush`` says both are stored. A writer that stopped for
    good (401/403/404: token, org or bucket) is rebuilt at the next attempt, so the sink
    keeps backing off and resumes once the operator fixed the cause.
    """

    def __init__(self, settings: StorageSettings, transport: WriteTransport) -> None:
        """Write with ``settings`` (buckets, batching) through ``transport``."""
        self._settings = settings
        self._transport = transport
        self._writer = self._new_writer()

    def _new_writer(self) -> StorageWriter:
        return StorageWriter(
            bucket_writer(self._settings, self._settings.influx_bucket, self._transport),
            bucket_writer(self._settings, self._settings.metrics_bucket, self._transport),
        )

    async def write(self, points: Sequence[SinkPoint]) -> None:
        """Queue the lines in their buckets and wait until InfluxDB stored them."""
        writer = self._writer
        if writer.readings.error is not None or writer.metrics_writer.error is not None:
            await writer.aclose()
            writer = self._writer = self._new_writer()
        readings = [p.line for p in points if p.role == READINGS]
        metrics = [p.line for p in points if p.role != READINGS]
        if readings:
            await writer.readings.put(readings)
        if metrics:
            await writer.metrics_writer.put(metrics)
        await writer.flush()

    async def aclose(self) -> None:
        """Stop the writers."""
        await self._writer.aclose()


async def run_sink(settings: Any) -> None:
    """Build the consumer and the storage writer from settings and run the sink."""
    from aiokafka import AIOKafkaConsumer

    storage_settings = StorageSettings.load(
        influx_url=settings.influx_url,
        influx_org=settings.influx_org,
        influx_bucket=settings.influx_bucket,
        influx_token=settings.influx_token,
    )
    consumer = AIOKafkaConsumer(
        settings.valid_topic,
        settings.topics.metrics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.app_id}-sink",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.sink_batch_size,
    )
    client = open_client(storage_settings)
    writer = StorageWriterAdapter(
        storage_settings, InfluxTransport(client, storage_settings.influx_org)
    )
    await consumer.start()
    try:
        sink = StorageSink(
            source=consumer,
            writer=writer,
            valid_topic=settings.valid_topic,
            batch_size=settings.sink_batch_size,
            batch_timeout_ms=settings.sink_batch_timeout_ms,
            max_backoff_s=settings.sink_max_backoff_s,
            skip_windows=settings.skipped_windows,
        )
        logger.info(
            "sink: %s and %s to InfluxDB buckets %s and %s",
            settings.valid_topic,
            settings.topics.metrics,
            storage_settings.influx_bucket,
            storage_settings.metrics_bucket,
        )
        await sink.run()
    finally:
        await consumer.stop()
        await writer.aclose()
        await client.close()  # type: ignore[no-untyped-call]  # influxdb-client: untyped


def main() -> None:  # pragma: no cover - exercised by the benchmark and by hand
    """``python -m stream.sink``: the sink alone, beside workers run with ``--no-sink``.

    The sink is its own consumer group either way; in its own process it does not share
    the pipeline's event loop (or core). Stops on SIGTERM/SIGINT: the batch in hand is
    not committed and is written again by the next sink (idempotent points).
    """
    import signal

    from stream.config import StreamSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    settings = StreamSettings.load()

    async def run() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
        try:
            await run_sink(settings)
        except asyncio.CancelledError:
            logger.info("sink: stopped")

    asyncio.run(run())


if __name__ == "__main__":
    main()
