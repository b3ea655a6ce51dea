"""The InfluxDB schema: observations, window aggregates and alerts as points (pure).

Three measurements, all written with millisecond precision (``PRECISION``):

``reading`` (bucket ``readings``, raw, short retention)
    tags ``station``, ``subject`` (the pseudonym), ``kind``, ``device_kind``, ``source``;
    fields: every numeric value of the observation under its own unit-bearing name,
    always as a float (``systolic_mmhg=138.0``); a list such as ``rr_intervals_s`` becomes
    ``rr_intervals_s_count`` and ``rr_intervals_s_mean`` (the beat-to-beat series itself
    stays on Kafka for the rhythm rule); booleans, strings and ``null`` are skipped.
    time: ``measured_at`` (the event time).

``window`` (bucket ``metrics``)
    tags ``station``, ``subject``, ``kind``, ``window`` (``1h``, ``1d``), ``source``
    (``stream`` for the Faust worker, ``task`` for the downsampling task);
    fields ``<value>_mean``, ``<value>_min``, ``<value>_max``, ``<value>_count`` and any
    extra numeric result (``rmssd_ms``); time: the window's start.

``alert`` (bucket ``metrics``)
    tags ``station``, ``subject``, ``rule``, ``severity``, ``category``, ``status``;
    fields ``firing`` (1.0 or 0.0) and ``severity_rank`` (0 emergency .. 3 engagement);
    time: ``raised_at``. The alert's free-text reason and evidence are not stored.

Nothing else of an observation is written: no device id, no flags, no names, phones or
national ids (the wire model carries none). A point's identity is its measurement, tag
set and time (:meth:`LinePoint.key`): InfluxDB overwrites a point with the same identity,
so a re-sent observation or a re-emitted window update is an idempotent upsert.

Lines are built here rather than with ``influxdb_client.Point``: this module must stay
free of I/O libraries, and ``Point`` costs 2.6-2.8 times more per line (``python -m
storage.bench`` measures both; figures in docs/storage.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, NoReturn

from carepulse.alert import Alert, Severity, Status
from carepulse.observation import Kind, Observation
from storage.errors import PointError

#: Timestamp precision of every line we write (``precision=ms`` on the write API).
PRECISION: Final = "ms"

READING: Final = "reading"
WINDOW: Final = "window"
ALERT: Final = "alert"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_WINDOW_LABEL = re.compile(r"[1-9][0-9]{0,3}(s|m|h|d|w)")
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_UNSAFE = re.compile(r"[ ,=]")

Tags = tuple[tuple[str, str], ...]
Fields = tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class LinePoint:
    """One point: measurement, sorted tags, fields (floats) and a millisecond timestamp."""

    measurement: str
    tags: Tags
    fields: Fields
    time_ms: int

    def key(self) -> tuple[str, Tags, int]:
        """The point's identity in InfluxDB: a second point with the same key overwrites."""
        return (self.measurement, self.tags, self.time_ms)

    def to_line(self) -> str:
        """The point in line protocol (precision ``ms``)."""
        tags = ",".join(f"{_escape(k)}={_escape(v)}" for k, v in self.tags)
        fields = ",".join(f"{_escape(k)}={v!r}" for k, v in self.fields)
        measurement = self.measurement
        if _UNSAFE.search(measurement):
            measurement = measurement.translate(_MEASUREMENT_ESCAPES)
        return (
            f"{measurement},{tags} {fields} {self.time_ms}"
            if tags
            else (f"{measurement} {fields} {self.time_ms}")
        )


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of one value over a window."""

    count: int
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        """Stats of a non-empty series."""
        if not samples:
            _fail("stats", "no samples")
        return cls(len(samples), math.fsum(samples) / len(samples), min(samples), max(samples))


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """One resident's window result for one kind (what the stream worker emits).

    ``window`` is a duration label (``1m``, ``10m``, ``1h``, ``1d``); ``start`` the
    window's start, which becomes the point's time, so each update of the same window
    overwrites the previous one.
    """

    station_id: str
    subject_id: str
    kind: Kind
    window: str
    start: datetime
    stats: Mapping[str, Stats]
    extra: Mapping[str, float] = field(default_factory=dict)
    source: str = "stream"


def time_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (floor), exact for any aware datetime."""
    if moment.tzinfo is None:
        _fail("time", "naive datetime; points need an aware (UTC) time")
    return (moment - _EPOCH) // _MS


def from_ms(value: int) -> datetime:
    """The aware UTC datetime of a millisecond timestamp."""
    return _EPOCH + value * _MS


