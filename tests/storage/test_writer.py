"""The batching writer against a fake transport: batching, backpressure, retries, stops."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from storage.errors import (
    InfluxAuthError,
    InfluxNotFoundError,
    WriteAttemptError,
    WriterClosedError,
)
from storage.writer import BucketWriter, WriteTransport, point_identity


@dataclass
class FakeTransport:
    """Records bodies; fails the next requests with the queued errors."""

    failures: list[WriteAttemptError] = field(default_factory=list)
    bodies: list[list[str]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def write(self, bucket: str, body: bytes, *, gzipped: bool) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        text = gzip.decompress(body) if gzipped else body
        self.bodies.append(text.decode().split("\n"))

    @property
    def lines(self) -> list[str]:
        return [line for body in self.bodies for line in body]


@dataclass
class Sleeps:
    """A sleep that records delays and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def writer(
    transport: WriteTransport, sleeps: Sleeps | None = None, **options: object
) -> BucketWriter:
    settings: dict[str, object] = {
        "batch_size": 10,
        "flush_interval_s": 0.05,
        "max_buffer": 30,
        "org": "carepulse",
        "rng": random.Random(1),
        "sleep": sleeps or Sleeps(),
    }
    settings.update(options)
    return BucketWriter("readings", transport, **settings)  # type: ignore[arg-type]


LINES = [f"m v={i}.0 {i}" for i in range(95)]


async def test_everything_arrives_in_order_in_full_batches() -> None:
    """95 lines go out as nine batches of 10 and one of 5, in order, gzip-compressed."""
    transport = FakeTransport()
    w = writer(transport)
    await w.put(LINES)
    await w.flush()
    await w.aclose()
    assert transport.lines == LINES
    assert [len(b) for b in transport.bodies] == [10] * 9 + [5]
    metrics = w.metrics()
    assert (metrics.written, metrics.failed, metrics.buffer_depth, metrics.batches) == (
        95,
        0,
        0,
        10,
    )


async def test_partial_batch_goes_out_after_the_interval() -> None:
    """A few lines are sent once the flush interval passes, without a flush call."""
    transport = FakeTransport()
    w = writer(transport, flush_interval_s=0.02)
    await w.put(LINES[:3])
    for _ in range(100):
        if transport.lines:
            break
        await asyncio.sleep(0.01)
    assert transport.lines == LINES[:3]
    await w.aclose()


async def test_full_buffer_makes_the_caller_wait() -> None:
    """With the server stalled, put() blocks at max_buffer instead of dropping."""
    gate = asyncio.Event()
    transport = FakeTransport(gate=gate)
    w = writer(transport)
    await w.put(LINES[:30])
    blocked = asyncio.create_task(w.put(LINES[30:40]))
    await asyncio.sleep(0.1)
    assert not blocked.done()
    assert w.metrics().buffer_depth == 30
    gate.set()
    await asyncio.wait_for(blocked, 2)
    await w.flush()
    assert transport.lines == LINES[:40]
    await w.aclose()


async def test_transient_failures_are_retried_with_backoff_and_retry_after() -> None:
    """503, 429 (Retry-After 3) and a refused connection are retried; nothing is lost."""
    transport = FakeTransport(
        failures=[
            WriteAttemptError("unavailable", status=503),
            WriteAttemptError("slow down", status=429, retry_after="3"),
            WriteAttemptError("refused", status=None),
        ]
    )
    sleeps = Sleeps()
    w = writer(transport, sleeps)
    await w.put(LINES[:10])
    await w.flush()
    await w.aclose()
    assert transport.lines == LINES[:10]
    assert len(sleeps.delays) == 3
    assert 0 <= sleeps.delays[0] <= 0.5
    assert sleeps.delays[1] >= 3
    assert 0 <= sleeps.delays[2] <= 2.0
    metrics = w.metrics()
    assert (metrics.written, metrics.retried, metrics.retries, metrics.failed) == (10, 30, 3, 0)


@pytest.mark.parametrize(
    ("status", "error", "advice"),
    [
        (401, InfluxAuthError, "CAREPULSE_INFLUX_TOKEN"),
        (403, InfluxAuthError, "CAREPULSE_INFLUX_TOKEN"),
        (404, InfluxNotFoundError, "carepulse storage init"),
    ],
)
async def test_stop_errors_keep_the_points_and_say_what_to_fix(
    status: int, error: type[Exception], advice: str
) -> None:
    """401/403/404 stop the writer; put and flush raise; the lines stay buffered."""
    transport = FakeTransport(failures=[WriteAttemptError("no", status=status)])
    w = writer(transport)
    await w.put(LINES[:10])
    with pytest.raises(error, match=advice):
        await w.flush()
    with pytest.raises(error):
        await w.put(LINES[10:11])
    assert w.metrics().buffer_depth == 10
    assert w.metrics().failed == 0
    assert w.error is not None
    assert w.error.status == status
    await w.aclose()


async def test_rejected_data_is_counted_and_the_writer_goes_on() -> None:
    """A 400 (bad line) fails that batch only; the next batch is written."""
    transport = FakeTransport(failures=[WriteAttemptError("field type conflict", status=400)])
    w = writer(transport)
    await w.put(LINES[:20])
    await w.flush()
    await w.aclose()
    assert transport.lines == LINES[10:20]
    assert (w.metrics().failed, w.metrics().written) == (10, 10)


