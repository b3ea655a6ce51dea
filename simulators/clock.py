"""A virtual device's clock: the station's time plus the device's own error.

Real health devices keep their own clock and stamp every stored reading with it. A clock
that was never set, or drifted, is one of the faults the gateway must cope with. Writing
the Current Time characteristic sets the clock (the error becomes whatever the writer
intended); :attr:`DeviceClock.offset` injects an error on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

#: Where a device clock reads the true time from: a callable returning a naive local
#: ``datetime``. ``datetime.now`` by default; scenarios pass an accelerated clock.
TimeSource = Callable[[], datetime]


class DeviceClock:
    """The clock inside one virtual device: ``source() + offset``."""

    def __init__(self, source: TimeSource = datetime.now, offset: timedelta = timedelta(0)) -> None:
        self._source = source
        #: How far the device clock is ahead of the true time (negative: behind).
        self.offset = offset

    def true_now(self) -> datetime:
        """The true time, as the station knows it."""
        return self._source()

    def now(self) -> datetime:
        """The time the device believes it is."""
        return self._source() + self.offset

    def set(self, moment: datetime) -> None:
        """Set the device clock to ``moment`` (what a Current Time write does)."""
        self.offset = moment - self._source()
