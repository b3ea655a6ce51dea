"""From the worker's Kafka messages to InfluxDB points, in the storage schema (pure).

The schema is ``storage.points``' (``reading`` and ``window`` measurements, float
fields, millisecond precision): a point written twice is an idempotent upsert.

* ``readings.valid`` message -> ``storage.points.to_point`` of the observation, at the
  **event time** the ingest agent chose (the receipt time when the device clock was
  wrong) rather than the raw ``measured_at``;
* ``metrics`` message -> ``storage.points.window_to_point`` at the window start:
  ``<value>_mean/_min/_max/_count`` plus ``<value>_std`` and ``<value>_last``; HRV
  (``5m``) and local-day results (``1d``) carry their own numbers (``rmssd_ms``,
  ``steps``, ``bp_morning_systolic_mean``...).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from carepulse.observation import Kind
from storage.points import Stats, WindowAggregate, to_point, window_to_point
from stream.messages import Valid

#: Which writer (bucket) a point goes to.
READINGS = "readings"
METRICS = "metrics"


@dataclass(frozen=True, slots=True)
class SinkPoint:
    """One line of line protocol and its bucket role (``readings`` or ``metrics``)."""

    role: str
    line: str


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def reading_point(raw: bytes) -> SinkPoint | None:
    """The ``reading`` point of a ``readings.valid`` message (``None``: no numeric value)."""
    item = Valid.from_json(raw)
    point = to_point(item.observation)
    if point is None:
        return None
    return SinkPoint(READINGS, replace(point, time_ms=math.floor(item.event_time * 1000)).to_line())


def metric_point(raw: bytes, skip: frozenset[str] = frozenset()) -> SinkPoint | None:
    """The ``window`` point of a ``metrics`` message.

    ``None`` when there is nothing numeric yet, or the message's window is in ``skip``.
    """
    data = json.loads(raw)
    if data.get("window") in skip:
        return None
    stats: dict[str, Stats] = {}
    extra: dict[str, float] = {}
    for name, value in data["values"].items():
        if isinstance(value, dict):
            count, mean = _number(value.get("count")), _number(value.get("mean"))
            low, high = _number(value.get("min")), _number(value.get("max"))
            if count and mean is not None and low is not None and high is not None:
                stats[name] = Stats(int(count), mean, low, high)
            for stat in ("std", "last"):
                if (number := _number(value.get(stat))) is not None:
                    extra[f"{name}_{stat}"] = number
        elif (number := _number(value)) is not None:
            extra[name] = number
    if not stats and not extra:
        return None
    aggregate = WindowAggregate(
        station_id=data["station_id"],
        subject_id=data["subject_id"],
        kind=Kind(data["kind"]),
        window="1d" if data["window"] == "local_day" else data["window"],
        start=datetime.fromisoformat(data["start"]),
        stats=stats,
        extra=extra,
    )
    return SinkPoint(METRICS, window_to_point(aggregate).to_line())
