"""The order in which the pipeline takes readings: every offset once, none skipped.

The pipeline's watermarks (the source offset kept in every aggregate) assume each
partition of ``readings`` is taken in offset order, every offset once: an offset seen
after a later one is taken for a replay and not counted. The Faust consumer does not
quite guarantee that. Under load it was seen, in this repository's SIGTERM-and-restart
test, to deliver an offset twice (the same record, as two messages) and to skip one (it
never came, and Faust's commit then moved past it): one reading in 6,000 silently lost.

:class:`IntakeOrder` checks every event against the next offset expected for its
partition (``readings`` has no transactions and no compaction, so offsets are
contiguous):

* the expected offset: take it;
* an earlier one: a second delivery of a reading already taken, dropped;
* a later one: the consumer skipped ``[expected, offset)``; the pipeline reads those
  records itself (:func:`read_range`) and takes them first.

:meth:`IntakeOrder.reset` forgets everything when partitions move: Faust then seeks to
the committed offsets, and the first event of a partition is expected there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from faust.types import TP

logger = logging.getLogger(__name__)

#: How long reading skipped records back may take before the worker gives up (and stops
#: without committing past them).
READ_RANGE_TIMEOUT_S = 60.0


class Verdict(Enum):
    """What to do with an event."""

    TAKE = "take"
    AGAIN = "again"
    GAP = "gap"


@dataclass(frozen=True, slots=True)
class Check:
    """The verdict on one event; for a gap, the first offset missing."""

    verdict: Verdict
    missing_from: int = 0


TAKE: Final = Check(Verdict.TAKE)
AGAIN: Final = Check(Verdict.AGAIN)


def _none_committed(_tp: Any) -> int | None:
    return None


class IntakeOrder:
    """The next offset the pipeline expects on each partition it owns.

    ``committed(tp)`` says where the consumer started a partition (its committed offset,
    ``None`` when there is none); it is asked once per partition, at its first event.
    """

    def __init__(self, committed: Callable[[Any], int | None] = _none_committed) -> None:
        """Nothing expected yet."""
        self.expected: dict[Any, int] = {}
        self._committed = committed

    def check(self, tp: Any, offset: int) -> Check:
        """Judge ``offset`` on ``tp``.

        The first event of a partition is expected at the committed offset (or taken as
        it comes when there is none: a new consumer group reads from the earliest).
        """
        expected = self.expected.get(tp)
        if expected is None:
            committed = self._committed(tp)
            expected = offset if committed is None else committed
        if offset == expected:
            return TAKE
        if offset < expected:
            return AGAIN
        return Check(Verdict.GAP, expected)

    def taken(self, tp: Any, offset: int) -> None:
        """Record that ``offset`` (and everything before it) on ``tp`` was taken."""
        self.expected[tp] = offset + 1

    def reset(self) -> None:
        """Partitions moved: expect each partition's first event at its committed offset."""
        self.expected.clear()


@dataclass(frozen=True, slots=True)
class RecordPosition:
    """Where a record read back came from (the part of a Faust message the pipeline uses)."""

    topic: str
    partition: int
    offset: int

    @property
    def tp(self) -> TP:
        """The topic and partition, as Faust names them."""
        return TP(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class ReadBack:
    """A record read back by :func:`read_range`, shaped like the Faust event it replaces."""

    message: RecordPosition
    value: bytes


async def read_range(
    bootstrap: str, topic: str, partition: int, first: int, end: int
) -> list[ReadBack]:
    """The records at offsets ``[first, end)`` of one partition, read with a plain consumer.

    Records below the log's start (deleted by retention) cannot be read: the range then
    starts later, and a warning says how many are gone. Raises ``TimeoutError`` when the
    range cannot be read within :data:`READ_RANGE_TIMEOUT_S`.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[ReadBack] = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, first)
        async with asyncio.timeout(READ_RANGE_TIMEOUT_S):
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=end - first)
                for record in batch.get(tp, []):
                    if first <= record.offset < end and record.value is not None:
                        position = RecordPosition(topic, partition, record.offset)
                        records.append(ReadBack(position, record.value))
    finally:
        await consumer.stop()
    gone = (end - first) - len(records)
    if gone:
        logger.warning(
            "intake: %d of the records %d..%d of %s[%d] no longer exist (retention)",
            gone,
            first,
            end - 1,
            topic,
            partition,
        )
    return records
