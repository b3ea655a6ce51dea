"""Vital-sign states: heart rate at rest, temperature, SpO2 against its scale's target.

* Tachycardia at rest: heart rate above 100/min (BPHS T2DM follow-up spec: 持续性心动过速
  (心率超过100次/分钟)→ urgent referral). Bradycardia at rest: 40/min or less, the
  NEWS2 row that scores 3 (RCP Chart 1). "At rest" and "sustained" are the caller's
  part: the stream agent feeds resting readings and the rule's persistence policy
  asks for consecutive checks.
* Fever: above 37.3 °C (诊断学 axillary definition, 发热); high fever above 39.0 °C
  (BPHS: 体温超过39℃ → urgent referral). Temperatures are rounded to 0.1 °C first.
* SpO2: below the target floor of its scale (BTS 2017: 94-98 % on Scale 1, 88-92 % on
  Scale 2); severe at or below 88 % on Scale 1 and 83 % on Scale 2 (the design's P0 row
  and the NEWS2 Scale 2 red row).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stream.rules.rounding import round_half_up


class HeartRateState(StrEnum):
    """A resting heart rate against the tachy/brady thresholds."""

    BRADYCARDIA = "bradycardia"
    NORMAL = "normal"
    TACHYCARDIA = "tachycardia"


class TemperatureState(StrEnum):
    """A temperature against the fever thresholds."""

    NORMAL = "normal"
    FEVER = "fever"
    HIGH_FEVER = "high_fever"


class Spo2State(StrEnum):
    """An SpO2 reading against its scale's target."""

    SEVERE = "severe"
    BELOW_TARGET = "below_target"
    IN_TARGET = "in_target"


@dataclass(frozen=True, slots=True)
class VitalsTable:
    """Vital-sign thresholds."""

    tachycardia_above_bpm: float
    bradycardia_at_or_below_bpm: float
    fever_above_c: float
    high_fever_above_c: float
    spo2_target_floor_scale_1: float
    spo2_target_floor_scale_2: float
    spo2_severe_at_or_below_scale_1: float
    spo2_severe_at_or_below_scale_2: float

    def spo2_target_floor(self, scale: int) -> float:
        """Lowest in-target SpO2 of ``scale``."""
        return self.spo2_target_floor_scale_1 if scale == 1 else self.spo2_target_floor_scale_2

    def spo2_severe_at_or_below(self, scale: int) -> float:
        """Highest severe SpO2 of ``scale``."""
        if scale == 1:
            return self.spo2_severe_at_or_below_scale_1
        return self.spo2_severe_at_or_below_scale_2


def heart_rate_state(heart_rate_bpm: float, table: VitalsTable) -> HeartRateState:
    """Classify a resting heart rate (rounded to a whole beat first)."""
    rate = round_half_up(heart_rate_bpm)
    if rate > table.tachycardia_above_bpm:
        return HeartRateState.TACHYCARDIA
    if rate <= table.bradycardia_at_or_below_bpm:
        return HeartRateState.BRADYCARDIA
    return HeartRateState.NORMAL


def temperature_state(temperature_c: float, table: VitalsTable) -> TemperatureState:
    """Classify a temperature (rounded to 0.1 °C first)."""
    temperature = round_half_up(temperature_c, 1)
    if temperature > table.high_fever_above_c:
        return TemperatureState.HIGH_FEVER
    if temperature > table.fever_above_c:
        return TemperatureState.FEVER
    return TemperatureState.NORMAL


def spo2_state(spo2_percent: float, scale: int, table: VitalsTable) -> Spo2State:
    """Classify SpO2 (rounded to a whole percent) against ``scale``'s target."""
    spo2 = round_half_up(spo2_percent)
    if spo2 <= table.spo2_severe_at_or_below(scale):
        return Spo2State.SEVERE
    if spo2 < table.spo2_target_floor(scale):
        return Spo2State.BELOW_TARGET
    return Spo2State.IN_TARGET
