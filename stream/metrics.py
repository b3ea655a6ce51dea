"""Window maths for the metrics agent (pure).

* :class:`Stats` -- streaming count, min, max, mean, standard deviation and last value.
  Mean and variance follow Welford's update (numerically stable: no sum of squares),
  two partial aggregates combine with Chan et al.'s pairwise formula (:meth:`Stats.merge`).
  ``last`` is the value with the latest *event* time, so a late reading never replaces a
  newer one. The standard deviation is the sample one (n - 1), ``None`` below two values.
* Tumbling windows: :data:`WINDOWS` (1 min, 1 h, 1 day), :func:`window_bounds`, and the
  grace rule :func:`accepts_late` (late data within the grace period updates its window).
* Heart-rate variability over 5-minute windows from RR intervals: :func:`hrv` (RMSSD,
  SDNN, pNN50 with the Task Force definitions of :mod:`stream.rules.rhythm`).
* Local-day metrics (:class:`DayRecord`): daily steps, home blood pressure in the China
  home-BP protocol's morning (06:00-10:00) and evening (18:00-22:00) sessions, the first
  morning weight, and :func:`weight_trend` (least-squares slope, kg per day).

Every aggregate has a JSON-ready ``as_dict``/``from_dict`` pair: the agents keep them in
Faust tables, whose changelogs serialise values as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from stream.rules.rhythm import pnn50, rmssd, sdnn

# ------------------------------------------------------------------------- Welford


@dataclass(frozen=True, slots=True)
class Stats:
    """A streaming aggregate of one numeric field.

    Attributes:
        count: values seen.
        mean: running mean.
        m2: sum of squared deviations from the mean (Welford's M2).
        minimum: smallest value, ``None`` when empty.
        maximum: largest value, ``None`` when empty.
        last: the value with the latest event time.
        last_at: that event time, seconds since the epoch.
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    last: float | None = None
    last_at: float | None = None

    def add(self, value: float, at: float) -> Stats:
        """The aggregate with one more value measured at event time ``at``."""
        count = self.count + 1
        delta = value - self.mean
        mean = self.mean + delta / count
        m2 = self.m2 + delta * (value - mean)
        newer = self.last_at is None or at >= self.last_at
        return Stats(
            count=count,
            mean=mean,
            m2=m2,
            minimum=value if self.minimum is None else min(self.minimum, value),
            maximum=value if self.maximum is None else max(self.maximum, value),
            last=value if newer else self.last,
            last_at=at if newer else self.last_at,
        )

    def add_all(self, values: Iterable[float], at: float) -> Stats:
        """The aggregate with every value of ``values`` added at time ``at``."""
        stats = self
        for value in values:
            stats = stats.add(value, at)
        return stats

    def merge(self, other: Stats) -> Stats:
        """Combine two aggregates of disjoint values (Chan, Golub and LeVeque 1979)."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        mine_newer = (self.last_at or -math.inf) >= (other.last_at or -math.inf)
        latest = self if mine_newer else other
        return Stats(
            count=count,
            mean=mean,
            m2=m2,
            minimum=_pick(min, self.minimum, other.minimum),
            maximum=_pick(max, self.maximum, other.maximum),
            last=latest.last,
            last_at=latest.last_at,
        )

    @property
    def variance(self) -> float | None:
        """Sample variance (n - 1), ``None`` below two values."""
        if self.count < 2:
            return None
        return max(self.m2, 0.0) / (self.count - 1)

    @property
    def std(self) -> float | None:
        """Sample standard deviation, ``None`` below two values."""
        variance = self.variance
        return None if variance is None else math.sqrt(variance)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form kept in tables."""
        return {
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.minimum,
            "max": self.maximum,
            "last": self.last,
            "last_at": self.last_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Stats:
        """Rebuild from :meth:`as_dict` (``None`` or ``{}`` gives the empty aggregate)."""
        if not data:
            return cls()
        return cls(
            count=int(data["count"]),
            mean=float(data["mean"]),
            m2=float(data["m2"]),
            minimum=data["min"],
            maximum=data["max"],
            last=data["last"],
            last_at=data["last_at"],
        )

    def summary(self) -> dict[str, float | int | None]:
        """What the ``metrics`` topic and InfluxDB get: count, min, max, mean, std, last."""
        return {
            "count": self.count,
            "min": self.minimum,
            "max": self.maximum,
            "mean": self.mean if self.count else None,
            "std": self.std,
            "last": self.last,
        }


def add_to_dict(data: Mapping[str, Any] | None, value: float, at: float) -> dict[str, Any]:
    """``Stats.from_dict(data).add(value, at).as_dict()`` without the objects (hot path)."""
    if not data:
        return {
            "count": 1,
            "mean": value,
            "m2": 0.0,
            "min": value,
            "max": value,
            "last": value,
            "last_at": at,
        }
    count = int(data["count"]) + 1
    mean = float(data["mean"])
    delta = value - mean
    mean += delta / count
    low, high, last_at = data["min"], data["max"], data["last_at"]
    newer = last_at is None or at >= last_at
    return {
        "count": count,
        "mean": mean,
        "m2": float(data["m2"]) + delta * (value - mean),
        "min": value if low is None else min(low, value),
        "max": value if high is None else max(high, value),
        "last": value if newer else data["last"],
        "last_at": at if newer else last_at,
    }


def _pick(
    choose: Callable[[float, float], float], a: float | None, b: float | None
) -> float | None:
    if a is None:
        return b
    return a if b is None else choose(a, b)


# ------------------------------------------------------------------------- windows


@dataclass(frozen=True, slots=True)
class Window:
    """A tumbling window size.

    Attributes:
        name: the label on the ``metrics`` topic and in InfluxDB (``1m``, ``1h``, ``1d``).
        size_s: its length in seconds.
    """

    name: str
    size_s: int


MINUTE: Final = Window("1m", 60)
HOUR: Final = Window("1h", 3600)
DAY: Final = Window("1d", 86400)
#: The windows of the metrics agent, per (resident, kind, field).
WINDOWS: Final = (MINUTE, HOUR, DAY)
#: The heart-rate-variability window.
HRV_WINDOW: Final = Window("5m", 300)


def window_bounds(timestamp: float, size_s: int, offset_s: float = 0.0) -> tuple[float, float]:
    """Start and end (exclusive) of the tumbling window holding ``timestamp``.

    Windows are aligned to the epoch shifted by ``offset_s`` (the station's UTC offset),
    so that day windows start at local midnight.
    """
    local = timestamp + offset_s
    start = local - local % size_s
    return start - offset_s, start - offset_s + size_s


def accepts_late(window_end: float, now: float, grace_s: float) -> bool:
    """Whether a reading for a window ending at ``window_end`` may still update it."""
    return now <= window_end + grace_s


# ----------------------------------------------------------------------------- HRV

#: RR intervals kept per HRV window (a 5-minute window at 200 bpm holds 1,000 beats).
MAX_RR_PER_WINDOW: Final = 1200


@dataclass(frozen=True, slots=True)
class Hrv:
    """Time-domain heart-rate variability of one window."""

    beats: int
    rmssd_ms: float
    sdnn_ms: float
    pnn50_percent: float


def hrv(rr_ms: Sequence[float]) -> Hrv | None:
    """RMSSD, SDNN and pNN50 of the intervals in ms (``None`` below 3 intervals)."""
    if len(rr_ms) < 3:
        return None
    return Hrv(len(rr_ms), rmssd(rr_ms), sdnn(rr_ms), pnn50(rr_ms))


def append_rr(buffer: Sequence[float], rr_s: Iterable[float]) -> list[float]:
    """``buffer`` (ms) extended by RR intervals given in seconds, capped at the window cap."""
    merged = [*buffer, *(round(x * 1000.0, 3) for x in rr_s)]
    return merged[-MAX_RR_PER_WINDOW:]


# ----------------------------------------------------------------- local-day metrics

#: Home-BP sessions (China home-BP protocol), local station time [start, end) hours.
BP_SESSIONS: Final[Mapping[str, tuple[int, int]]] = {"morning": (6, 10), "evening": (18, 22)}
#: Morning-weight hours, local time [start, end).
MORNING_WEIGHT_HOURS: Final = (5, 10)
#: Local days kept per resident for the day metrics.
DAYS_KEPT: Final = 14


def local_time(timestamp: float, offset_s: float) -> datetime:
    """The station-local wall time of an event (naive, offset applied)."""
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None) + timedelta(seconds=offset_s)


def bp_session(timestamp: float, offset_s: float) -> str | None:
    """``morning``, ``evening`` or ``None`` for a BP reading at ``timestamp``."""
    hour = local_time(timestamp, offset_s).hour
    for name, (start, end) in BP_SESSIONS.items():
        if start <= hour < end:
            return name
    return None


@dataclass(frozen=True, slots=True)
class DayRecord:
    """One resident's local-day metrics.

    Attributes:
        steps: the day's step count: the highest cumulative counter seen (bands report
            the day's running total, so resends and reordering never inflate it).
        bp: per session, the systolic and diastolic aggregates.
        morning_weight: the first weighing in the morning hours, ``(event time, kg)``.
    """

    steps: float | None = None
    bp: Mapping[str, tuple[Stats, Stats]] = field(default_factory=dict)
    morning_weight: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "steps": self.steps,
            "bp": {k: [s.as_dict(), d.as_dict()] for k, (s, d) in self.bp.items()},
            "morning_weight": list(self.morning_weight) if self.morning_weight else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DayRecord:
        """Rebuild from :meth:`as_dict`."""
        weight = data.get("morning_weight")
        return cls(
            steps=data.get("steps"),
            bp={
                k: (Stats.from_dict(v[0]), Stats.from_dict(v[1]))
                for k, v in data.get("bp", {}).items()
            },
            morning_weight=(float(weight[0]), float(weight[1])) if weight else None,
        )


def update_day(
    record: DayRecord, kind: str, values: Mapping[str, Any], at: float, offset_s: float
) -> DayRecord:
    """The day record after one reading of ``kind`` with ``values`` at event time ``at``."""
    if kind == "steps" and isinstance(steps := values.get("steps"), int | float):
        return replace(record, steps=max(record.steps or 0.0, float(steps)))
    if kind == "blood_pressure":
        session = bp_session(at, offset_s)
        sys_v, dia_v = values.get("systolic_mmhg"), values.get("diastolic_mmhg")
        if session and isinstance(sys_v, int | float) and isinstance(dia_v, int | float):
            old = record.bp.get(session, (Stats(), Stats()))
            bp = {**record.bp, session: (old[0].add(sys_v, at), old[1].add(dia_v, at))}
            return replace(record, bp=bp)
    if kind == "weight" and isinstance(kg := values.get("weight_kg"), int | float):
        start, end = MORNING_WEIGHT_HOURS
        if start <= local_time(at, offset_s).hour < end and (
            record.morning_weight is None or at < record.morning_weight[0]
        ):
            return replace(record, morning_weight=(at, float(kg)))
    return record


def day_key(timestamp: float, offset_s: float) -> str:
    """The local date of an event, ISO format."""
    return local_time(timestamp, offset_s).date().isoformat()


def prune_days(days: Mapping[str, Any], keep: int = DAYS_KEPT) -> dict[str, Any]:
    """The ``keep`` most recent days of a ``{iso date: record}`` mapping."""
    return {d: days[d] for d in sorted(days)[-keep:]}


def weight_trend(weights: Sequence[tuple[date, float]]) -> float | None:
    """Least-squares slope of morning weights, kg per day (``None`` below 2 days)."""
    if len({d for d, _ in weights}) < 2:
        return None
    origin = min(d for d, _ in weights)
    xs = [float((d - origin).days) for d, _ in weights]
    ys = [kg for _, kg in weights]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def home_bp_mean(days: Iterable[DayRecord]) -> tuple[float, float, int] | None:
    """Mean systolic and diastolic over every session reading of ``days``, and the count.

    The China home-BP protocol averages the morning and evening readings of several days
    (7 recommended); the result is what ``bp_method = home`` thresholds apply to.
    """
    systolic, diastolic = Stats(), Stats()
    for record in days:
        for s, d in record.bp.values():
            systolic, diastolic = systolic.merge(s), diastolic.merge(d)
    if not systolic.count:
        return None
    return systolic.mean, diastolic.mean, systolic.count