def to_point(observation: Observation) -> LinePoint | None:
    """The ``reading`` point of an observation; ``None`` when it has no numeric value."""
    fields: dict[str, float] = {}
    for name, value in observation.values.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, tuple):
            if value:
                fields[f"{name}_count"] = float(len(value))
                fields[f"{name}_mean"] = math.fsum(value) / len(value)
            continue
        fields[name] = float(value)
    if not fields:
        return None
    tags = {
        "station": observation.station_id,
        "subject": observation.subject_id,
        "kind": observation.kind.value,
        "device_kind": observation.device_kind,
        "source": observation.source.value,
    }
    return _point(READING, tags, fields, time_ms(observation.measured_at))


def reading_line(observation: Observation) -> str | None:
    """``to_point(observation).to_line()``, built directly for the fixed ``reading`` schema.

    The hot path of the writer (``StorageWriter.write_observations``): about three times
    cheaper than building a :class:`LinePoint` first (``python -m storage.bench`` measures
    both). It needs no escaping and no checks because :class:`Observation` has already
    enforced them: the station id, device kind and value names match ``[A-Za-z0-9_.-]``,
    the subject is a hex pseudonym, kind and source are enum values, numbers are finite
    and the time is aware. A test holds it equal to ``to_point(...).to_line()``.
    """
    pairs: list[tuple[str, float]] = []
    for name, value in observation.values.items():
        kind = type(value)
        if kind is float or kind is int:  # the common case first, without isinstance
            pairs.append((name, float(value)))  # type: ignore[arg-type]  # a float or an int
        elif value is None or isinstance(value, bool | str):
            continue
        elif isinstance(value, tuple):
            if value:
                pairs.append((f"{name}_count", float(len(value))))
                pairs.append((f"{name}_mean", math.fsum(value) / len(value)))
        else:
            pairs.append((name, float(value)))
    if not pairs:
        return None
    pairs.sort()
    fields = ",".join([f"{key}={number!r}" for key, number in pairs])
    o = observation
    return (
        f"{READING},device_kind={o.device_kind},kind={o.kind.value},source={o.source.value},"
        f"station={o.station_id},subject={o.subject_id} {fields} "
        f"{(o.measured_at - _EPOCH) // _MS}"
    )


def window_to_point(aggregate: WindowAggregate) -> LinePoint:
    """The ``window`` point of a window result (time = window start)."""
    if not _WINDOW_LABEL.fullmatch(aggregate.window):
        _fail("window", f"{aggregate.window!r} is not a duration label such as '1h' or '1d'")
    fields: dict[str, float] = {}
    for name, stats in aggregate.stats.items():
        fields[f"{name}_mean"] = float(stats.mean)
        fields[f"{name}_min"] = float(stats.min)
        fields[f"{name}_max"] = float(stats.max)
        fields[f"{name}_count"] = float(stats.count)
    for name, value in aggregate.extra.items():
        fields[name] = float(value)
    if not fields:
        _fail("stats", "a window result needs at least one statistic")
    tags = {
        "station": aggregate.station_id,
        "subject": aggregate.subject_id,
        "kind": Kind(aggregate.kind).value,
        "window": aggregate.window,
        "source": aggregate.source,
    }
    return _point(WINDOW, tags, fields, time_ms(aggregate.start))


def alert_to_point(alert: Alert) -> LinePoint:
    """The ``alert`` annotation of an alert message (time = ``raised_at``)."""
    tags = {
        "station": alert.station_id,
        "subject": alert.subject_id,
        "rule": alert.rule_id,
        "severity": alert.severity.value,
        "category": alert.category.value,
        "status": alert.status.value,
    }
    fields = {
        "firing": 1.0 if alert.status is Status.FIRING else 0.0,
        "severity_rank": float(Severity(alert.severity).rank),
    }
    return _point(ALERT, tags, fields, time_ms(alert.raised_at))


def to_lines(points: Sequence[LinePoint]) -> str:
    """Line protocol of several points, one per line."""
    return "\n".join(p.to_line() for p in points)


def _escape(name: str) -> str:
    # Our names and tag values rarely need escaping; translate() only when they do.
    return name.translate(_TAG_ESCAPES) if _UNSAFE.search(name) else name


def _fail(field_name: str, reason: str) -> NoReturn:
    raise PointError(field_name, reason)


def _point(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], at: int
) -> LinePoint:
    for key, value in tags.items():
        if not value:
            _fail(f"tags.{key}", "tag values cannot be empty")
        if not value.isprintable():
            _fail(f"tags.{key}", "tag values must be printable (no newlines or control characters)")
    for key, number in fields.items():
        if not math.isfinite(number):
            _fail(f"fields.{key}", "InfluxDB fields must be finite numbers")
    return LinePoint(
        measurement=measurement,
        tags=tuple(sorted(tags.items())),
        fields=tuple(sorted(fields.items())),
        time_ms=at,
    )
