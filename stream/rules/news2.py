"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017).

The scoring table (RCP NEWS2 Chart 1) and the clinical-risk bands (Chart 3) are fixed by
the RCP and deliberately *not* configurable: a locally edited table is no longer NEWS2.
The one per-patient choice NEWS2 itself allows, SpO2 Scale 2 for a prescribed
hypercapnic target of 88-92 %, is an input (``spo2_scale``) and a resident setting.

Values are rounded half-up to the chart's precision before banding (whole numbers; 0.1 °C
for temperature), so no measured value falls between two rows.

NEWS2 assumes complete bedside observations. A smart band gives two or three of the seven
parameters, so a score computed from fewer is *partial*: it is a lower bound of the full
score, it lists what is missing, and its band is ``None`` -- never "low".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from stream.rules.rounding import round_half_up

#: The seven NEWS2 parameters, named by their ``carepulse assess`` input keys, in chart order.
PARAMETERS: Final = (
    "respiration_rate",
    "spo2_percent",
    "on_oxygen",
    "systolic_mmhg",
    "heart_rate_bpm",
    "consciousness",
    "temperature_c",
)

#: A subscore of 3 in any single parameter is a "red" score (RCP Chart 3).
RED_SUBSCORE: Final = 3

_INF = math.inf

# Chart 1 rows as (inclusive upper bound, points), ascending; the last row is open-ended.
RESPIRATION_ROWS: Final = ((8.0, 3), (11.0, 1), (20.0, 0), (24.0, 2), (_INF, 3))
SPO2_SCALE_1_ROWS: Final = ((91.0, 3), (93.0, 2), (95.0, 1), (_INF, 0))
#: Scale 2 below 93 %, whatever the oxygen; at or above 93 % it depends on oxygen.
SPO2_SCALE_2_LOW_ROWS: Final = ((83.0, 3), (85.0, 2), (87.0, 1), (92.0, 0))
SPO2_SCALE_2_ON_OXYGEN_ROWS: Final = ((94.0, 1), (96.0, 2), (_INF, 3))
SYSTOLIC_ROWS: Final = ((90.0, 3), (100.0, 2), (110.0, 1), (219.0, 0), (_INF, 3))
PULSE_ROWS: Final = ((40.0, 3), (50.0, 1), (90.0, 0), (110.0, 1), (130.0, 2), (_INF, 3))
TEMPERATURE_ROWS: Final = ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (_INF, 2))
OXYGEN_POINTS: Final = 2
#: ACVPU: alert scores 0; new confusion, voice, pain or unresponsive score 3.
CONSCIOUSNESS_POINTS: Final = MappingProxyType({"A": 0, "C": 3, "V": 3, "P": 3, "U": 3})

#: Aggregate thresholds of Chart 3.
MEDIUM_FROM: Final = 5
HIGH_FROM: Final = 7


