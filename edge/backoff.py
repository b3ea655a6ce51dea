"""Exponential backoff with full jitter, as a pure function of the attempt number.

Used by everything in the gateway that reconnects (Kafka uplink, BLE devices, MQTT), so
that a station whose devices all dropped at once does not hammer the adapter or broker in
lock-step. "Full jitter": the delay is uniform in [0, min(cap, base * 2**attempt)].
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays for attempt 0, 1, 2, ... (seconds), capped at ``cap_s``."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay of ``attempt`` (before jitter)."""
        if attempt < 0:
            msg = f"attempt must be >= 0, got {attempt}"
            raise ValueError(msg)
        # 2**attempt overflows floats only far beyond any cap; stop doubling once capped.
        exponent = min(attempt, 64)
        return min(self.cap_s, self.base_s * (2.0**exponent))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A jittered delay for ``attempt``, uniform in [0, ceiling]."""
        return (rng or _RNG).uniform(0.0, self.ceiling(attempt))


_RNG = random.Random()  # noqa: S311  # jitter, not cryptography
