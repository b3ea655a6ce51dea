"""The Faust app: ingest, windowed metrics, risk, watchdog, storage sink.

:func:`create_app` builds everything from :class:`~stream.config.StreamSettings` in one
function and returns a :class:`StreamApp` (the app plus handles on its topics, tables and
agents, for tests). Faust's CLI needs a module-level ``app``: it is created on first
access from the environment (``python -m stream worker``, ``faust -A stream.app``), the
one singleton STYLE allows.

Topics (prefix configurable)::

    readings ──ingest──► readings.valid ──metrics──► metrics
        │                     ├──risk──────► alerts ◄── watchdog (timers, heartbeats)
        └──► readings.rejected └──sink (own consumer group) ──► InfluxDB ◄── metrics

Every agent runs with ``concurrency=1`` (faust-streaming #606: with more, a crash can
commit past an in-flight message). docs/stream.md explains each choice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from carepulse.alert import Alert
from carepulse.errors import ObservationError
from carepulse.observation import Observation
from stream.config import StreamSettings
from stream.messages import Valid, dead_letter, metric_message
from stream.metrics import (
    DAYS_KEPT,
    HRV_WINDOW,
    WINDOWS,
    DayRecord,
    Stats,
    accepts_late,
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
    device_offline_alert,
    no_checkin_alerts,
    offline_since,
    parse_heartbeat,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``; tests pass a fixed clock)."""

#: Changelog config of every windowed table: compact *and* delete, so expired windows
#: leave the changelog (Faust's default for windowed tables is compact only).
WINDOW_TOPIC_CONFIG = {"cleanup.policy": "compact,delete"}
#: Extra retention of a window past its grace period (Faust's cleanup runs every 30 s).
EXPIRY_SLACK_S = 3600.0
#: Alerts remembered per resident for re-sending on a replayed reading.
SENT_KEPT = 4


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
    metrics_sent: int = 0
    alerts_sent: int = 0


@dataclass(slots=True)
class StreamApp:
    """The app and handles on its parts."""

    app: faust.App
    settings: StreamSettings
    topics: dict[str, Any]
    tables: dict[str, Any]
    agents: dict[str, Any]
    counters: Counters = field(default_factory=Counters)


