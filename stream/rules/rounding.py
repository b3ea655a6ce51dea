"""Rounding to a chart's precision before banding.

Published charts band whole numbers (pulse 90 / 91) or tenths (temperature 38.0 / 38.1).
A measured value such as 38.05 °C falls between two rows; rounding it half-up to the
chart's precision first puts it in exactly one row (38.1). The decimal representation of
the float is rounded, so 35.05 becomes 35.1 even though the binary float is 35.0499...
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def round_half_up(value: float, places: int = 0) -> float:
    """Round ``value`` half-up (away from zero on a tie) to ``places`` decimals.

    Args:
        value: a finite number.
        places: decimals to keep; 0 gives a whole number.

    Returns:
        The rounded value as a float (``38.05`` -> ``38.1``, ``90.5`` -> ``91.0``).
    """
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))