async def test_put_after_close_is_refused() -> None:
    """A closed writer says so."""
    w = writer(FakeTransport())
    await w.aclose()
    with pytest.raises(WriterClosedError):
        await w.put(LINES[:1])


def test_batch_size_must_fit_the_buffer() -> None:
    """max_buffer below batch_size is a configuration mistake."""
    with pytest.raises(ValueError, match="batch_size"):
        BucketWriter("b", FakeTransport(), batch_size=10, max_buffer=5)


@dataclass
class HeldTransport:
    """Holds every request until the test releases it; records what is in flight."""

    calls: list[tuple[list[str], asyncio.Event]] = field(default_factory=list)
    landed: list[list[str]] = field(default_factory=list)
    refuse: int | None = None

    async def write(self, bucket: str, body: bytes, *, gzipped: bool) -> None:
        lines = (gzip.decompress(body) if gzipped else body).decode().split("\n")
        release = asyncio.Event()
        self.calls.append((lines, release))
        await release.wait()
        if self.refuse is not None:
            msg = "no"
            raise WriteAttemptError(msg, status=self.refuse)
        self.landed.append(lines)

    def release(self, index: int) -> None:
        self.calls[index][1].set()

    def index_of(self, lines: list[str]) -> int:
        """Which call carries ``lines`` (requests may start in either order)."""
        return [call[0] for call in self.calls].index(lines)


async def _until(condition: Callable[[], bool], limit: float = 2.0) -> None:
    for _ in range(int(limit / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    msg = "condition not reached"
    raise AssertionError(msg)


async def test_unrelated_batches_are_in_flight_together() -> None:
    """With max_in_flight=2, a second batch goes out while the first is still waiting."""
    transport = HeldTransport()
    w = writer(transport, max_in_flight=2)
    await w.put(LINES[:30])
    await _until(lambda: len(transport.calls) == 2)
    await asyncio.sleep(0.05)
    assert len(transport.calls) == 2  # the third waits for a free slot
    transport.release(1)
    await _until(lambda: len(transport.calls) == 3)
    transport.release(0)
    transport.release(2)
    await w.flush()
    await w.aclose()
    assert sorted(line for body in transport.landed for line in body) == sorted(LINES[:30])
    assert w.metrics().written == 30


async def test_a_point_in_flight_is_never_overtaken_by_its_update() -> None:
    """A batch that holds a newer value of a point in flight waits until that one lands."""
    transport = HeldTransport()
    w = writer(transport, max_in_flight=3)
    first = [f"window,subject=s{i} v_mean={i}.0 1000" for i in range(10)]
    update = ["window,subject=s0 v_mean=99.0 1000"] + [f"m v={i}.0 {i}" for i in range(9)]
    await w.put(first)
    await w.put(update)
    await _until(lambda: len(transport.calls) == 1)
    await asyncio.sleep(0.05)
    assert len(transport.calls) == 1  # the update of s0 at 1000 waits
    transport.release(0)
    await _until(lambda: len(transport.calls) == 2)
    transport.release(1)
    await w.flush()
    await w.aclose()
    assert transport.landed == [first, update]


def test_point_identity_is_series_and_time() -> None:
    """Two values of the same point share an identity; another time or tag does not."""
    a = "window,kind=steps,subject=s1 steps_mean=1.0 1000"
    same = "window,kind=steps,subject=s1 steps_mean=2.0,x=1.0 1000"
    assert point_identity(a) == point_identity(same)
    assert point_identity(a) != point_identity("window,kind=steps,subject=s1 steps_mean=1.0 2000")
    assert point_identity(a) != point_identity("window,kind=steps,subject=s2 steps_mean=1.0 1000")


async def test_flush_waits_for_an_older_batch_that_lands_last() -> None:
    """Batches may land out of order; flush returns only when every earlier line is written."""
    transport = HeldTransport()
    w = writer(transport, max_in_flight=2)
    await w.put(LINES[:20])
    await _until(lambda: len(transport.calls) == 2)
    flushing = asyncio.create_task(w.flush())
    transport.release(transport.index_of(LINES[10:20]))  # the newer batch lands first
    await asyncio.sleep(0.05)
    assert not flushing.done()
    transport.release(transport.index_of(LINES[:10]))
    await asyncio.wait_for(flushing, 2)
    await w.aclose()
    assert transport.landed == [LINES[10:20], LINES[:10]]


async def test_a_stop_with_batches_in_flight_keeps_every_line_in_order() -> None:
    """Both batches in flight are refused: all lines are back in the buffer, oldest first."""
    transport = HeldTransport(refuse=401)
    w = writer(transport, max_in_flight=2)
    await w.put(LINES[:25])
    await _until(lambda: len(transport.calls) == 2)
    transport.release(1)
    transport.release(0)
    with pytest.raises(InfluxAuthError):
        await w.flush()
    await _until(lambda: len(w._lines) == 25)  # the buffer itself is the point
    assert list(w._lines) == LINES[:25]
    assert w.metrics().buffer_depth == 25
    await w.aclose()


def test_max_in_flight_must_be_positive() -> None:
    """Zero requests in flight would never write anything."""
    with pytest.raises(ValueError, match="max_in_flight"):
        BucketWriter("b", FakeTransport(), max_in_flight=0)
