"""What the worker writes to Kafka, as JSON (pure; no ``faust.Record`` is used).

* ``readings.valid`` (internal): an observation that passed schema, plausibility and
  dedup, wrapped with the event time the ingest agent chose, the clock verdict and its
  source position ``[partition, offset]`` in ``readings``. Keyed by subject, on the same
  partition number as its source, with the event time as record timestamp::

      {"observation": {...wire observation...}, "event_time": 1795000000.0,
       "clock_suspect": null, "src": [2, 1234]}

  ``src`` makes downstream state idempotent: every aggregate remembers the highest
  source offset it applied (its watermark), so a reading re-forwarded after a crash is
  recognised and not counted twice.
* ``readings.rejected``: a dead letter with the reason, the field and the raw bytes.
* ``metrics``: the current aggregate of a window, emitted on every update (upsert key:
  subject, kind, window, start).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from carepulse.observation import Observation, format_time

_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
#: Dead letters keep at most this many raw bytes.
MAX_RAW_BYTES: Final = 4096
METRIC_SCHEMA: Final = 1


@dataclass(frozen=True, slots=True)
class Valid:
    """A message of ``readings.valid``."""

    observation: Observation
    event_time: float
    clock_suspect: str | None
    src_partition: int
    src_offset: int

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return json.dumps(
            {
                "observation": self.observation.as_dict(),
                "event_time": self.event_time,
                "clock_suspect": self.clock_suspect,
                "src": [self.src_partition, self.src_offset],
            },
            separators=(",", ":"),
            allow_nan=False,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Valid:
        """Parse (the observation is validated again: the topic is a contract too)."""
        data = json.loads(raw)
        partition, offset = data["src"]
        return cls(
            observation=Observation.from_dict(data["observation"]),
            event_time=float(data["event_time"]),
            clock_suspect=data.get("clock_suspect"),
            src_partition=int(partition),
            src_offset=int(offset),
        )


def valid_message(
    raw_observation: bytes,
    event_time: float,
    clock_suspect: str | None,
    src_partition: int,
    src_offset: int,
) -> bytes:
    """A ``readings.valid`` message around the observation's own (validated) JSON bytes.

    Same content as :meth:`Valid.to_json`, without rebuilding the observation's JSON: the
    ingest agent has just parsed and validated ``raw_observation``.
    """
    return b"".join(
        (
            b'{"observation":',
            raw_observation.strip(),
            b',"event_time":',
            _ENCODER.encode(float(event_time)).encode(),
            b',"clock_suspect":',
            b"null" if clock_suspect is None else _ENCODER.encode(clock_suspect).encode(),
            f',"src":[{int(src_partition)},{int(src_offset)}]}}'.encode(),
        )
    )


def dead_letter(
    raw: bytes,
    *,
    stage: str,
    reason: str,
    field: str | None,
    rejected_at: datetime,
    observation: Observation | None = None,
) -> bytes:
    """A ``readings.rejected`` message: why, which field, and the raw bytes (hex, cut)."""
    body: dict[str, Any] = {
        "schema": 1,
        "stage": stage,
        "reason": reason,
        "field": field,
        "raw_hex": raw[:MAX_RAW_BYTES].hex(),
        "raw_length": len(raw),
        "raw_truncated": len(raw) > MAX_RAW_BYTES,
        "rejected_at": format_time(rejected_at),
    }
    if observation is not None:
        body.update(
            observation_id=observation.observation_id,
            station_id=observation.station_id,
            device_id=observation.device_id,
            kind=observation.kind.value,
        )
    return json.dumps(body, separators=(",", ":")).encode()


@lru_cache(maxsize=8192)
def _iso(seconds: float) -> str:
    """``format_time`` of an epoch time (window bounds repeat: cached)."""
    return format_time(datetime.fromtimestamp(seconds, UTC))


def metric_message(
    *,
    metric: str,
    station_id: str,
    subject_id: str,
    kind: str,
    window: str,
    start: float,
    end: float,
    values: Mapping[str, Any],
    updated_at: float,
) -> bytes:
    """A ``metrics`` message: the current value of one window (upserted downstream).

    ``metric`` is ``window`` (per-field count/min/max/mean/std/last), ``hrv`` (RMSSD,
    SDNN, pNN50 over 5 minutes) or ``day`` (local-day steps, home BP, morning weight).
    """
    return _ENCODER.encode(
        {
            "schema": METRIC_SCHEMA,
            "metric": metric,
            "station_id": station_id,
            "subject_id": subject_id,
            "kind": kind,
            "window": window,
            "start": _iso(start),
            "end": _iso(end),
            "values": dict(values),
            "updated_at": _iso(updated_at),
        }
    ).encode()
