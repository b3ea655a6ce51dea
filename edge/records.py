"""What the gateway sends to Kafka, as outbox messages (pure).

* an observation goes to ``readings``, keyed by its pseudonymous subject, with the record
  timestamp set to the measured time when that is sane and to the receipt time otherwise
  (Kafka 4 refuses records more than an hour in the future, and a device clock stuck in
  2000 would put a reading outside every retention window);
* input the gateway could not use goes to ``readings.rejected`` with the raw bytes (hex),
  the device and the reason, so nothing the devices sent is silently dropped;
* heartbeats (per gateway and per device) go to ``heartbeats``, keyed by station, so the
  stream can tell "device offline" from "resident not measuring".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from carepulse.observation import Observation, format_time
from carepulse.topics import Topics

#: A measured time this far ahead of the gateway's clock is a wrong device clock.
MAX_FUTURE: Final = timedelta(minutes=5)
#: A measured time this far back is a wrong device clock (stored records are younger).
MAX_PAST: Final = timedelta(days=365)
#: Dead letters keep at most this many raw bytes (an oversized message is cut, and says so).
MAX_RAW_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message for Kafka: topic, key, value and the record timestamp (ms since epoch).

    ``dedup_id`` (the observation id for readings) makes resends of one measurement a
    no-op; ``None`` for messages that are never duplicates (heartbeats).
    """

    topic: str
    key: bytes | None
    value: bytes
    timestamp_ms: int
    dedup_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """The record timestamp chosen for a reading, and whether the device clock looked wrong."""

    timestamp_ms: int
    device_clock_suspect: bool


def check_clock(
    measured_at: datetime,
    received_at: datetime,
    *,
    max_future: timedelta = MAX_FUTURE,
    max_past: timedelta = MAX_PAST,
) -> ClockCheck:
    """Use the measured time unless it is implausible next to the receipt time."""
    if received_at - max_past <= measured_at <= received_at + max_future:
        return ClockCheck(_ms(measured_at), device_clock_suspect=False)
    return ClockCheck(_ms(received_at), device_clock_suspect=True)


def observation_message(observation: Observation, topics: Topics) -> OutboxMessage:
    """The ``readings`` message for an observation (dedup id = observation id)."""
    clock = check_clock(observation.measured_at, observation.received_at)
    return OutboxMessage(
        topic=topics.readings,
        key=observation.subject_id.encode(),
        value=observation.to_json(),
        timestamp_ms=clock.timestamp_ms,
        dedup_id=observation.observation_id,
    )


@dataclass(frozen=True, slots=True)
class Rejection:
    """Input the gateway could not turn into an observation, and why."""

    station_id: str
    device_id: str
    source: str
    reason: str
    raw: bytes
    received_at: datetime
    field: str | None = None
    characteristic: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The dead letter's JSON: raw bytes as hex, cut at MAX_RAW_BYTES."""
        return {
            "schema": 1,
            "station_id": self.station_id,
            "device_id": self.device_id,
            "source": self.source,
            "characteristic": self.characteristic,
            "reason": self.reason,
            "field": self.field,
            "raw_hex": self.raw[:MAX_RAW_BYTES].hex(),
            "raw_length": len(self.raw),
            "raw_truncated": len(self.raw) > MAX_RAW_BYTES,
            "received_at": format_time(self.received_at),
        }


def rejection_message(rejection: Rejection, topics: Topics) -> OutboxMessage:
    """The ``readings.rejected`` message, keyed by device."""
    return OutboxMessage(
        topic=topics.rejected,
        key=rejection.device_id.encode(),
        value=_json(rejection.as_dict()),
        timestamp_ms=_ms(rejection.received_at),
    )


def heartbeat_message(
    *,
    station_id: str,
    subject: str,
    sent_at: datetime,
    status: Mapping[str, Any],
    topics: Topics,
) -> OutboxMessage:
    """A heartbeat for the gateway itself (``subject="gateway"``) or one device.

    ``status`` holds what the stream needs: last seen, battery, outbox depth, counters.
    """
    body = {
        "schema": 1,
        "station_id": station_id,
        "subject": subject,
        "sent_at": format_time(sent_at),
        **status,
    }
    return OutboxMessage(
        topic=topics.heartbeats,
        key=f"{station_id}/{subject}".encode(),
        value=_json(body),
        timestamp_ms=_ms(sent_at),
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
