"""Physiology models: determinism, rhythm against the real AF screen, baselines with margins."""

from __future__ import annotations

import numpy as np
import pytest

from simulators import physiology as phys
from simulators.physiology import Condition
from stream.rules import default_rules
from stream.rules.rhythm import features

RHYTHM = default_rules().tables.rhythm


def ms(rr: tuple[float, ...]) -> list[float]:
    return [x * 1000.0 for x in rr]


def test_same_seed_gives_the_same_physiology() -> None:
    """Two generators with one seed draw the same profile and the same RR intervals."""
    a, b = np.random.default_rng(42), np.random.default_rng(42)
    conditions = frozenset({Condition.HYPERTENSION})
    assert phys.draw_profile(a, conditions) == phys.draw_profile(b, conditions)
    assert phys.af_rr(a, 90, 128) == phys.af_rr(b, 90, 128)
    assert phys.sinus_rr(a, 70, 64, 15) == phys.sinus_rr(b, 70, 64, 15)


@pytest.mark.parametrize("seed", range(40))
def test_af_intervals_trip_the_rhythm_screen(seed: int) -> None:
    """128 AF intervals exceed all three thresholds of the rule's AND (nRMSSD, TPR, ShE)."""
    rng = np.random.default_rng(seed)
    result = features(ms(phys.af_rr(rng, float(rng.uniform(70, 110)), 128)), RHYTHM)
    assert result.irregular is True
    assert result.nrmssd is not None
    assert result.nrmssd > 0.15


@pytest.mark.parametrize("seed", range(40))
def test_sinus_intervals_never_trip_the_rhythm_screen(seed: int) -> None:
    """Two 64-beat sinus segments (as a band sends them) stay regular, far below nRMSSD 0.1."""
    rng = np.random.default_rng(seed)
    rr = phys.sinus_rr(rng, float(rng.uniform(50, 96)), 64, float(rng.uniform(12, 18)))
    rr += phys.sinus_rr(rng, float(rng.uniform(50, 96)), 64, float(rng.uniform(12, 18)))
    result = features(ms(rr), RHYTHM)
    assert result.irregular is False
    assert result.nrmssd is not None
    assert result.nrmssd < 0.07


def test_sinus_intervals_show_respiratory_variation() -> None:
    """Sinus RR intervals vary with breathing (RMSSD of an older adult, 8-40 ms)."""
    rr = phys.sinus_rr(np.random.default_rng(1), 70, 128, 15)
    assert 8 < features(ms(rr), RHYTHM).rmssd_ms < 40


@pytest.mark.parametrize("seed", range(20))
def test_baseline_bmi_keeps_a_margin_from_every_class_boundary(seed: int) -> None:
    """No resident starts within 0.7 kg/m2 of 18.5, 24 or 28, so BMI classes are certain."""
    for conditions in ({Condition.OBESITY}, {Condition.HYPERTENSION}, set()):
        profile = phys.draw_profile(np.random.default_rng(seed), frozenset(conditions))
        assert all(abs(profile.bmi - b) >= 0.7 for b in phys.BMI_BOUNDARIES)


def test_heart_rate_stays_under_the_tachycardia_threshold_outside_events() -> None:
    """Circadian rate plus activity never exceeds the cap, even for an AF resident at noon."""
    rng = np.random.default_rng(7)
    profile = phys.draw_profile(rng, frozenset({Condition.ATRIAL_FIBRILLATION}))
    rates = [phys.heart_rate(rng, profile, h / 4, 1.0) for h in range(96)]
    assert max(rates) <= phys.HR_CAP_BPM < 100


def test_morning_blood_pressure_surges() -> None:
    """Readings between 06:00 and 10:00 average higher than evening ones."""
    rng = np.random.default_rng(3)
    profile = phys.draw_profile(rng, frozenset({Condition.HYPERTENSION}))
    morning = np.mean([phys.blood_pressure(rng, profile, 7.5)[0] for _ in range(200)])
    evening = np.mean([phys.blood_pressure(rng, profile, 19.5)[0] for _ in range(200)])
    assert morning - evening == pytest.approx(6.0, abs=1.5)


def test_healthy_blood_pressure_never_reaches_the_office_threshold() -> None:
    """Noise is truncated, so a healthy resident's home BP stays below 140/90."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        profile = phys.draw_profile(rng, frozenset())
        for hour in (7.0, 8.0, 20.0):
            systolic, diastolic, _ = phys.blood_pressure(rng, profile, hour)
            assert systolic < 140
            assert diastolic < 90
