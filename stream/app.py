"""The Faust app: one pipeline agent (ingest, metrics, risk), watchdog, storage sink.

:func:`create_app` builds everything from :class:`~stream.config.StreamSettings` in one
function and returns a :class:`StreamApp` (the app plus handles on its topics, tables and
agents, for tests). Faust's CLI needs a module-level ``app``: it is created on first
access from the environment (``python -m stream worker``, ``faust -A stream.app``), the
one singleton STYLE allows.

Topics (prefix configurable)::

    readings ──pipeline──► readings.valid ──sink (own consumer group)──► InfluxDB
        │        │  │  └──► metrics ─────────sink──────────────────────────┘
        │        │  └─────► alerts ◄── watchdog (timers, heartbeats)
        │        └────────► devices.owner ──► heartbeats agent (device → resident)
        └──► readings.rejected

The **pipeline** agent folds each observation into in-memory state (dedup, windows, HRV,
the per-resident record) and queues its alerts at once. What else the observations
changed is coalesced and flushed every ``flush_interval_s``: each changed table key's
changelog record **once per flush**, each changed window's ``metrics`` message once per
flush, dead letters and the forwards for the sink. Events are acked as usual, but every
Faust commit first writes what is pending and waits for Kafka (a hook on the producer's
flush), so a committed offset never runs ahead of its effects (at least once); the
source watermarks in every aggregate make the replay after a crash idempotent.

Every agent runs with ``concurrency=1`` (faust-streaming #606: with more, a crash can
commit past an in-flight message). docs/stream.md explains each choice and the figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from carepulse.alert import Alert
from carepulse.errors import ObservationError
from carepulse.observation import Observation
from stream.config import StreamSettings
from stream.intake import IntakeOrder, ReadBack, Verdict, read_range
from stream.messages import dead_letter, metric_message, valid_message
from stream.metrics import (
    DAYS_KEPT,
    HRV_WINDOW,
    WINDOWS,
    DayRecord,
    Stats,
    accepts_late,
    add_to_dict,
    append_rr,
    day_key,
    home_bp_mean,
    hrv,
    prune_days,
    update_day,
    weight_trend,
    window_bounds,
)
from stream.plausibility import check_clock, check_values
from stream.risk import Event, ResidentState, RiskEngine
from stream.sink import run_sink
from stream.watchdog import (
    battery_alerts,
    battery_level,
    checkin_resolved,
    checkin_since,
    device_offline_alert,
    elapsed,
    no_checkin_alerts,
    offline_since,
    parse_heartbeat,
    resident_overdue,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``; tests pass a fixed clock)."""

#: Changelog config of the window tables: compact *and* delete (expired windows leave).
WINDOW_TOPIC_CONFIG = {"cleanup.policy": "compact,delete"}
#: Alerts remembered per resident for re-sending on a replayed reading.
SENT_KEPT = 4
#: Records built and queued between two yields to the event loop during a flush.
FLUSH_SLICE = 500
#: Devices remembered per resident (those already announced on ``devices.owner``).
DEVICES_KEPT = 16
#: Loggers whose debug records cost ~5 % of the worker's time even when nothing prints
#: them (aiokafka and mode build a LogRecord per produced message otherwise).
QUIET_LOGGERS = ("aiokafka", "faust", "mode")
#: How a ``devices.owner`` message starts (``{"owner": {station, device, subject}}``).
OWNER_PREFIX = b'{"owner":'


@dataclass(slots=True)
class Counters:
    """What the worker did (logged periodically; the benchmark reads them)."""

    ingested: int = 0
    forwarded: int = 0
    duplicates: int = 0
    rejected: int = 0
    clock_suspect: int = 0
    late_dropped: int = 0
    replayed: int = 0
    redelivered: int = 0
    read_back: int = 0
    metrics_sent: int = 0
    alerts_sent: int = 0
    batches: int = 0
    changelog_writes: int = 0


Record = tuple[str, bytes | None, bytes | None, int | None, float | None]
"""``(topic or role, key, value, partition, timestamp)`` of one outgoing record."""

Send = Callable[[str, bytes | None, bytes | None, int | None, float | None], Awaitable[Any]]
"""``send(topic, key, value, partition, timestamp)``: queue one record; returns its
delivery future (or ``None``)."""


@dataclass(slots=True)
class Outbox:
    """Where every record of the worker goes: one seam over the producer.

    ``send`` defaults to Faust's producer (aiokafka underneath) without Faust's
    per-message ``FutureMessage``/serializer/sensor layer; tests replace it with a mock.
    :meth:`deliver` queues a batch and waits until Kafka acknowledged every record.
    """

    send: Send
    names: dict[str, str]

    async def queue(self, records: Iterable[Record]) -> list[asyncio.Future[Any]]:
        """Hand ``records`` (role or topic, key, value, partition, timestamp) to the producer."""
        futures = []
        for topic, key, value, partition, timestamp in records:
            future = await self.send(self.names.get(topic, topic), key, value, partition, timestamp)
            if isinstance(future, asyncio.Future):
                futures.append(future)
        return futures

    async def deliver(self, records: Iterable[Record]) -> None:
        """Queue ``records`` and wait until Kafka acknowledged every one of them."""
        futures = await self.queue(records)
        if futures:
            await asyncio.gather(*futures)


