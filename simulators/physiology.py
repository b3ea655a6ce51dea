"""Physiology that looks real enough to test a pipeline with (pure, seeded).

Every function takes a :class:`numpy.random.Generator` and returns plain numbers, so a
scenario with a seed is reproducible to the bit. Nothing here knows about devices or
time zones: times are *local* clock hours (0-24) and whole days since the start.

Models and where their numbers come from (docs/simulators.md, "Physiology"):

* **Resting heart rate** with a circadian swing: lowest around 04:00, highest in the
  afternoon, about +-6 bpm (circadian HR amplitude in older adults is 4-8 bpm), and
  activity bouts by day that add 4-14 bpm. Outside events the rate is capped at
  :data:`HR_CAP_BPM` so that "resting HR > 100" never fires by chance.
* **Sinus RR intervals** with respiratory sinus arrhythmia: a sinusoid at the breathing
  rate (12-18/min) of 2-3 % of the mean interval, plus small beat-to-beat jitter.
  Older adults' RMSSD is 15-30 ms, so nRMSSD stays near 0.03 -- far under the rhythm
  screen's 0.1.
* **AF RR intervals**: independent draws from a broad unimodal distribution (mean
  interval times 0.55-1.45, Beta(2, 2) shaped): no respiratory pattern, coefficient of
  variation about 0.2. This gives nRMSSD around 0.28, TPR near 2/3 and a flat 16-bin
  histogram (Shannon entropy above 0.8): all three Dash et al. features over threshold.
* **Blood pressure** per condition with a morning surge (06:00-10:00, +6/+3 mmHg) and
  measurement noise (SD 4-5 mmHg systolic), truncated at 2.5 SD so baselines keep a
  margin from the alert thresholds.
* **Weight** with day-to-day variation (SD 0.2-0.3 kg, truncated), glucose for diabetic
  residents (fasting 5.5-7.5 mmol/L, +1.5-3 after meals, never 11.1 or more outside
  events), SpO2 (95-99 %, COPD 91-93 %) and temperature (36.2-36.9 °C, +0.2 in the
  evening).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

#: Outside events, heart rate never goes above this (the resting tachycardia rule is > 100).
HR_CAP_BPM: Final = 96.0
#: Lag-1 anti-correlation of AF intervals (see :func:`af_rr`).
AF_ALTERNATION: Final = 0.35
#: Noise is truncated at this many standard deviations (baselines keep a margin).
TRUNCATE_SD: Final = 2.5


class Condition(StrEnum):
    """Conditions a resident can have (several at once)."""

    HEALTHY = "healthy"
    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"
    HEART_FAILURE = "heart_failure"
    COPD = "copd"
    OBESITY = "obesity"
    ATRIAL_FIBRILLATION = "atrial_fibrillation"


@dataclass(frozen=True, slots=True)
class Profile:
    """A resident's baselines, drawn once from their conditions.

    Attributes:
        hr_rest_bpm: resting heart rate at the circadian mean.
        breaths_per_min: breathing rate (drives the sinus arrhythmia).
        systolic_mmhg: home systolic baseline (before the morning surge).
        diastolic_mmhg: home diastolic baseline.
        bp_noise_mmhg: SD of a single systolic reading around the baseline.
        height_m: height.
        weight_kg: baseline weight.
        weight_noise_kg: SD of the day-to-day weight variation.
        spo2_percent: SpO2 baseline.
        temperature_c: morning temperature baseline.
        glucose_fasting_mmol_l: fasting glucose (diabetic residents; else ``None``).
        af: the resident is in permanent atrial fibrillation.
    """

    hr_rest_bpm: float
    breaths_per_min: float
    systolic_mmhg: float
    diastolic_mmhg: float
    bp_noise_mmhg: float
    height_m: float
    weight_kg: float
    weight_noise_kg: float
    spo2_percent: float
    temperature_c: float
    glucose_fasting_mmol_l: float | None
    af: bool

    @property
    def bmi(self) -> float:
        """Baseline body-mass index."""
        return self.weight_kg / self.height_m**2


#: BMI class boundaries (WS/T 428-2013) that baselines keep away from.
BMI_BOUNDARIES: Final = (18.5, 24.0, 28.0)
#: How far (kg/m2) a baseline BMI stays from a class boundary.
BMI_MARGIN: Final = 0.8


def truncated_normal(rng: np.random.Generator, sd: float, limit: float = TRUNCATE_SD) -> float:
    """A normal draw with mean 0 and ``sd``, clipped to ``limit`` SDs."""
    return float(np.clip(rng.normal(0.0, 1.0), -limit, limit)) * sd


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _away_from_boundaries(bmi: float) -> float:
    for boundary in BMI_BOUNDARIES:
        if abs(bmi - boundary) < BMI_MARGIN:
            bmi = boundary - BMI_MARGIN if bmi < boundary else boundary + BMI_MARGIN
    return bmi


def draw_profile(
    rng: np.random.Generator, conditions: frozenset[Condition], *, sex: str = "F"
) -> Profile:
    """A resident's baselines for ``conditions`` (``sex`` "M" or "F" sets the height)."""
    hypertension = Condition.HYPERTENSION in conditions
    heart_failure = Condition.HEART_FAILURE in conditions
    copd = Condition.COPD in conditions
    af = Condition.ATRIAL_FIBRILLATION in conditions
    hr = _uniform(rng, 60, 74)
    if heart_failure or copd:
        hr += 6
    if af:
        hr = _uniform(rng, 78, 86)  # ventricular rate, rate-controlled
    if hypertension:
        systolic, diastolic, noise = _uniform(rng, 146, 156), _uniform(rng, 91, 96), 5.0
    elif heart_failure:
        systolic, diastolic, noise = _uniform(rng, 112, 122), _uniform(rng, 68, 74), 4.0
    else:
        systolic, diastolic, noise = _uniform(rng, 108, 120), _uniform(rng, 66, 74), 4.0
    height = _uniform(rng, 1.62, 1.74) if sex == "M" else _uniform(rng, 1.50, 1.62)
    if Condition.OBESITY in conditions:
        bmi = _uniform(rng, 29.0, 32.5)
    elif Condition.DIABETES in conditions or hypertension:
        bmi = _uniform(rng, 22.5, 27.0)
    else:
        bmi = _uniform(rng, 20.0, 26.0)
    bmi = _away_from_boundaries(bmi)
    spo2 = _uniform(rng, 91.5, 93.0) if copd else _uniform(rng, 96.0, 98.0)
    if heart_failure and not copd:
        spo2 = _uniform(rng, 95.5, 96.5)
    glucose = _uniform(rng, 5.8, 7.2) if Condition.DIABETES in conditions else None
    return Profile(
        hr_rest_bpm=round(hr, 1),
        breaths_per_min=round(_uniform(rng, 13, 17), 1),
        systolic_mmhg=round(systolic, 1),
        diastolic_mmhg=round(diastolic, 1),
        bp_noise_mmhg=noise,
        height_m=round(height, 2),
        weight_kg=round(bmi * round(height, 2) ** 2, 1),
        weight_noise_kg=0.2 if heart_failure else 0.3,
        spo2_percent=round(spo2, 1),
        temperature_c=round(_uniform(rng, 36.3, 36.6), 2),
        glucose_fasting_mmol_l=None if glucose is None else round(glucose, 2),
        af=af,
    )