def _now_utc(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


def create_app(settings: StreamSettings, *, clock: Clock = time.time) -> StreamApp:
    """Build the Faust app, its topics, tables, agents and timers from ``settings``."""
    settings.check_store()
    rules = settings.load_rules()
    residents = settings.load_residents(rules)
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
        "consumer_auto_offset_reset": "earliest",
    }
    if settings.datadir is not None:
        options["datadir"] = str(settings.datadir)
    app = faust.App(settings.app_id, **options)
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    readings = app.topic(names.readings, partitions=partitions, **raw)
    rejected = app.topic(names.rejected, partitions=partitions, **raw)
    valid = app.topic(settings.valid_topic, partitions=partitions, **raw)
    metrics_topic = app.topic(names.metrics, partitions=partitions, **raw)
    alerts_topic = app.topic(names.alerts, partitions=partitions, **raw)
    heartbeats = app.topic(names.heartbeats, partitions=partitions, **raw)
    counters = Counters()
    offset_s = settings.utc_offset_s

    # ------------------------------------------------------------------------ tables

    dedup = app.Table("dedup", default=None, partitions=partitions)
    graces = {
        "1m": settings.grace_minute_s,
        "1h": settings.grace_hour_s,
        "1d": settings.grace_day_s,
    }

    def shifted(event: Any) -> float:
        # Windows align to the epoch; shifting by the UTC offset aligns days to local midnight.
        return float(event.message.timestamp) + offset_s

    windows: dict[str, Any] = {}
    for window in WINDOWS:
        expires = window.size_s + graces[window.name] + offset_s + EXPIRY_SLACK_S
        windows[window.name] = (
            app.Table(
                f"window_{window.name}",
                default=dict,
                partitions=partitions,
                extra_topic_configs=WINDOW_TOPIC_CONFIG,
            )
            .tumbling(window.size_s, expires=timedelta(seconds=expires))
            .relative_to(shifted)  # type: ignore[attr-defined]  # in WindowWrapper, not its ABC
        )
    hrv_table = (
        app.Table(
            "hrv_5m", default=dict, partitions=partitions, extra_topic_configs=WINDOW_TOPIC_CONFIG
        )
        .tumbling(
            HRV_WINDOW.size_s,
            expires=timedelta(seconds=HRV_WINDOW.size_s + settings.grace_minute_s + EXPIRY_SLACK_S),
        )
        .relative_to(shifted)  # type: ignore[attr-defined]  # in WindowWrapper, not its ABC
    )
    days = app.Table("days", default=dict, partitions=partitions)
    risk_table = app.Table("risk", default=dict, partitions=partitions)
    devices = app.Table("devices", default=dict, partitions=partitions)

    async def send_alert(alert: Alert) -> None:
        await alerts_topic.send(key=alert.subject_id.encode(), value=alert.to_json())
        counters.alerts_sent += 1

    # ------------------------------------------------------------------------ ingest

    async def reject(
        raw_value: bytes, stage: str, reason: str, field_name: str | None, obs: Any = None
    ) -> None:
        counters.rejected += 1
        await rejected.send(
            key=None if obs is None else obs.device_id.encode(),
            value=dead_letter(
                raw_value,
                stage=stage,
                reason=reason,
                field=field_name,
                rejected_at=_now_utc(clock),
                observation=obs,
            ),
        )

    @app.agent(readings, concurrency=1, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for event in stream.events():
            message = event.message
            value = event.value if isinstance(event.value, bytes) else b""
            counters.ingested += 1
            try:
                obs = Observation.from_json(value)
            except ObservationError as exc:
                await reject(value, "schema", str(exc), exc.field)
                yield "rejected"
                continue
            bad = check_values(obs, ranges)
            if bad is not None:
                await reject(value, "plausibility", f"{bad.field}: {bad.reason}", bad.field, obs)
                yield "rejected"
                continue
            seen = dedup.get(obs.observation_id)
            position = [message.partition, message.offset]
            if seen is not None and seen[1:] != position:
                counters.duplicates += 1
                yield "duplicate"
                continue
            verdict = check_clock(
                obs.measured_at,
                obs.received_at,
                max_future=timedelta(seconds=settings.clock_max_future_s),
                max_past=timedelta(seconds=settings.clock_max_past_s),
            )
            if verdict.suspect:
                counters.clock_suspect += 1
            dedup[obs.observation_id] = [clock(), *position]
            event_time = verdict.event_time.timestamp()
            out = Valid(obs, event_time, verdict.suspect, message.partition, message.offset)
            await valid.send(
                key=obs.subject_id.encode(),
                value=out.to_json(),
                partition=message.partition,
                timestamp=event_time,
            )
            counters.forwarded += 1
            yield "forwarded"

    async def prune_dedup() -> None:
        """Forget observation ids older than the dedup TTL (tombstones in the changelog)."""
        cutoff = clock() - settings.dedup_ttl_s
        pruned = prune_table(dedup, lambda v: v is not None and v[0] < cutoff, lambda v: v[1])
        if pruned:
            logger.info("dedup: forgot %d observation ids older than the TTL", pruned)

    # ----------------------------------------------------------------------- metrics

    async def emit(**fields: Any) -> None:
        await metrics_topic.send(
            key=str(fields["subject_id"]).encode(),
            value=metric_message(updated_at=clock(), **fields),
        )
        counters.metrics_sent += 1

    @app.agent(valid, concurrency=1, name="metrics")
    async def metrics(stream: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for value in stream:
            item = Valid.from_json(value)
            obs, at, src = item.observation, item.event_time, item.src_offset
            numbers = {
                k: float(v)
                for k, v in obs.values.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            key = f"{obs.subject_id}|{obs.kind.value}"
            common = {
                "station_id": obs.station_id,
                "subject_id": obs.subject_id,
                "kind": obs.kind.value,
            }
            now = clock()
            outcome = "updated"
            for window in WINDOWS:
                start, end = window_bounds(at, window.size_s, offset_s)
                if not accepts_late(end, now, graces[window.name]):
                    counters.late_dropped += 1
                    outcome = "late"
                    continue
                table = windows[window.name]
                current = table[key].value()
                if current and current.get("wm", -1) >= src:
                    counters.replayed += 1
                    outcome = "replayed"
                else:
                    fields = {n: Stats.from_dict(d) for n, d in current.get("f", {}).items()}
                    for name, number in numbers.items():
                        fields[name] = fields.get(name, Stats()).add(number, at)
                    current = {"f": {n: s.as_dict() for n, s in fields.items()}, "wm": src}
                    table[key] = current
                values = {n: Stats.from_dict(d).summary() for n, d in current["f"].items()}
                await emit(
                    metric="window",
                    window=window.name,
                    start=start,
                    end=end,
                    values=values,
                    **common,
                )
            rr = obs.values.get("rr_intervals_s")
            if isinstance(rr, tuple) and rr:
                await _update_hrv(obs.subject_id, rr, at, src, common, now)
            await _update_day(obs, numbers, at, src, common)
            yield outcome

    async def _update_hrv(
        subject: str, rr: tuple[float, ...], at: float, src: int, common: dict[str, str], now: float
    ) -> None:
        start, end = window_bounds(at, HRV_WINDOW.size_s, offset_s)
        if not accepts_late(end, now, settings.grace_minute_s):
            return
        current = hrv_table[subject].value()
        if not current or current.get("wm", -1) < src:
            current = {"rr": append_rr(current.get("rr", []), rr), "wm": src}
            hrv_table[subject] = current
        result = hrv(current["rr"])
        if result is not None:
            values = {
                "beats": result.beats,
                "rmssd_ms": result.rmssd_ms,
                "sdnn_ms": result.sdnn_ms,
                "pnn50_percent": result.pnn50_percent,
            }
            await emit(
                metric="hrv", window=HRV_WINDOW.name, start=start, end=end, values=values, **common
            )

    async def _update_day(
        obs: Any, numbers: dict[str, float], at: float, src: int, common: dict[str, str]
    ) -> None:
        if obs.kind.value not in ("steps", "blood_pressure", "weight"):
            return
        state = days[obs.subject_id]
        day = day_key(at, offset_s)
        if state.get("wm", -1) < src:
            records = dict(state.get("days", {}))
            record = DayRecord.from_dict(records.get(day, {}))
            records[day] = update_day(record, obs.kind.value, numbers, at, offset_s).as_dict()
            state = {"days": prune_days(records, DAYS_KEPT), "wm": src}
            days[obs.subject_id] = state
        record = DayRecord.from_dict(state["days"].get(day, {}))
        all_days = [DayRecord.from_dict(d) for d in state["days"].values()]
        values: dict[str, Any] = {"steps": record.steps}
        for session, (systolic, diastolic) in record.bp.items():
            values[f"bp_{session}_systolic_mean"] = systolic.mean
            values[f"bp_{session}_diastolic_mean"] = diastolic.mean
            values[f"bp_{session}_count"] = systolic.count
        recent = sorted(state["days"])[-7:]
        home = home_bp_mean([DayRecord.from_dict(state["days"][d]) for d in recent])
        if home is not None:
            values["home_bp_systolic_mean_7d"], values["home_bp_diastolic_mean_7d"] = home[:2]
            values["home_bp_count_7d"] = home[2]
        if record.morning_weight is not None:
            values["morning_weight_kg"] = record.morning_weight[1]
        weights = [
            (datetime.fromisoformat(d).date(), r.morning_weight[1])
            for d, r in zip(state["days"], all_days, strict=True)
            if r.morning_weight is not None
        ]
        values["weight_trend_kg_per_day"] = weight_trend(weights[-7:])
        start, end = window_bounds(at, 86400, offset_s)
        await emit(metric="day", window="local_day", start=start, end=end, values=values, **common)

    # -------------------------------------------------------------------------- risk

    @app.agent(valid, concurrency=1, name="risk")
    async def risk(stream: faust.StreamT[bytes]) -> AsyncIterator[int]:
        async for value in stream:
            item = Valid.from_json(value)
            obs = item.observation
            record = risk_table[obs.subject_id]
            if record and record.get("wm", -1) >= item.src_offset:
                # A reading re-forwarded after a crash: re-send what it raised, nothing new.
                counters.replayed += 1
                for offset, sent in record.get("sent", []):
                    if offset == item.src_offset:
                        for alert_json in sent:
                            await alerts_topic.send(
                                key=obs.subject_id.encode(), value=alert_json.encode()
                            )
                yield 0
                continue
            state = ResidentState.from_dict(record.get("state"))
            raised_at = _now_utc(clock)
            new_state, alerts = engine.apply(state, Event(obs, item.event_time), raised_at)
            if state.last_seen is not None and item.event_time > state.last_seen:
                alerts.extend(
                    checkin_resolved(
                        subject_id=obs.subject_id,
                        station_id=obs.station_id,
                        previous=state.last_seen,
                        at=item.event_time,
                        days=residents.no_checkin_days(obs.subject_id, settings.no_checkin_days),
                        raised_at=raised_at,
                    )
                )
            sent = [a.to_json().decode() for a in alerts]
            history = (
                [*record.get("sent", []), [item.src_offset, sent]][-SENT_KEPT:]
                if sent
                else record.get("sent", [])
            )
            risk_table[obs.subject_id] = {
                "state": new_state.as_dict(),
                "wm": item.src_offset,
                "sent": history,
            }
            for alert in alerts:
                await send_alert(alert)
            yield len(alerts)

    # ---------------------------------------------------------------------- watchdog

    raised_checkins: dict[str, set[str]] = {}
    raised_offline: set[str] = set()

    async def no_checkin() -> None:
        """Raise "no check-in for N days" for residents of this worker's partitions."""
        now = clock()
        for subject, record in list(risk_table.items()):
            state = ResidentState.from_dict(record.get("state"))
            if state.last_seen is None:
                continue
            alerts = no_checkin_alerts(
                subject_id=subject,
                station_id=state.station_id,
                last_seen=state.last_seen,
                now=now,
                days=residents.no_checkin_days(subject, settings.no_checkin_days),
                raised_at=_now_utc(clock),
            )
            done = raised_checkins.setdefault(subject, set())
            for alert in alerts:
                if alert.alert_id not in done:
                    done.add(alert.alert_id)
                    await send_alert(alert)

    @app.agent(heartbeats, concurrency=1, name="heartbeats")
    async def heartbeat(stream: faust.StreamT[bytes]) -> AsyncIterator[int]:
        async for value in stream:
            beat = parse_heartbeat(value)
            if beat is None:
                yield 0
                continue
            key = f"{beat.station_id}/{beat.device_id}"
            previous = devices[key]
            level = battery_level(beat.battery_percent, previous.get("battery", "ok"))
            raised_at = _now_utc(clock)
            alerts = battery_alerts(beat, previous.get("battery", "ok"), level, raised_at)
            old_since = previous.get("since")
            new_since = offline_since(beat)
            if (
                old_since is not None
                and new_since > old_since
                and beat.sent_at - old_since >= settings.device_offline_hours * 3600
            ):
                old = parse_heartbeat(previous["raw"].encode())
                resolved = (
                    None
                    if old is None
                    else device_offline_alert(
                        old, beat.sent_at, settings.device_offline_hours, raised_at, resolved=True
                    )
                )
                if resolved is not None:
                    alerts.append(resolved)
            devices[key] = {"battery": level, "since": new_since, "raw": value.decode()}
            for alert in alerts:
                await send_alert(alert)
            yield len(alerts)

    async def device_offline() -> None:
        """Raise "device offline" for devices silent for the configured hours."""
        now = clock()
        for _, record in list(devices.items()):
            beat = parse_heartbeat(record["raw"].encode())
            if beat is None:
                continue
            alert = device_offline_alert(beat, now, settings.device_offline_hours, _now_utc(clock))
            if alert is not None and alert.alert_id not in raised_offline:
                raised_offline.add(alert.alert_id)
                await send_alert(alert)

    # Timers run the plain functions above (kept callable for tests); Faust loops them.
    app.timer(interval=settings.dedup_prune_interval_s)(prune_dedup)
    app.timer(interval=settings.watchdog_interval_s)(no_checkin)
    app.timer(interval=settings.watchdog_interval_s)(device_offline)

    # ------------------------------------------------------------------ storage sink

    if settings.sink_enabled:

        @app.task  # type: ignore[untyped-decorator]  # faust: untyped
        async def storage_sink() -> None:
            """Run the InfluxDB sink as its own consumer group beside the agents."""

            await run_sink(settings)

    parts = StreamApp(
        app=app,
        settings=settings,
        topics={
            "readings": readings,
            "rejected": rejected,
            "valid": valid,
            "metrics": metrics_topic,
            "alerts": alerts_topic,
            "heartbeats": heartbeats,
        },
        tables={
            "dedup": dedup,
            **windows,
            "hrv": hrv_table,
            "days": days,
            "risk": risk_table,
            "devices": devices,
        },
        agents={
            "ingest": ingest,
            "metrics": metrics,
            "risk": risk,
            "heartbeats": heartbeat,
            "prune_dedup": prune_dedup,
            "no_checkin": no_checkin,
            "device_offline": device_offline,
        },
        counters=counters,
    )
    return parts


def prune_table(
    table: Any, stale: Callable[[Any], bool], partition_of: Callable[[Any], int]
) -> int:
    """Delete stale entries of a non-windowed table from outside a stream.

    Faust only lets a stream modify a table (it needs the event's partition for the
    changelog); a timer has no event. The entry's value carries its partition, so the
    timer drops it from the store and writes the tombstone to that changelog partition.
    """
    doomed = [(k, v) for k, v in list(table.data.items()) if stale(v)]
    for key, value in doomed:
        table.data.pop(key, None)
        table.send_changelog(partition_of(value), key, None, value_serializer="raw")
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