@dataclass(slots=True)
class StreamApp:
    """The app and handles on its parts."""

    app: faust.App
    settings: StreamSettings
    topics: dict[str, Any]
    tables: dict[str, Any]
    agents: dict[str, Any]
    outbox: Outbox
    counters: Counters = field(default_factory=Counters)
    intake: IntakeOrder = field(default_factory=IntakeOrder)


def _now_utc(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def _dumps_key(key: str) -> bytes:
    """A table key as JSON (our keys are ids, pseudonyms and ``|``: no escaping needed)."""
    if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
        return b'"' + key.encode() + b'"'
    return _dumps(key)


class StateWrites:
    """Table writes of one batch: the store is updated at once, the changelog once per key.

    Faust's own ``table[key] = value`` sends a changelog record per assignment through
    its producer buffer (one message at a time, and only inside a stream's event). The
    pipeline instead writes the store directly and sends each changed key's latest value
    once, to the partition it names (the source partition of the resident's readings, or
    the partition recorded in the value for timers), JSON-serialised as Faust's table
    codec expects, so the store is rebuilt from the changelog on restart as before.
    """

    def __init__(self) -> None:
        """An empty set of writes."""
        self.dirty: dict[tuple[str, Any], tuple[Any, Any, int]] = {}

    def put(self, table: Any, key: Any, value: Any, partition: int) -> None:
        """Set ``key`` in ``table`` (``None`` deletes it) and mark it for the changelog."""
        store = table.data
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
        key_partition = getattr(store, "_key_partition", None)
        if isinstance(key_partition, dict):  # the memory store's partition index
            if value is None:
                key_partition.pop(key, None)
            else:
                key_partition[key] = partition
        self.dirty[(table.name, key)] = (table, key, partition)

    def records(self) -> list[Record]:
        """The changelog records, one per changed key, of its value now; clears the set.

        The value is read from the store when the records are made, so a key changed again
        in between (by a timer, say) is written with its latest value, never an older one.
        """
        out = [
            changelog_record(table, key, partition) for table, key, partition in self.dirty.values()
        ]
        self.dirty.clear()
        return out


@dataclass(slots=True)
class Batch:
    """What one batch of the pipeline sends, in order of delivery."""

    rejected: list[Record] = field(default_factory=list)
    forwards: list[Record] = field(default_factory=list)
    owners: list[Record] = field(default_factory=list)
    #: ``(metric, subject, kind, window, start) -> builder``: the last update wins.
    emits: dict[tuple[str, str, str, str, float], Callable[[], bytes]] = field(default_factory=dict)
    alerts: list[tuple[str, bytes]] = field(default_factory=list)
    writes: StateWrites = field(default_factory=StateWrites)


@dataclass(slots=True)
class Pending:
    """Observations taken but not flushed: their effects, their events, their alerts' sends.

    An event joins ``events`` in the same step that folds it into ``batch`` (no ``await``
    in between), and its alerts are handed to a task recorded in ``sends`` in that step
    too: whatever interrupts the pipeline afterwards, the flush that a commit runs sees
    the event's effects and waits for its alerts.
    """

    batch: Batch = field(default_factory=Batch)
    events: list[Any] = field(default_factory=list)
    sends: list[asyncio.Future[list[asyncio.Future[Any]]]] = field(default_factory=list)
    since: float = 0.0
    #: The next offset expected per partition when this batch closed: once it is written,
    #: every reading before it is.
    upto: dict[Any, int] = field(default_factory=dict)


def changelog_record(table: Any, key: Any, partition: int) -> Record:
    """The changelog record of ``key``'s value now (a tombstone if it is gone)."""
    value = table.data.get(key)
    return (
        table.changelog_topic.get_topic_name(),
        _dumps_key(key) if isinstance(key, str) else _dumps(key),
        None if value is None else _dumps(value),
        partition,
        None,
    )


ReadRange = Callable[[str, str, int, int, int], Awaitable[list[ReadBack]]]
"""``read(bootstrap, topic, partition, first, end)``: records ``[first, end)`` read back."""


def create_app(
    settings: StreamSettings, *, clock: Clock = time.time, read_back: ReadRange = read_range
) -> StreamApp:
    """Build the Faust app, its topics, tables, agents and timers from ``settings``.

    ``read_back`` reads records the consumer skipped (:mod:`stream.intake`); tests pass
    their own.
    """
    settings.check_store()
    rules = settings.load_rules()
    residents = settings.load_residents(rules)
    # Simulated seconds per wall second of the watchdog (1 on a real station).
    scale = settings.watchdog_time_scale
    ranges = settings.load_ranges()
    engine = RiskEngine(
        rules,
        residents,
        freshness_s=settings.freshness_s,
        rest_s=settings.rest_s,
        utc_offset_s=settings.utc_offset_s,
    )
    names = settings.topics
    partitions = settings.partitions
    brokers = ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(","))
    options: dict[str, Any] = {
        "broker": brokers,
        "store": settings.store,
        "topic_partitions": partitions,
        "web_enabled": settings.web_enabled,
        "web_port": settings.web_port,
        "producer_acks": -1,
        "producer_linger_ms": settings.producer_linger_ms,
        "producer_max_batch_size": settings.producer_max_batch_size,
        "producer_compression_type": settings.producer_compression or None,
        "consumer_auto_offset_reset": "earliest",
        "stream_buffer_maxsize": settings.stream_buffer_maxsize,
        # On shutdown, commit what was acked and stop: do not wait for events that a
        # stopped agent will never ack (they are read again on restart; the
        # watermarks make that harmless). Waiting hung an overloaded worker forever.
        "stream_wait_empty": False,
    }
    if settings.datadir is not None:
        options["datadir"] = str(settings.datadir)
    app = faust.App(settings.app_id, **options)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    readings = app.topic(names.readings, partitions=partitions, **raw)
    # internal=True: Faust declares (creates if missing) the topics of this channel before
    # subscribing, so devices.owner needs no setup step.
    heartbeats = app.topic(
        names.heartbeats, settings.owner_topic, partitions=partitions, internal=True, **raw
    )
    # Written by the pipeline, read by the sink (readings.valid) and the heartbeats agent.
    valid = app.topic(settings.valid_topic, partitions=partitions, internal=True, **raw)
    owner = app.topic(settings.owner_topic, partitions=partitions, internal=True, **raw)
    counters = Counters()
    offset_s = settings.utc_offset_s
    roles = {
        "rejected": names.rejected,
        "valid": settings.valid_topic,
        "metrics": names.metrics,
        "alerts": names.alerts,
        "owner": settings.owner_topic,
    }

    async def kafka_send(
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
    ) -> Any:
        return await app.producer.send(topic, key, value, partition, timestamp, None)

    outbox = Outbox(send=kafka_send, names=roles)

    # ------------------------------------------------------------------------ tables

    dedup = app.Table("dedup", default=None, partitions=partitions)
    graces = {
        "1m": settings.grace_minute_s,
        "1h": settings.grace_hour_s,
        "1d": settings.grace_day_s,
    }
    windows = app.Table(
        "windows", default=None, partitions=partitions, extra_topic_configs=WINDOW_TOPIC_CONFIG
    )
    hrv_table = app.Table(
        "hrv", default=None, partitions=partitions, extra_topic_configs=WINDOW_TOPIC_CONFIG
    )
    resident_table = app.Table("residents", default=None, partitions=partitions)
    devices = app.Table("devices", default=None, partitions=partitions)
    # ResidentState objects of the records in the store, by identity of the stored dict:
    # a record replaced by changelog recovery is a new object and is parsed again.
    state_cache: dict[str, tuple[Any, ResidentState]] = {}

    def resident_state(subject: str, record: Any) -> ResidentState:
        cached = state_cache.get(subject)
        if cached is not None and cached[0] is record:
            return cached[1]
        return ResidentState.from_dict(None if record is None else record.get("state"))

    def alert_record(alert: Alert) -> tuple[str, bytes]:
        return alert.subject_id, alert.to_json()

    async def deliver_alerts(alerts: list[tuple[str, bytes]], writes: StateWrites) -> None:
        await outbox.deliver(
            [
                *writes.records(),
                *(("alerts", subject.encode(), value, None, None) for subject, value in alerts),
            ]
        )
        counters.alerts_sent += len(alerts)

    # ------------------------------------------------------------------- the pipeline

    def reject(
        batch: Batch,
        raw_value: bytes,
        stage: str,
        reason: str,
        field_name: str | None,
        obs: Any = None,
    ) -> str:
        counters.rejected += 1
        batch.rejected.append(
            (
                "rejected",
                None if obs is None else obs.device_id.encode(),
                dead_letter(
                    raw_value,
                    stage=stage,
                    reason=reason,
                    field=field_name,
                    rejected_at=_now_utc(clock),
                    observation=obs,
                ),
                None,
                None,
            )
        )
        return "rejected"

    def ingest_one(event: Any, batch: Batch) -> str:
        """One observation through ingest, metrics and risk; what happened to it."""
        message = event.message
        value = event.value if isinstance(event.value, bytes) else b""
        partition, offset = message.partition, message.offset
        counters.ingested += 1
        try:
            obs = Observation.from_json(value)
        except ObservationError as exc:
            return reject(batch, value, "schema", str(exc), exc.field)
        bad = check_values(obs, ranges)
        if bad is not None:
            return reject(
                batch, value, "plausibility", f"{bad.field}: {bad.reason}", bad.field, obs
            )
        seen = dedup.data.get(obs.observation_id)
        if seen is not None and (seen[1] != partition or seen[2] != offset):
            counters.duplicates += 1
            return "duplicate"
        verdict = check_clock(
            obs.measured_at,
            obs.received_at,
            max_future=timedelta(seconds=settings.clock_max_future_s),
            max_past=timedelta(seconds=settings.clock_max_past_s),
        )
        if verdict.suspect:
            counters.clock_suspect += 1
        if seen is None:
            batch.writes.put(dedup, obs.observation_id, [clock(), partition, offset], partition)
        at = verdict.event_time.timestamp()
        batch.forwards.append(
            (
                "valid",
                obs.subject_id.encode(),
                valid_message(value, at, verdict.suspect, partition, offset),
                partition,
                at,
            )
        )
        counters.forwarded += 1
        outcome = update_windows(obs, at, partition, offset, batch)
        replayed = update_resident(obs, at, partition, offset, batch)
        if replayed:
            counters.replayed += 1
            return "replayed"
        return outcome

    # ----------------------------------------------------------------------- metrics

    def window_values(current: dict[str, Any]) -> dict[str, Any]:
        return {n: Stats.from_dict(d).summary() for n, d in current["f"].items()}

    def update_windows(obs: Observation, at: float, partition: int, src: int, batch: Batch) -> str:
        numbers = {
            k: float(v)
            for k, v in obs.values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        subject, kind = obs.subject_id, obs.kind.value
        common = (obs.station_id, subject, kind)
        now = clock()
        outcome = "forwarded"
        for window in WINDOWS:
            start, end = window_bounds(at, window.size_s, offset_s)
            grace = graces[window.name]
            if not accepts_late(end, now, grace):
                counters.late_dropped += 1
                outcome = "late"
                continue
            key = f"{subject}|{kind}|{window.name}|{int(start)}"
            current = windows.data.get(key)
            if current is None or current["wm"] < src:
                fields = current["f"] if current is not None else {}
                updated = dict(fields)
                for name, number in numbers.items():
                    updated[name] = add_to_dict(fields.get(name), number, at)
                current = {"f": updated, "wm": src, "p": partition, "x": end + grace}
                batch.writes.put(windows, key, current, partition)
            emit(batch, "window", window.name, common, start, end, current)
        rr = obs.values.get("rr_intervals_s")
        if isinstance(rr, tuple) and rr:
            update_hrv(obs, rr, at, partition, src, batch, now)
        return outcome

    def emit(
        batch: Batch,
        metric: str,
        window: str,
        common: tuple[str, str, str],
        start: float,
        end: float,
        current: Any,
        values: Callable[[Any], dict[str, Any]] = window_values,
    ) -> None:
        station, subject, kind = common

        def build() -> bytes:
            counters.metrics_sent += 1
            return metric_message(
                metric=metric,
                window=window,
                start=start,
                end=end,
                values=values(current),
                station_id=station,
                subject_id=subject,
                kind=kind,
                updated_at=clock(),
            )

        batch.emits[(metric, subject, kind, window, start)] = build

    def hrv_values(current: dict[str, Any]) -> dict[str, Any]:
        result = hrv(current["rr"])
        if result is None:
            return {}
        return {
            "beats": result.beats,
            "rmssd_ms": result.rmssd_ms,
            "sdnn_ms": result.sdnn_ms,
            "pnn50_percent": result.pnn50_percent,
        }

    def update_hrv(
        obs: Observation,
        rr: tuple[float, ...],
        at: float,
        partition: int,
        src: int,
        batch: Batch,
        now: float,
    ) -> None:
        start, end = window_bounds(at, HRV_WINDOW.size_s, offset_s)
        if not accepts_late(end, now, settings.grace_minute_s):
            return
        key = f"{obs.subject_id}|{int(start)}"
        current = hrv_table.data.get(key)
        if current is None or current["wm"] < src:
            rr_list = append_rr([] if current is None else current["rr"], rr)
            current = {"rr": rr_list, "wm": src, "p": partition, "x": end + settings.grace_minute_s}
            batch.writes.put(hrv_table, key, current, partition)
        if hrv(current["rr"]) is not None:
            common = (obs.station_id, obs.subject_id, obs.kind.value)
            emit(batch, "hrv", HRV_WINDOW.name, common, start, end, current, hrv_values)

    def day_values(args: tuple[dict[str, Any], str]) -> dict[str, Any]:
        days, day = args
        record = DayRecord.from_dict(days.get(day, {}))
        all_days = {d: DayRecord.from_dict(r) for d, r in days.items()}
        values: dict[str, Any] = {"steps": record.steps}
        for session, (systolic, diastolic) in record.bp.items():
            values[f"bp_{session}_systolic_mean"] = systolic.mean
            values[f"bp_{session}_diastolic_mean"] = diastolic.mean
            values[f"bp_{session}_count"] = systolic.count
        recent = sorted(days)[-7:]
        home = home_bp_mean([all_days[d] for d in recent])
        if home is not None:
            values["home_bp_systolic_mean_7d"], values["home_bp_diastolic_mean_7d"] = home[:2]
            values["home_bp_count_7d"] = home[2]
        if record.morning_weight is not None:
            values["morning_weight_kg"] = record.morning_weight[1]
        weights = [
            (datetime.fromisoformat(d).date(), r.morning_weight[1])
            for d, r in all_days.items()
            if r.morning_weight is not None
        ]
        values["weight_trend_kg_per_day"] = weight_trend(weights[-7:])
        return values

    def update_days(record: dict[str, Any], obs: Observation, at: float) -> dict[str, Any]:
        numbers = {
            k: float(v)
            for k, v in obs.values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        records = dict(record.get("days", {}))
        day = day_key(at, offset_s)
        current = DayRecord.from_dict(records.get(day, {}))
        records[day] = update_day(current, obs.kind.value, numbers, at, offset_s).as_dict()
        return prune_days(records, DAYS_KEPT)

    def emit_day(batch: Batch, obs: Observation, at: float, days: dict[str, Any]) -> None:
        start, end = window_bounds(at, 86400, offset_s)
        common = (obs.station_id, obs.subject_id, obs.kind.value)
        emit(
            batch, "day", "local_day", common, start, end, (days, day_key(at, offset_s)), day_values
        )

    # -------------------------------------------------------------------------- risk

    def update_resident(
        obs: Observation, at: float, partition: int, src: int, batch: Batch
    ) -> bool:
        """Risk, local-day metrics and devices of one resident; True for a replayed reading."""
        subject = obs.subject_id
        record = resident_table.data.get(subject)
        day_kind = obs.kind.value in ("steps", "blood_pressure", "weight")
        if record is not None and record["wm"] >= src:
            # A reading read again after a crash: re-send what it raised, nothing new.
            for offset, sent in record.get("sent", []):
                if offset == src:
                    batch.alerts.extend((subject, a.encode()) for a in sent)
            if day_kind:
                emit_day(batch, obs, at, record.get("days", {}))
            if obs.device_id in record.get("devices", {}):
                batch.owners.append(owner_record(obs))
            return True
        state = resident_state(subject, record)
        raised_at = _now_utc(clock)
        new_state, alerts = engine.apply(state, Event(obs, at), raised_at)
        checkin_days = residents.no_checkin_days(subject, settings.no_checkin_days)
        # The gateway's receipt time of the latest reading (the scaled watchdog's clock).
        heard_before = None if record is None else record.get("heard")
        received = obs.received_at.timestamp()
        heard = received if heard_before is None else max(heard_before, received)
        before = checkin_since(state.last_seen, heard_before, scale)
        moment = at if scale == 1.0 else received
        if before is not None and elapsed(before, moment, scale) >= checkin_days * 86400.0:
            alerts.extend(
                checkin_resolved(
                    subject_id=subject,
                    station_id=obs.station_id,
                    previous=before,
                    at=moment,
                    days=checkin_days,
                    raised_at=raised_at,
                    scale=scale,
                )
            )
        sent = [a.to_json().decode() for a in alerts]
        old_sent = [] if record is None else record.get("sent", [])
        days = {} if record is None else record.get("days", {})
        if day_kind:
            days = update_days(record or {}, obs, at)
            emit_day(batch, obs, at, days)
        known = {} if record is None else record.get("devices", {})
        if known.get(obs.device_id) != obs.station_id:
            known = dict(list({**known, obs.device_id: obs.station_id}.items())[-DEVICES_KEPT:])
            batch.owners.append(owner_record(obs))
        checkin = None if record is None else record.get("checkin")
        new_record = {
            "state": new_state.as_dict(),
            "wm": src,
            "p": partition,
            "sent": [*old_sent, [src, sent]][-SENT_KEPT:] if sent else old_sent,
            "days": days,
            "devices": known,
            "heard": heard,
            "checkin": checkin
            if checkin_since(new_state.last_seen, heard, scale) == before
            else None,
        }
        batch.writes.put(resident_table, subject, new_record, partition)
        state_cache[subject] = (new_record, new_state)
        batch.alerts.extend(alert_record(a) for a in alerts)
        return False

    def owner_record(
        obs: Observation,
    ) -> tuple[str, bytes | None, bytes | None, int | None, float | None]:
        """A ``devices.owner`` message: this device belongs to this resident."""
        body = {
            "station_id": obs.station_id,
            "device_id": obs.device_id,
            "subject_id": obs.subject_id,
        }
        # Keyed like the gateway's device heartbeats, so it lands on their partition.
        key = f"{obs.station_id}/device/{obs.device_id}".encode()
        return ("owner", key, _dumps({"owner": body}), None, None)

    # What the observations taken since the last flush changed, and those events (not
    # acked yet). A flush swaps in a fresh Pending, so the pipeline goes on meanwhile.
    pending = Pending()
    flushing: list[asyncio.Task[None]] = []
    last_send: list[asyncio.Future[list[asyncio.Future[Any]]]] = []  # alerts stay in order
    intake = IntakeOrder(committed=lambda tp: committed_offset(tp))
    # Per readings partition: the offset before which every reading's effects are written.
    written: dict[Any, int] = {}
    acker: list[Any] = []  # the pipeline's stream, once the agent runs
    broken: list[BaseException] = []  # a failed flush or read-back: no commit may follow

    def process(events: list[Any], batch: Batch | None = None) -> tuple[list[Record], list[str]]:
        """Fold ``events`` into ``batch``; returns the alerts to send now and each outcome."""
        batch = Batch() if batch is None else batch
        results = [ingest_one(event, batch) for event in events]
        alerts: list[Record] = [("alerts", s.encode(), v, None, None) for s, v in batch.alerts]
        counters.alerts_sent += len(batch.alerts)
        batch.alerts.clear()
        return alerts, results

    def slices(batch: Batch) -> Iterator[list[Record]]:
        """Every record of ``batch`` but its alerts, a slice at a time (builds lazily)."""
        yield [*batch.rejected, *batch.forwards, *batch.owners]
        dirty = list(batch.writes.dirty.values())
        emits = list(batch.emits.items())
        counters.changelog_writes += len(dirty)
        counters.batches += 1
        for i in range(0, len(dirty), FLUSH_SLICE):
            yield [changelog_record(*entry) for entry in dirty[i : i + FLUSH_SLICE]]
        for i in range(0, len(emits), FLUSH_SLICE):
            yield [
                ("metrics", key[1].encode(), build(), None, None)
                for key, build in emits[i : i + FLUSH_SLICE]
            ]

    def drain(batch: Batch) -> list[Record]:
        """Every record of ``batch`` but its alerts, at once."""
        return [record for part in slices(batch) for record in part]

    async def flush_pending() -> None:
        """Send what the pending events changed and wait until Kafka has all of it.

        The records are built and queued a slice at a time, letting the pipeline process
        (and alert on) new observations in between; those go to the next Pending.
        """
        nonlocal pending
        done, pending = pending, Pending()
        done.upto = dict(intake.expected)
        futures: list[asyncio.Future[Any]] = []
        try:
            for send in done.sends:
                futures.extend(await send)
            for part in slices(done.batch):
                futures.extend(await outbox.queue(part))
                await asyncio.sleep(0)
            if futures:
                await asyncio.gather(*futures)
            written.update(done.upto)
        except BaseException as exc:
            # Never commit what was not written: stop the worker (the commit's producer
            # flush fails with it); the next one reads the uncommitted observations again.
            # A cancelled flush counts as failed: part of its batch may never be sent.
            failure = exc if isinstance(exc, Exception) else RuntimeError(f"flush: {exc!r}")
            logger.critical("pipeline: flush failed (%r); stopping the worker", exc)
            broken.append(failure)
            if isinstance(exc, Exception):
                await app.crash(exc)
            raise

    def send_alerts(alerts: list[Record]) -> asyncio.Future[list[asyncio.Future[Any]]]:
        """Queue ``alerts`` in a task of their own, after the alerts queued before them."""
        previous = last_send[0] if last_send else None

        async def send() -> list[asyncio.Future[Any]]:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])  # its failure is raised by its own flush
            return await outbox.queue(alerts)

        task = asyncio.ensure_future(send())
        last_send[:] = [task]
        return task

    def flush_due() -> bool:
        return bool(pending.events) and (
            len(pending.events) >= settings.flush_max_events
            or time.monotonic() - pending.since >= settings.flush_interval_s
        )

    async def maybe_flush() -> None:
        """Start a flush when one is due and none runs; wait for it under backpressure."""
        running = flushing[0] if flushing and not flushing[0].done() else None
        if running is None and flush_due():
            running = asyncio.ensure_future(flush_pending())
            flushing[:] = [running]
        if running is not None and (
            settings.flush_interval_s == 0 or len(pending.events) >= settings.flush_max_events
        ):
            # Shielded: stopping the agent (SIGTERM) must not cancel a flush half-way;
            # the commit on stop waits for it instead.
            await asyncio.shield(running)

    async def flush_if_due() -> None:
        """Timer: flush pending effects when no new batch came to do it."""
        if acker:
            await maybe_flush()
            if flushing:
                await asyncio.shield(flushing[0])

    async def flush_all() -> None:
        """Write everything pending now (a flush already running first).

        Raises the failure of an earlier flush: the commit that calls this must not go on.
        """
        if flushing and not flushing[0].done():
            await asyncio.shield(flushing[0])
        if broken:
            raise broken[0]
        if acker and (pending.events or pending.sends):
            await flush_pending()

    async def on_revoked(sender: Any, *_: Any, **__: Any) -> None:
        """Before partitions move to another worker, write what their readings changed.

        Otherwise this worker's late changelog records could land after the new owner's
        and win a later recovery. (Faust has stopped the flow by now; the new owner reads
        the unacked readings again and skips what the watermarks say is applied.)
        """
        await flush_all()
        intake.reset()
        written.clear()

    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]  # mode's stub wants signal=

    def hook_commit() -> None:
        """Make every commit write the pending effects first.

        Faust commits acked offsets every ``commit_interval`` (and on stop and rebalance),
        after computing them and after ``producer.flush()``. Flushing the pipeline's
        pending records inside that flush means a committed offset never runs ahead of an
        effect not yet in Kafka, while events are acked as usual, as soon as processed.
        """
        producer: Any = app.producer
        if getattr(producer, "_carepulse_hooked", False):
            return
        original = producer.flush

        async def flush_with_pending() -> None:
            await flush_all()
            await original()

        producer.flush = flush_with_pending
        producer._carepulse_hooked = True
        consumer: Any = app.consumer
        commit = consumer._commit

        async def commit_written(offsets: Any) -> Any:
            return await commit(clamp_commit(offsets))

        consumer._commit = commit_written

    def clamp_commit(offsets: dict[Any, int]) -> dict[Any, int]:
        """Never commit a readings partition past the readings whose effects are written.

        Faust computes the offsets from acked events; every event the pipeline acks was
        taken and its effects flushed just before (the flush hook), so this changes
        nothing, unless Faust acked an event the pipeline never took. It has been seen to
        commit past a message it never delivered (its gap check is off by one).
        """
        clamped = dict(offsets)
        for tp, offset in offsets.items():
            limit = written.get(tp)
            if tp.topic == names.readings and limit is not None and offset > limit:
                logger.warning(
                    "pipeline: commit of %s[%d] held at %d (Faust asked for %d)",
                    tp.topic,
                    tp.partition,
                    limit,
                    offset,
                )
                clamped[tp] = limit
        return clamped

    def committed_offset(tp: Any) -> int | None:
        """Where the consumer started ``tp`` (Faust's record of the committed offset)."""
        committed = getattr(app.consumer, "_committed_offset", {})
        value = committed.get(tp)
        return value if isinstance(value, int) else None

    async def read_skipped(tp: Any, first: int, end: int) -> list[ReadBack]:
        """The records ``[first, end)`` of ``tp`` that the consumer skipped, read back."""
        logger.warning(
            "pipeline: the consumer skipped %s[%d] offsets %d..%d; reading them back",
            tp.topic,
            tp.partition,
            first,
            end - 1,
        )
        try:
            records = await read_back(settings.kafka_bootstrap, tp.topic, tp.partition, first, end)
        except Exception as exc:
            # As for a failed flush: stop without another commit (the next worker reads
            # the partition again from its committed offset, before the gap).
            logger.critical("pipeline: reading back %s failed (%r); stopping", tp, exc)
            broken.append(exc)
            await app.crash(exc)
            raise
        counters.read_back += len(records)
        # Faust never saw these offsets: let its commit move past them.
        add_gap = getattr(app.consumer, "_add_gap", None)
        if add_gap is not None:
            await add_gap(tp, first, end - 1)
        return records

    def take(event: Any) -> list[str]:
        """Fold one event into the pending batch (its alerts leave in a task); its outcome."""
        current = pending
        alerts, results = process([event], current.batch)
        if not current.events:
            current.since = time.monotonic()
        current.events.append(event)
        if alerts:
            current.sends.append(send_alerts(alerts))
        intake.taken(event.message.tp, event.message.offset)
        return results

    @app.agent(readings, concurrency=1, name="pipeline")
    async def pipeline(stream: faust.StreamT[bytes]) -> AsyncIterator[str]:
        hook_commit()
        acker[:] = [stream]
        async for event in stream.events():
            # Alerts go out at once; windows, changelogs and forwards are coalesced over
            # flush_interval_s and written at the latest by the next commit (hook_commit).
            # No await until the event, its effects and its alerts are all in `pending`
            # (take): Faust acks an event even when the agent is stopped in the middle of
            # it, so an effect not yet pending at that moment would be committed unwritten.
            message = event.message
            check = intake.check(message.tp, message.offset)
            if check.verdict is Verdict.AGAIN:
                counters.redelivered += 1
                yield "redelivered"
                continue
            if check.verdict is Verdict.GAP:
                for record in await read_skipped(message.tp, check.missing_from, message.offset):
                    take(record)
            results = take(event)
            await maybe_flush()
            yield results[0]

    async def prune() -> None:
        """Forget expired windows and observation ids older than the dedup TTL."""
        now = clock()
        cutoff = now - settings.dedup_ttl_s
        writes = StateWrites()
        dropped = prune_table(
            dedup, lambda v: v is not None and v[0] < cutoff, lambda v: v[1], writes
        )
        for table in (windows, hrv_table):
            dropped += prune_table(table, lambda v: v["x"] < now, lambda v: v["p"], writes)
        if dropped:
            counters.changelog_writes += len(writes.dirty)
            await outbox.deliver(writes.records())
            logger.info("prune: forgot %d expired windows and old observation ids", dropped)

    # ---------------------------------------------------------------------- watchdog

    async def no_checkin() -> None:
        """Raise "no check-in for N days" for residents of this worker's partitions.

        What was raised is kept in the resident's record (its changelog), so a restarted
        worker neither sends it again nor forgets it.
        """
        now = clock()
        writes = StateWrites()
        alerts: list[tuple[str, bytes]] = []
        for subject, record in list(resident_table.data.items()):
            if record is None:
                continue
            state = resident_state(subject, record)
            since = checkin_since(state.last_seen, record.get("heard"), scale)
            if since is None:
                continue
            due = no_checkin_alerts(
                subject_id=subject,
                station_id=state.station_id,
                last_seen=since,
                now=now,
                days=residents.no_checkin_days(subject, settings.no_checkin_days),
                raised_at=_now_utc(clock),
                scale=scale,
            )
            checkin = record.get("checkin") or {"episode": since, "raised": []}
            new = [a for a in due if a.alert_id not in checkin["raised"]]
            if not new:
                continue
            checkin = {
                "episode": since,
                "raised": [*checkin["raised"], *(a.alert_id for a in new)],
            }
            updated = {**record, "checkin": checkin}
            writes.put(resident_table, subject, updated, record["p"])
            state_cache[subject] = (updated, state)
            alerts.extend(alert_record(a) for a in new)
        if alerts:
            await deliver_alerts(alerts, writes)

    @app.agent(heartbeats, concurrency=1, name="heartbeats")
    async def heartbeat(stream: faust.StreamT[bytes]) -> AsyncIterator[int]:
        async for event in stream.events():
            value = event.value if isinstance(event.value, bytes) else b""
            writes = StateWrites()
            if event.message.topic == settings.owner_topic or value.startswith(OWNER_PREFIX):
                owned(value, event.message.partition, writes)
                await outbox.deliver(writes.records())
                yield 0
                continue
            alerts = on_heartbeat(value, event.message.partition, writes)
            await deliver_alerts([alert_record(a) for a in alerts], writes)
            yield len(alerts)

    def owned(value: bytes, partition: int, writes: StateWrites) -> None:
        try:
            body = json.loads(value)["owner"]
            key = f"{body['station_id']}/{body['device_id']}"
            subject = str(body["subject_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("devices.owner: unreadable message %r", value[:200])
            return
        previous = devices.data.get(key) or {}
        if previous.get("subject") != subject:
            writes.put(devices, key, {**previous, "subject": subject, "p": partition}, partition)

    def on_heartbeat(value: bytes, partition: int, writes: StateWrites) -> list[Alert]:
        beat = parse_heartbeat(value)
        if beat is None:
            return []
        key = f"{beat.station_id}/{beat.device_id}"
        previous = devices.data.get(key) or {}
        owner = previous.get("subject")
        level = battery_level(beat.battery_percent, previous.get("battery", "ok"))
        raised_at = _now_utc(clock)
        alerts = battery_alerts(beat, previous.get("battery", "ok"), level, raised_at, owner)
        old_since = previous.get("since")
        new_since = offline_since(beat)
        offline = previous.get("offline")
        hours = settings.offline_hours(beat.device_kind)
        if (
            old_since is not None
            and new_since > old_since
            and elapsed(old_since, beat.sent_at, scale) >= hours * 3600
        ):
            old = parse_heartbeat(previous["raw"].encode())
            resolved = (
                None
                if old is None
                else device_offline_alert(
                    old,
                    beat.sent_at,
                    hours,
                    raised_at,
                    resolved=True,
                    owner=owner,
                    scale=scale,
                )
            )
            if resolved is not None:
                alerts.append(resolved)
        if new_since != old_since:
            offline = None
        record = {
            **previous,
            "battery": level,
            "since": new_since,
            "raw": value.decode(),
            "p": partition,
            "offline": offline,
        }
        writes.put(devices, key, record, partition)
        return alerts

    def owner_overdue(owner: str | None, now: float) -> bool:
        """Whether the device's resident (if on this worker) is overdue for a check-in."""
        resident = None if owner is None else resident_table.data.get(owner)
        if owner is None or not resident:
            return False
        state = resident_state(owner, resident)
        return resident_overdue(
            checkin_since(state.last_seen, resident.get("heard"), scale),
            now,
            residents.no_checkin_days(owner, settings.no_checkin_days),
            scale,
        )

    async def device_offline() -> None:
        """Raise "device offline" for devices silent for the configured hours (once).

        Not for a device whose resident is overdue for a check-in: nothing is heard from
        any of their devices, which ``checkin.none`` reports.
        """
        now = clock()
        writes = StateWrites()
        alerts: list[tuple[str, bytes]] = []
        for key, record in list(devices.data.items()):
            if not record or "raw" not in record:
                continue
            beat = parse_heartbeat(record["raw"].encode())
            if beat is None:
                continue
            owner = record.get("subject")
            alert = device_offline_alert(
                beat,
                now,
                settings.offline_hours(beat.device_kind),
                _now_utc(clock),
                owner=owner,
                scale=scale,
            )
            if alert is None or owner_overdue(owner, now):
                continue
            if record.get("offline") != alert.alert_id:
                writes.put(devices, key, {**record, "offline": alert.alert_id}, record["p"])
                alerts.append(alert_record(alert))
        if alerts:
            await deliver_alerts(alerts, writes)

    # Timers run the plain functions above (kept callable for tests); Faust loops them.
    app.timer(interval=settings.dedup_prune_interval_s)(prune)
    if settings.flush_interval_s > 0:
        app.timer(interval=min(settings.flush_interval_s, 1.0) / 2)(flush_if_due)
    app.timer(interval=settings.watchdog_interval_s)(no_checkin)
    app.timer(interval=settings.watchdog_interval_s)(device_offline)

    # ------------------------------------------------------------------ storage sink

    @app.task  # type: ignore[untyped-decorator]  # faust: untyped
    async def storage_sink() -> None:
        """Declare the worker's own topics, then run the InfluxDB sink (its own group)."""
        for topic in (valid, owner):
            await topic.maybe_declare()
        if settings.sink_enabled:
            await run_sink(settings)

    return StreamApp(
        app=app,
        settings=settings,
        topics={"readings": readings, "heartbeats": heartbeats, "valid": valid, "owner": owner},
        tables={
            "dedup": dedup,
            "windows": windows,
            "hrv": hrv_table,
            "residents": resident_table,
            "devices": devices,
        },
        agents={
            "pipeline": pipeline,
            "process": process,
            "drain": drain,
            "flush": flush_if_due,
            "flush_all": flush_all,
            "heartbeats": heartbeat,
            "prune": prune,
            "no_checkin": no_checkin,
            "device_offline": device_offline,
        },
        outbox=outbox,
        counters=counters,
        intake=intake,
    )


def tune_gc(settings: StreamSettings) -> None:
    """Collect young objects less often in the worker process (``gc_threshold``).

    Called by the worker's entry points, not by :func:`create_app` (tests build apps too).
    """
    if settings.gc_threshold:
        gc.set_threshold(settings.gc_threshold, 50, 50)


def prune_table(
    table: Any,
    stale: Callable[[Any], bool],
    partition_of: Callable[[Any], int],
    writes: StateWrites,
) -> int:
    """Delete stale entries of a table from outside a stream (tombstones in ``writes``).

    Every value carries its partition, so a timer (which has no event) can write the
    tombstone to the right changelog partition.
    """
    doomed = [(k, v) for k, v in list(table.data.items()) if v is not None and stale(v)]
    for key, value in doomed:
        writes.put(table, key, None, partition_of(value))
    return len(doomed)


_app: faust.App | None = None


def __getattr__(name: str) -> Any:
    """``stream.app.app``: the worker's app, built from the environment on first access."""
    global _app  # faust's CLI needs one module-level app
    if name == "app":
        if _app is None:
            _app = create_app(StreamSettings.load()).app
        return _app
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
