"""When the BLE scanner has gone quiet for too long: the scanner watchdog's decision (pure).

BlueZ scanners are known to stop reporting after adapter hiccups, so the BLE source
restarts a scanner that heard nothing for a while. But silence is only suspicious when
adverts are *expected*: a GATT device advertises while it is not connected (so that a
central can find it) and stops once it is, and an advert device (a Xiaomi scale)
advertises only while someone uses it. So adverts are expected while a registered GATT
device is not connected, and the quiet time counts from the later of the last advert heard
(or the scanner's start) and the moment adverts became expected: a device that drops after
an hour of everyone being connected gets the full limit to be heard again.

With every GATT device connected, or no GATT device at all, the watchdog never fires: it
cannot tell a stuck scanner from a quiet room, and restarting then only makes noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def adverts_expected(connected: Iterable[bool]) -> bool:
    """Whether some GATT device is not connected (``connected``: one flag per device)."""
    return not all(connected)


@dataclass(slots=True)
class ScanWatchdog:
    """Decides, tick by tick, whether the scanner must be restarted.

    Times are seconds on one monotonic clock (the event loop's). Call :meth:`started` when
    a scanner starts, :meth:`heard` for every advert and :meth:`due` at each check.
    """

    limit_s: float
    #: The last advert, or the scanner's start when that is later.
    last_heard: float = 0.0
    #: Since when adverts are expected; ``None`` while they are not.
    expected_since: float | None = None

    def __post_init__(self) -> None:
        if not self.limit_s > 0:
            msg = f"the scanner watchdog's limit must be > 0 s, got {self.limit_s}"
            raise ValueError(msg)

    def started(self, now: float) -> None:
        """A scanner (re)started at ``now``: it gets the full limit."""
        self.last_heard = max(self.last_heard, now)

    def heard(self, now: float) -> None:
        """An advert arrived at ``now``."""
        self.last_heard = max(self.last_heard, now)

    def due(self, now: float, expected: bool) -> bool:
        """Whether to restart the scanner now, given whether adverts are ``expected``."""
        if not expected:
            self.expected_since = None
            return False
        if self.expected_since is None:
            self.expected_since = now
        return now - max(self.last_heard, self.expected_since) >= self.limit_s
