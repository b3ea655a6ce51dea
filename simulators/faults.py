"""Faults a virtual device shows on demand, and the pure payload transforms behind them.

:class:`Faults` is a frozen set of switches; a device holds one and reads it on every
connection and every measurement (``await device.set_faults(Faults(silent=True))``).
One-off faults are device methods: ``drop_connections()`` (disconnect mid-stream),
``resend_last()``, ``set_battery(5)`` (low battery) and ``clock.offset`` (a wrong clock).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeVar

from edge.decoders import DateTime

#: HCI reason a virtual device gives when it refuses or drops a link: "Remote Device
#: Terminated Connection due to Low Resources" (Core Vol 1 Part F, 0x14).
REFUSE_REASON: Final = 0x14
#: HCI reason for a deliberate drop mid-stream: "Remote User Terminated Connection".
DROP_REASON: Final = 0x13

_STAMP_FIELDS: Final = ("timestamp", "base_time")

_M = TypeVar("_M")


@dataclass(frozen=True, slots=True)
class Faults:
    """Switches that make a virtual device misbehave (all off by default).

    * ``refuse_connections``: accept the link layer connection, then drop it at once, so
      the central's ``connect()`` fails.
    * ``silent``: stop advertising and send nothing (readings stay stored, links stay up).
    * ``duplicate``: send every measurement twice, as a device that missed the
      confirmation and retransmits.
    * ``malformed``: cut every measurement after its flags byte, so the payload claims
      fields it does not carry and the decoder rejects it.
    * ``disconnect_after``: drop the link after this many measurements on it.
    """

    refuse_connections: bool = False
    silent: bool = False
    duplicate: bool = False
    malformed: bool = False
    disconnect_after: int | None = None


def malform(payload: bytes, keep: int = 1) -> bytes:
    """The payload cut after ``keep`` bytes (by default its flags), or one zero byte if empty.

    The result always claims fields it does not carry, so the decoder rejects it.
    """
    return payload[: min(keep, max(len(payload) - 1, 1))] or b"\x00"


def shift_timestamps(measurement: _M, offset: timedelta) -> _M:
    """``measurement`` with its device timestamp (``timestamp``/``base_time``) moved by ``offset``.

    A device stamps readings with its own clock, so a clock that is ``offset`` ahead
    stamps them ``offset`` late. Values without a timestamp, or with an unknown one
    (year 0), come back unchanged.
    """
    if not offset or not dataclasses.is_dataclass(measurement):
        return measurement
    changes: dict[str, DateTime] = {}
    for name in _STAMP_FIELDS:
        stamp = getattr(measurement, name, None)
        if isinstance(stamp, DateTime):
            moment = stamp.to_datetime()
            if moment is not None:
                changes[name] = DateTime.from_datetime(moment + offset)
    if not changes:
        return measurement
    return dataclasses.replace(measurement, **changes)  # type: ignore[type-var]  # checked is_dataclass above