# ----------------------------------------------------------------------- heart rate


def circadian_offset_bpm(hour: float) -> float:
    """Circadian swing of the heart rate: -6 bpm around 04:00, +6 around 16:00."""
    return 6.0 * math.sin(2 * math.pi * (hour - 10.0) / 24.0)


def activity(rng: np.random.Generator, hour: float) -> float:
    """Activity level 0..1 at a local hour: asleep at night, bouts of walking by day."""
    if hour < 6.5 or hour >= 22.0:
        return 0.0
    busy = 0.45 if 8.0 <= hour < 11.0 or 15.0 <= hour < 18.0 else 0.2
    return float(rng.uniform(0.3, 1.0)) if rng.random() < busy else float(rng.uniform(0, 0.15))


def steps_for(level: float, minutes: float) -> int:
    """Steps walked in ``minutes`` at an activity level (about 100 steps/min when brisk)."""
    return round(level * 100.0 * minutes)


def heart_rate(
    rng: np.random.Generator, profile: Profile, hour: float, level: float, *, cap: bool = True
) -> float:
    """One heart-rate reading (bpm) at a local hour and activity level."""
    bpm = profile.hr_rest_bpm + circadian_offset_bpm(hour) + 14.0 * level
    bpm += truncated_normal(rng, 2.0)
    if cap:
        bpm = min(bpm, HR_CAP_BPM)
    return round(max(bpm, 45.0), 1)


