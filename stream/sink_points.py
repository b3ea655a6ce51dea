"""From the worker's Kafka messages to InfluxDB line protocol (pure).

The schema is the storage package's (``reading`` and ``window`` measurements, tags
station/subject/kind/..., float fields, millisecond precision, time = event time or
window start), so a point written twice is an idempotent upsert. Once ``storage.points``
is committed the sink uses its ``to_point``/``window_to_point`` instead of these.

* ``readings.valid`` message -> one ``reading`` point at the event time;
* ``metrics`` message -> one ``window`` point at the window start, fields
  ``<value>_<stat>`` (mean, min, max, count, std, last) or the metric's own numbers
  (``rmssd_ms``, ``steps``, ``bp_morning_systolic_mean``...).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

READING: Final = "reading"
WINDOW: Final = "window"
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


@dataclass(frozen=True, slots=True)
class SinkPoint:
    """One line of line protocol and the kind of data it holds (``readings``/``metrics``)."""

    role: str
    line: str


def _line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], ms: int) -> str:
    tag_text = "".join(f",{k}={str(v).translate(_TAG)}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{k}={v!r}" for k, v in sorted(fields.items()))
    return f"{measurement}{tag_text} {field_text} {ms}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def reading_point(raw: bytes) -> SinkPoint | None:
    """The ``reading`` point of a ``readings.valid`` message (``None``: no numeric value)."""
    data = json.loads(raw)
    obs = data["observation"]
    fields: dict[str, float] = {}
    for name, value in obs["values"].items():
        if isinstance(value, list):
            numbers = [x for x in (_number(v) for v in value) if x is not None]
            if numbers:
                fields[f"{name}_count"] = float(len(numbers))
                fields[f"{name}_mean"] = math.fsum(numbers) / len(numbers)
        elif (number := _number(value)) is not None:
            fields[name] = number
    if not fields:
        return None
    tags = {
        "station": obs["station_id"],
        "subject": obs["subject_id"],
        "kind": obs["kind"],
        "device_kind": obs["device_kind"],
        "source": obs["source"],
    }
    ms = math.floor(float(data["event_time"]) * 1000)
    return SinkPoint("readings", _line(READING, tags, fields, ms))


def metric_point(raw: bytes) -> SinkPoint | None:
    """The ``window`` point of a ``metrics`` message (``None``: nothing numeric)."""
    data = json.loads(raw)
    fields: dict[str, float] = {}
    for name, value in data["values"].items():
        if isinstance(value, dict):
            for stat, number in value.items():
                if (checked := _number(number)) is not None:
                    fields[f"{name}_{stat}"] = checked
        elif (number := _number(value)) is not None:
            fields[name] = number
    if not fields:
        return None
    window = "1d" if data["window"] == "local_day" else data["window"]
    tags = {
        "station": data["station_id"],
        "subject": data["subject_id"],
        "kind": data["kind"],
        "window": window,
        "source": "stream",
    }
    start = datetime.fromisoformat(data["start"])
    return SinkPoint("metrics", _line(WINDOW, tags, fields, math.floor(start.timestamp() * 1000)))