class Band(StrEnum):
    """Clinical risk band of a complete NEWS2 score (RCP Chart 3)."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class News2:
    """A NEWS2 score, complete or partial.

    Attributes:
        score: sum of the subscores; for a partial score, a lower bound of the full score.
        subscores: points per scored parameter (keys from ``PARAMETERS``).
        missing: parameters that could not be scored, in chart order.
        band: the risk band, or ``None`` when the score is partial.
    """

    score: int
    subscores: Mapping[str, int]
    missing: tuple[str, ...]
    band: Band | None

    @property
    def complete(self) -> bool:
        """All seven parameters were scored."""
        return not self.missing

    @property
    def red(self) -> tuple[str, ...]:
        """Parameters scoring 3, in chart order."""
        return tuple(p for p in PARAMETERS if self.subscores.get(p) == RED_SUBSCORE)


def _points(value: float, rows: tuple[tuple[float, int], ...]) -> int:
    for upper, points in rows:
        if value <= upper:
            return points
    msg = f"{value} is above the last row of its NEWS2 chart"  # unreachable: last row is +inf
    raise AssertionError(msg)


def respiration_score(rate_per_min: float) -> int:
    """Points for a respiration rate (breaths/min)."""
    return _points(round_half_up(rate_per_min), RESPIRATION_ROWS)


def spo2_score(spo2_percent: float, scale: int = 1, on_oxygen: bool | None = False) -> int | None:
    """Points for SpO2 on Scale 1 or Scale 2.

    Args:
        spo2_percent: the saturation in %.
        scale: 1 (default) or 2 (prescribed hypercapnic target 88-92 %).
        on_oxygen: whether supplemental oxygen is given; ``None`` when unknown.

    Returns:
        The points, or ``None`` when they cannot be known: on Scale 2 a saturation of 93 %
        or more scores 0 on air and 1-3 on oxygen, so an unknown oxygen leaves it open.
    """
    spo2 = round_half_up(spo2_percent)
    if scale == 1:
        return _points(spo2, SPO2_SCALE_1_ROWS)
    if spo2 <= SPO2_SCALE_2_LOW_ROWS[-1][0]:
        return _points(spo2, SPO2_SCALE_2_LOW_ROWS)
    if on_oxygen is None:
        return None
    return _points(spo2, SPO2_SCALE_2_ON_OXYGEN_ROWS) if on_oxygen else 0


def oxygen_score(on_oxygen: bool) -> int:
    """Points for air (0) or supplemental oxygen (2)."""
    return OXYGEN_POINTS if on_oxygen else 0


def systolic_score(systolic_mmhg: float) -> int:
    """Points for a systolic blood pressure (mmHg)."""
    return _points(round_half_up(systolic_mmhg), SYSTOLIC_ROWS)


def pulse_score(heart_rate_bpm: float) -> int:
    """Points for a pulse rate (beats/min)."""
    return _points(round_half_up(heart_rate_bpm), PULSE_ROWS)


def consciousness_score(level: str) -> int:
    """Points for an ACVPU level (``A``, ``C``, ``V``, ``P`` or ``U``)."""
    return CONSCIOUSNESS_POINTS[level]


def temperature_score(temperature_c: float) -> int:
    """Points for a temperature, rounded to 0.1 °C first."""
    return _points(round_half_up(temperature_c, 1), TEMPERATURE_ROWS)


def band_for(score: int, subscores: Mapping[str, int], *, complete: bool) -> Band | None:
    """The RCP Chart 3 band; ``None`` for a partial score, which is never labelled.

    Args:
        score: the aggregate score.
        subscores: points per parameter (a single 3 makes an otherwise low score low-medium).
        complete: whether all seven parameters were scored.
    """
    if not complete:
        return None
    if score >= HIGH_FROM:
        return Band.HIGH
    if score >= MEDIUM_FROM:
        return Band.MEDIUM
    if RED_SUBSCORE in subscores.values():
        return Band.LOW_MEDIUM
    return Band.LOW


def news2(
    *,
    respiration_rate: float | None = None,
    spo2_percent: float | None = None,
    on_oxygen: bool | None = None,
    spo2_scale: int = 1,
    systolic_mmhg: float | None = None,
    heart_rate_bpm: float | None = None,
    consciousness: str | None = None,
    temperature_c: float | None = None,
) -> News2:
    """Score whatever NEWS2 parameters are present.

    Returns:
        The score; ``missing`` lists the parameters that were absent or could not be scored
        (Scale 2 SpO2 of 93 % or more with the oxygen unknown).
    """
    scores: dict[str, int | None] = {
        "respiration_rate": None
        if respiration_rate is None
        else respiration_score(respiration_rate),
        "spo2_percent": None
        if spo2_percent is None
        else spo2_score(spo2_percent, spo2_scale, on_oxygen),
        "on_oxygen": None if on_oxygen is None else oxygen_score(on_oxygen),
        "systolic_mmhg": None if systolic_mmhg is None else systolic_score(systolic_mmhg),
        "heart_rate_bpm": None if heart_rate_bpm is None else pulse_score(heart_rate_bpm),
        "consciousness": None if consciousness is None else consciousness_score(consciousness),
        "temperature_c": None if temperature_c is None else temperature_score(temperature_c),
    }
    subscores = {p: s for p, s in scores.items() if s is not None}
    missing = tuple(p for p in PARAMETERS if scores[p] is None)
    score = sum(subscores.values())
    return News2(
        score=score,
        subscores=MappingProxyType(subscores),
        missing=missing,
        band=band_for(score, subscores, complete=not missing),
    )
