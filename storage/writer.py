"""The batching InfluxDB writer (asyncio, influxdb-client's async API).

One :class:`BucketWriter` per bucket keeps a bounded buffer of line-protocol lines and
one background task that sends them in batches of ``write_batch_size`` lines, or what
is there after ``write_flush_interval_s``, with up to ``write_max_in_flight`` requests
in flight (2: InfluxDB parses a request on one core, so one request at a time leaves the
server's other core idle; ``python -m storage.bench`` measures 1 to 4).

* **Order where it matters**: batches are taken in order, and a batch that holds a point
  (measurement, tags and time: :func:`point_identity`) that is also in a batch still in
  flight waits until that one has landed. So a re-emitted window update never overtakes
  the value it replaces, while unrelated batches overlap. ``flush`` returns only when
  every line put before it has landed, whatever order the batches finished in.

* **Backpressure, not loss**: :meth:`BucketWriter.put` waits while the buffer holds
  ``write_buffer_points`` lines (in flight included). During an InfluxDB outage the
  caller (the Faust agent) therefore stops consuming, and Kafka keeps the rest.
* **Retries**: 429, 5xx, refused connections and timeouts are retried for ever with
  exponential backoff and full jitter, never sooner than ``Retry-After``
  (:mod:`storage.retry`). One warning when a bucket starts failing, one info line when
  it recovers.
* **Stop errors**: 401/403 (token) and 404 (org or bucket) stop the writer; the lines
  stay buffered and the next ``put``/``flush`` raises :class:`~storage.errors.InfluxAuthError`
  or :class:`~storage.errors.InfluxNotFoundError` saying what to fix.
* **Rejected data** (other 4xx: bad line, field type conflict): the batch is counted in
  ``failed``, logged once with InfluxDB's reason, and the writer goes on.
* **gzip**: bodies are compressed here, at ``write_gzip_level`` (1 by default) in a worker
  thread; influxdb-client's own ``enable_gzip`` always uses level 9, about four times the
  CPU for 18 % fewer bytes on our lines (``python -m storage.bench`` measures both).

:class:`StorageWriter` is what the stream worker holds: ``write_observations``,
``write_windows`` and ``write_alerts`` turn domain values into points
(:mod:`storage.points`) and route them to the right bucket.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Protocol

import aiohttp
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.service.write_service import WriteService

from carepulse.alert import Alert
from carepulse.observation import Observation
from storage.config import StorageSettings
from storage.errors import (
    InfluxStopError,
    WriteAttemptError,
    WriterClosedError,
    auth_advice,
    not_found_advice,
)
from storage.points import (
    PRECISION,
    WindowAggregate,
    alert_to_point,
    reading_line,
    window_to_point,
)
from storage.retry import Decision, decide, retry_after_seconds, retry_delay

logger = logging.getLogger(__name__)


class WriteTransport(Protocol):
    """Sends one encoded batch to one bucket; raises ``WriteAttemptError`` on failure."""

    async def write(self, bucket: str, body: bytes, *, gzipped: bool) -> None:
        """Send ``body`` (line protocol, precision ms, maybe gzip-compressed)."""


#: How the writer waits between retries (``asyncio.sleep``; tests pass a fake).
Sleep = Callable[[float], Awaitable[None]]


class InfluxTransport:
    """The real transport: ``POST /api/v2/write`` through influxdb-client's async client."""

    def __init__(self, client: InfluxDBClientAsync, org: str) -> None:
        self._org = org
        # WriteApiAsync cannot send a body we compressed ourselves; its service can.
        self._service = WriteService(client.api_client)  # type: ignore[no-untyped-call]  # untyped

    async def write(self, bucket: str, body: bytes, *, gzipped: bool) -> None:
        """Send one batch; any failure becomes ``WriteAttemptError``."""
        extra = {"content_encoding": "gzip"} if gzipped else {}
        try:
            await self._service.post_write_async(  # type: ignore[no-untyped-call]  # untyped
                org=self._org,
                bucket=bucket,
                body=body,
                precision=PRECISION,
                content_type="text/plain; charset=utf-8",
                **extra,
            )
        except InfluxDBError as exc:
            raise influx_error_to_attempt(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            raise WriteAttemptError(detail, status=None) from exc


def influx_error_to_attempt(exc: InfluxDBError) -> WriteAttemptError:
    """Convert influxdb-client's error to ours (status, ``Retry-After``, message)."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "status", None) or getattr(response, "status", None)
    detail = str(getattr(exc, "message", "") or exc)
    return WriteAttemptError(
        detail,
        status=int(status) if status else None,
        retry_after=getattr(exc, "retry_after", None),
    )


@dataclass(frozen=True, slots=True)
class WriterMetrics:
    """Counters of one bucket's writer (points are lines)."""

    bucket: str
    written: int
    #: points sent again after a transient failure (a batch retried twice counts twice)
    retried: int
    #: points InfluxDB rejected (bad data); stop errors leave points buffered, not failed
    failed: int
    #: points waiting or in flight
    buffer_depth: int
    batches: int
    retries: int


def point_identity(line: str) -> str:
    """What decides whether two lines may overwrite each other: series key and time.

    ``measurement,tags`` up to the first space and `` time`` from the last one. Two lines
    for the same point (as our builders write them) always give the same string; two
    different points may too when a tag holds an escaped space, which only costs
    concurrency, never order.
    """
    return line[: line.find(" ")] + line[line.rfind(" ") :]


@dataclass(eq=False, slots=True)
class _Flight:
    """A batch on its way: where it starts in the order lines were put, and its points."""

    seq: int
    lines: list[str]
    identities: frozenset[str]


class BucketWriter:
    """Batches lines into one bucket; see the module docstring for the guarantees."""

    def __init__(
        self,
        bucket: str,
        transport: WriteTransport,
        *,
        org: str = "",
        batch_size: int = 5000,
        flush_interval_s: float = 1.0,
        max_buffer: int = 50_000,
        max_in_flight: int = 1,
        retry_base_s: float = 0.5,
        retry_cap_s: float = 30.0,
        gzip_level: int = 1,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            msg = f"need 1 <= batch_size ({batch_size}) <= max_buffer ({max_buffer})"
            raise ValueError(msg)
        if max_in_flight < 1:
            msg = f"max_in_flight must be at least 1 (got {max_in_flight})"
            raise ValueError(msg)
        self.bucket = bucket
        self._transport = transport
        self._org = org
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_buffer = max_buffer
        self._max_in_flight = max_in_flight
        self._retry_base = retry_base_s
        self._retry_cap = retry_cap_s
        self._gzip_level = gzip_level
        self._sleep = sleep
        self._rng = rng
        self._log = log or logger
        self._lines: deque[str] = deque()
        self._flights: dict[_Flight, asyncio.Task[None]] = {}
        self._stopped: list[_Flight] = []  # batches a stop error sent back
        self._in_flight = 0
        self._accepted = 0  # lines ever put
        self._taken = 0  # lines ever taken from the buffer into a batch
        self._written = 0
        self._failed = 0
        self._retried = 0
        self._retries = 0
        self._batches = 0
        self._failing = False  # between the first failed attempt and the next success
        self._error: InfluxStopError | None = None
        self._closing = False
        self._flush_now = False
        self._cond = asyncio.Condition()  # callers wait on it for room or progress
        self._wake = asyncio.Event()  # wakes the sender: a full batch, a flush, a stop
        self._landed = asyncio.Event()  # a batch in flight finished
        self._task: asyncio.Task[None] | None = None

    # -- caller side -------------------------------------------------------------------

    def start(self) -> None:
        """Start the background sender (inside a running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"influx-writer-{self.bucket}")

    async def put(self, lines: Sequence[str]) -> None:
        """Queue ``lines``; waits while the buffer is full. Raises a stop error if stopped."""
        if self._closing:
            msg = f"writer of bucket {self.bucket!r} is closed"
            raise WriterClosedError(msg)
        self.start()
        for begin in range(0, len(lines), self._batch_size):
            chunk = lines[begin : begin + self._batch_size]
            async with self._cond:
                await self._cond.wait_for(partial(self._room_for, len(chunk)))
                self._raise_if_stopped()
                self._lines.extend(chunk)
                self._accepted += len(chunk)
                if len(self._lines) >= self._batch_size:
                    self._wake.set()

    async def flush(self) -> None:
        """Wait until every line queued before this call is written (or failed)."""
        target = self._accepted
        if self._settled() >= target:
            self._raise_if_stopped()
            return
        self.start()
        async with self._cond:
            self._flush_now = True
            self._wake.set()
            await self._cond.wait_for(lambda: self._error is not None or self._settled() >= target)
            self._raise_if_stopped()

    async def aclose(self) -> None:
        """Flush what is buffered (unless stopped) and end the background task."""
        if self._error is None and not self._closing:
            await self.flush()
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def error(self) -> InfluxStopError | None:
        """The stop error, once InfluxDB refused us for good."""
        return self._error

    def metrics(self) -> WriterMetrics:
        """Current counters."""
        return WriterMetrics(
            bucket=self.bucket,
            written=self._written,
            retried=self._retried,
            failed=self._failed,
            buffer_depth=self._depth(),
            batches=self._batches,
            retries=self._retries,
        )

    # -- sender side -------------------------------------------------------------------

    def _depth(self) -> int:
        return len(self._lines) + self._in_flight

    def _settled(self) -> int:
        """Every line put before this position is written or failed (batches may land
        out of order, so this is the oldest batch still in flight, else the buffer's head)."""
        return min((f.seq for f in self._flights), default=self._taken)

    def _room_for(self, count: int) -> bool:
        return self._error is not None or self._depth() + count <= self._max_buffer

    def _raise_if_stopped(self) -> None:
        if self._error is not None:
            raise self._error

    def _batch_ready(self) -> bool:
        return self._error is not None or (
            len(self._lines) >= self._batch_size
            or (bool(self._lines) and (self._flush_now or self._closing))
        )

    async def _run(self) -> None:
        due = False  # the flush interval is up: send a partial batch
        try:
            while self._error is None:
                if not (due or self._batch_ready()):
                    self._wake.clear()
                    try:
                        async with asyncio.timeout(self._interval):
                            await self._wake.wait()
                    except TimeoutError:
                        due = True
                    continue
                if self._error is not None:
                    break
                size = min(self._batch_size, len(self._lines))
                if size == 0:
                    due = False
                    continue
                if len(self._flights) >= self._max_in_flight:
                    await self._next_landing()
                    continue
                batch = list(islice(self._lines, size))
                identities = (
                    frozenset(map(point_identity, batch))
                    if self._max_in_flight > 1
                    else frozenset()
                )
                if any(not identities.isdisjoint(f.identities) for f in self._flights):
                    await self._next_landing()  # same point in flight: keep the order
                    continue
                for _ in range(size):
                    self._lines.popleft()
                if not self._lines:
                    self._flush_now = False
                flight = _Flight(self._taken, batch, identities)
                self._taken += size
                self._in_flight += size
                due = False
                self._flights[flight] = asyncio.create_task(
                    self._fly(flight), name=f"influx-write-{self.bucket}-{flight.seq}"
                )
            # Stopped: let the other batches land, then put the refused ones back in order.
            if self._flights:
                await asyncio.gather(*self._flights.values(), return_exceptions=True)
            for flight in sorted(self._stopped, key=lambda f: f.seq, reverse=True):
                self._lines.extendleft(reversed(flight.lines))
                self._in_flight -= len(flight.lines)
            self._stopped.clear()
            async with self._cond:
                self._cond.notify_all()
        finally:
            for task in self._flights.values():
                task.cancel()

    async def _next_landing(self) -> None:
        """Wait until a batch in flight finishes (or a stop error is set)."""
        self._landed.clear()
        await self._landed.wait()

    async def _fly(self, flight: _Flight) -> None:
        stopped = True
        try:
            stopped = await self._send(flight.lines)
        finally:
            del self._flights[flight]
            if stopped:  # still pending: the sender puts the lines back into the buffer
                self._stopped.append(flight)
            else:
                self._in_flight -= len(flight.lines)
        if stopped:
            self._wake.set()
        self._landed.set()
        async with self._cond:
            self._cond.notify_all()

    async def _send(self, batch: list[str]) -> bool:
        """Send one batch until it is written or rejected; True when the writer must stop."""
        body = "\n".join(batch).encode()
        gzipped = self._gzip_level > 0
        if gzipped:
            body = await asyncio.to_thread(gzip.compress, body, self._gzip_level)
        attempt = 0
        while True:
            try:
                await self._transport.write(self.bucket, body, gzipped=gzipped)
            except WriteAttemptError as exc:
                decision = decide(exc.status)
                if decision is Decision.RETRY:
                    if not self._failing:
                        self._failing = True
                        self._log.warning(
                            "InfluxDB write to %r failed (%s); retrying with backoff, "
                            "callers wait meanwhile",
                            self.bucket,
                            exc,
                        )
                    delay = retry_delay(
                        attempt,
                        base_s=self._retry_base,
                        cap_s=self._retry_cap,
                        retry_after_s=retry_after_seconds(exc.retry_after),
                        rng=self._rng,
                    )
                    self._retried += len(batch)
                    self._retries += 1
                    attempt += 1
                    await self._sleep(delay)
                    continue
                if decision is Decision.REJECT:
                    self._failed += len(batch)
                    self._log.error(
                        "InfluxDB rejected a batch of %d points for %r (%s); they are "
                        "counted as failed",
                        len(batch),
                        self.bucket,
                        exc.detail,
                    )
                    return False
                if self._error is None:
                    advice = auth_advice if decision is Decision.STOP_AUTH else not_found_advice
                    self._error = advice(exc.status or 0, self.bucket, self._org, exc.detail)
                    self._log.error("%s", self._error)
                return True
            if self._failing:
                self._failing = False
                self._log.info(
                    "InfluxDB writes to %r recovered after %d retries", self.bucket, attempt
                )
            self._written += len(batch)
            self._batches += 1
            return False


class StorageWriter:
    """Routes readings, window results and alerts to their buckets.

    Use :meth:`connect` from asyncio code::

        async with StorageWriter.connect(settings) as storage:
            await storage.write_observations(observations)   # readings bucket
            await storage.write_windows(aggregates)          # metrics bucket (upsert)
            await storage.write_alerts(alerts)               # metrics bucket
    """

    def __init__(self, readings: BucketWriter, metrics: BucketWriter) -> None:
        self.readings = readings
        self.metrics_writer = metrics

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, settings: StorageSettings, *, transport: WriteTransport | None = None
    ) -> AsyncIterator[StorageWriter]:
        """Open a client (unless ``transport`` is given), yield the writer, flush on exit."""
        client: InfluxDBClientAsync | None = None
        if transport is None:
            client = open_client(settings)
            transport = InfluxTransport(client, settings.influx_org)
        writer = cls(
            bucket_writer(settings, settings.influx_bucket, transport),
            bucket_writer(settings, settings.metrics_bucket, transport),
        )
        try:
            yield writer
            await writer.flush()
        finally:
            await writer.aclose()
            if client is not None:
                await client.close()  # type: ignore[no-untyped-call]  # untyped

    async def write_observations(self, observations: Iterable[Observation]) -> None:
        """Queue readings (observations without a numeric value are skipped)."""
        lines = [line for line in map(reading_line, observations) if line is not None]
        await self.readings.put(lines)

    async def write_windows(self, aggregates: Iterable[WindowAggregate]) -> None:
        """Queue window results; a later update of the same window overwrites the earlier."""
        await self.metrics_writer.put([window_to_point(a).to_line() for a in aggregates])

    async def write_alerts(self, alerts: Iterable[Alert]) -> None:
        """Queue alert annotations."""
        await self.metrics_writer.put([alert_to_point(a).to_line() for a in alerts])

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await asyncio.gather(self.readings.flush(), self.metrics_writer.flush())

    async def aclose(self) -> None:
        """Flush unless stopped, then stop both writers."""
        await asyncio.gather(
            self.readings.aclose(), self.metrics_writer.aclose(), return_exceptions=True
        )

    def metrics(self) -> list[WriterMetrics]:
        """Counters per bucket."""
        return [self.readings.metrics(), self.metrics_writer.metrics()]


def open_client(settings: StorageSettings) -> InfluxDBClientAsync:
    """An async client for ``settings`` (call inside a coroutine; close it when done)."""
    return InfluxDBClientAsync(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
        timeout=int(settings.write_timeout_s * 1000),
        enable_gzip=False,  # write bodies are compressed by BucketWriter at a cheaper level
    )


def bucket_writer(
    settings: StorageSettings, bucket: str, transport: WriteTransport
) -> BucketWriter:
    """A ``BucketWriter`` configured from ``settings``."""
    return BucketWriter(
        bucket,
        transport,
        org=settings.influx_org,
        batch_size=settings.write_batch_size,
        flush_interval_s=settings.write_flush_interval_s,
        max_buffer=max(settings.write_buffer_points, settings.write_batch_size),
        max_in_flight=settings.write_max_in_flight,
        retry_base_s=settings.write_retry_base_s,
        retry_cap_s=settings.write_retry_cap_s,
        gzip_level=settings.write_gzip_level,
    )