def sinus_rr(
    rng: np.random.Generator, bpm: float, beats: int, breaths_per_min: float
) -> tuple[float, ...]:
    """``beats`` sinus-rhythm RR intervals (s) with respiratory sinus arrhythmia."""
    mean = 60.0 / bpm
    amplitude = float(rng.uniform(0.02, 0.03)) * mean
    phase = float(rng.uniform(0, 2 * math.pi))
    omega = 2 * math.pi * breaths_per_min / 60.0
    out: list[float] = []
    t = 0.0
    for _ in range(beats):
        rr = mean + amplitude * math.sin(omega * t + phase) + truncated_normal(rng, 0.004)
        out.append(round(rr, 4))
        t += rr
    return tuple(out)


def af_rr(rng: np.random.Generator, bpm: float, beats: int) -> tuple[float, ...]:
    """``beats`` irregularly irregular RR intervals (s) of atrial fibrillation."""
    mean = 60.0 / bpm
    draws = rng.beta(2.0, 2.0, size=beats + 1)
    # A weak negative lag-1 correlation (concealed AV conduction: a long interval tends to
    # follow a short one) keeps the turning-point ratio near 0.7 rather than 2/3.
    shaped = draws[1:] - AF_ALTERNATION * (draws[:-1] - 0.5)
    return tuple(round(float(np.clip(mean * (0.55 + 0.9 * d), 0.3, 2.0)), 4) for d in shaped)


def rate_of(rr: tuple[float, ...]) -> float:
    """Mean heart rate (bpm) of a series of RR intervals."""
    return round(60.0 * len(rr) / sum(rr), 1)


# ------------------------------------------------------------------ blood pressure


def morning_surge(hour: float) -> tuple[float, float]:
    """Extra systolic/diastolic mmHg of the morning surge (06:00-10:00)."""
    if 6.0 <= hour < 10.0:
        return 6.0, 3.0
    return 0.0, 0.0


def blood_pressure(
    rng: np.random.Generator, profile: Profile, hour: float
) -> tuple[float, float, float]:
    """One home reading: systolic, diastolic, mean arterial pressure (mmHg, whole numbers)."""
    surge_s, surge_d = morning_surge(hour)
    systolic = profile.systolic_mmhg + surge_s + truncated_normal(rng, profile.bp_noise_mmhg)
    diastolic = (
        profile.diastolic_mmhg + surge_d + truncated_normal(rng, profile.bp_noise_mmhg * 0.6)
    )
    systolic, diastolic = round(systolic), round(diastolic)
    return float(systolic), float(diastolic), float(round(diastolic + (systolic - diastolic) / 3))


# -------------------------------------------------------------------------- others


def weight(rng: np.random.Generator, profile: Profile, extra_kg: float = 0.0) -> float:
    """One morning weighing (kg, 0.1 kg resolution): baseline, daily variation, extra."""
    return round(profile.weight_kg + extra_kg + truncated_normal(rng, profile.weight_noise_kg), 1)


def glucose(rng: np.random.Generator, profile: Profile, after_meal: bool) -> float:
    """One finger-stick glucose (mmol/L) of a diabetic resident."""
    base = profile.glucose_fasting_mmol_l or 5.2
    rise = float(rng.uniform(1.5, 3.0)) if after_meal else 0.0
    return round(min(base + rise + truncated_normal(rng, 0.4), 10.6), 1)


def spo2(rng: np.random.Generator, profile: Profile) -> float:
    """One spot-check SpO2 (whole percent, at most 99 and at least 95 unless COPD)."""
    value = round(profile.spo2_percent + truncated_normal(rng, 0.6))
    floor = 91 if profile.spo2_percent < 94 else 95
    return float(min(max(value, floor), 99))


def temperature(rng: np.random.Generator, profile: Profile, hour: float) -> float:
    """One temperature (°C, 0.1 resolution), a little higher in the evening."""
    evening = 0.2 if 16.0 <= hour < 22.0 else 0.0
    return round(min(profile.temperature_c + evening + truncated_normal(rng, 0.1), 36.9), 1)
