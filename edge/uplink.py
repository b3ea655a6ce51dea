"""The Kafka uplink: drains the outbox to Kafka in order, deleting only what Kafka acknowledged.

The producer is idempotent with ``acks=all``, so a message Kafka acknowledged is on every
in-sync replica and a retried batch does not duplicate within one producer session. A batch
that fails part-way stays in the outbox and is sent again after a reconnect: delivery is
at-least-once, and the stream drops the repeats by ``observation_id``.

When Kafka is unreachable the uplink logs once, keeps the outbox growing (it is bounded
and warns as it fills) and reconnects with capped, jittered exponential backoff; when it
is back, it logs once more and drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from edge.backoff import Backoff
from edge.outbox import Outbox

logger = logging.getLogger(__name__)

#: Builds a producer; tests and benchmarks can pass their own.
ProducerFactory = Callable[[], AIOKafkaProducer]


@dataclass(slots=True)
class UplinkStats:
    """What the uplink has done since it started."""

    sent: int = 0
    batches: int = 0
    failures: int = 0
    connected: bool = False


class KafkaUplink:
    """Moves messages from the outbox to Kafka until cancelled."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        bootstrap_servers: str,
        client_id: str = "carepulse-gateway",
        batch_size: int = 500,
        idle_poll_s: float = 0.5,
        request_timeout_ms: int = 15_000,
        backoff: Backoff | None = None,
        producer_factory: ProducerFactory | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.outbox = outbox
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        self.stats = UplinkStats()
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self._wake = asyncio.Event()
        self._make_producer = producer_factory or (
            lambda: AIOKafkaProducer(
                bootstrap_servers=bootstrap_servers,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                request_timeout_ms=request_timeout_ms,
                compression_type="gzip",
            )
        )

    def wake(self) -> None:
        """Tell the uplink new messages are waiting (saves it the idle poll)."""
        self._wake.set()

    async def run(self) -> None:
        """Drain forever, reconnecting after any Kafka or network failure."""
        attempt = 0
        while True:
            producer = self._make_producer()
            try:
                await producer.start()
                self.stats.connected = True
                if attempt:
                    self._log.info("uplink: Kafka reachable again after %d attempts", attempt)
                attempt = 0
                await self._drain(producer)
            except (KafkaError, OSError) as exc:
                self.stats.failures += 1
                if attempt == 0:
                    self._log.warning(
                        "uplink: Kafka unavailable (%s); readings stay in the outbox "
                        "(%d waiting) and the uplink keeps retrying",
                        exc,
                        self.outbox.stats().depth,
                    )
                delay = self.backoff.delay(attempt)
                attempt += 1
                await asyncio.sleep(delay)
            finally:
                self.stats.connected = False
                await _stop_quietly(producer)

    async def _drain(self, producer: AIOKafkaProducer) -> None:
        while True:
            batch = self.outbox.peek(self.batch_size)
            if not batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)
                continue
            deliveries = [
                await producer.send(
                    entry.message.topic,
                    entry.message.value,
                    key=entry.message.key,
                    timestamp_ms=entry.message.timestamp_ms,
                )
                for entry in batch
            ]
            await asyncio.gather(*deliveries)
            self.outbox.ack(batch)
            self.stats.sent += len(batch)
            self.stats.batches += 1


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    """Stop a producer whose broker may be gone; its unsent messages stay in the outbox."""
    try:
        await asyncio.wait_for(producer.stop(), timeout=20)
    except (KafkaError, OSError, TimeoutError) as exc:
        logger.debug("uplink: producer stop: %s", exc)
