"""Rapid weight gain in heart failure.

Default rule: a gain of *more than* 2 kg within 3 days (ESC Heart Failure Association
patient site heartfailurematters.org, "Weight gain": "more than 2 kilos ... in 3 days").
The rule is configurable (threshold, window, inclusive or not); e.g. the Plymouth NHS
leaflet's "1 kg or more in 2 consecutive days" is ``gain_kg=1.0, within_days=2,
inclusive=true``.

The gain is measured from the latest weighing back: latest weight minus the lowest
weight weighed within ``within_days`` days before it (the most recent of equal lows).
One weight per calendar day counts -- the last given for that day (morning weights are
expected). Gains are rounded to 0.01 kg so that float noise (72.0 - 70.0) never decides
a threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class WeightChangeRule:
    """What counts as rapid gain.

    Attributes:
        gain_kg: the gain threshold.
        within_days: the look-back window in days.
        inclusive: ``True`` for "gain_kg or more", ``False`` for "more than gain_kg".
    """

    gain_kg: float = 2.0
    within_days: int = 3
    inclusive: bool = False

    def reached_by(self, gain_kg: float) -> bool:
        """Whether a gain meets the rule."""
        return gain_kg >= self.gain_kg if self.inclusive else gain_kg > self.gain_kg


@dataclass(frozen=True, slots=True)
class WeightChange:
    """Gain over the window ending at the latest weighing.

    Attributes:
        gain_kg: latest minus the window's lowest weight; ``None`` with no earlier weighing
            in the window.
        days: days between that lowest weighing and the latest; ``None`` likewise.
        rapid_gain: whether the gain meets the rule.
    """

    gain_kg: float | None
    days: int | None
    rapid_gain: bool


def weight_change(weights: Sequence[tuple[date, float]], rule: WeightChangeRule) -> WeightChange:
    """Measure the gain up to the latest of ``weights`` (``(day, kg)`` pairs, any order)."""
    by_day: dict[date, float] = {}
    for day, kg in weights:
        by_day[day] = kg
    if not by_day:
        return WeightChange(gain_kg=None, days=None, rapid_gain=False)
    latest = max(by_day)
    earlier = [
        (kg, day) for day, kg in by_day.items() if 0 < (latest - day).days <= rule.within_days
    ]
    if not earlier:
        return WeightChange(gain_kg=None, days=None, rapid_gain=False)
    lowest_kg = min(kg for kg, _ in earlier)
    lowest_day = max(day for kg, day in earlier if kg == lowest_kg)
    gain = round(by_day[latest] - lowest_kg, 2)
    return WeightChange(
        gain_kg=gain, days=(latest - lowest_day).days, rapid_gain=rule.reached_by(gain)
    )
