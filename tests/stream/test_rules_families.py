"""BP, BMI/waist, glucose, rhythm and weight-change rules beyond the shared vectors."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.rules import default_rules, with_overrides
from stream.rules.anthropometry import BmiClass, Sex, classify_bmi, classify_waist
from stream.rules.bp import BpClass, BpMethod, assess_bp, classify
from stream.rules.glucose import GlucoseClass, classify_glucose
from stream.rules.rhythm import (
    RhythmTable,
    features,
    nn50,
    pnn50,
    shannon_entropy,
    trimmed,
    turning_point_ratio,
)
from stream.rules.vitals import (
    HeartRateState,
    Spo2State,
    TemperatureState,
    heart_rate_state,
    spo2_state,
    temperature_state,
)
from stream.rules.weight_change import WeightChangeRule, weight_change

TABLES = default_rules().tables
ORDER = list(BpClass)
pressures = st.floats(min_value=50, max_value=300)


@given(pressures, pressures, st.floats(min_value=0, max_value=40))
def test_bp_class_never_falls_when_a_pressure_rises(sbp: float, dbp: float, rise: float) -> None:
    """Raising either pressure never lowers the grade (higher grade applies)."""
    base = ORDER.index(classify(sbp, dbp, TABLES.bp))
    assert ORDER.index(classify(sbp + rise, dbp, TABLES.bp)) >= base
    assert ORDER.index(classify(sbp, dbp + rise, TABLES.bp)) >= base


@given(pressures, pressures)
def test_bp_class_is_the_higher_of_the_two_grades(sbp: float, dbp: float) -> None:
    """The class equals the higher of the systolic-only and diastolic-only classes."""
    by_sbp = ORDER.index(classify(sbp, 0, TABLES.bp))
    by_dbp = ORDER.index(classify(0, dbp, TABLES.bp))
    assert ORDER.index(classify(sbp, dbp, TABLES.bp)) == max(by_sbp, by_dbp)


@pytest.mark.parametrize("method", list(BpMethod))
def test_each_method_uses_its_own_threshold(method: BpMethod) -> None:
    """A reading exactly at its method's threshold is hypertensive; 1 mmHg below is not."""
    pair = TABLES.bp.by_method[method]
    assert assess_bp(pair.systolic, pair.diastolic - 1, TABLES.bp, method).hypertensive
    assert assess_bp(pair.systolic - 1, pair.diastolic, TABLES.bp, method).hypertensive
    below = assess_bp(pair.systolic - 1, pair.diastolic - 1, TABLES.bp, method)
    assert not below.hypertensive
    assert not below.isolated_systolic


def test_the_2018_and_2024_grade_tables_agree() -> None:
    """The 2024 revision keeps the 2018 grades, so both settings classify alike."""
    r2018 = with_overrides(default_rules(), {"settings": {"bp_guideline": "cn2018"}})
    r2024 = with_overrides(default_rules(), {"settings": {"bp_guideline": "cn2024"}})
    assert r2018.tables.bp.guideline == "cn2018"
    assert r2018.tables.bp.grades == r2024.tables.bp.grades


@given(st.floats(min_value=10, max_value=60), st.floats(min_value=0, max_value=10))
def test_bmi_class_never_falls_as_bmi_rises(value: float, rise: float) -> None:
    """BMI classes are ordered: a higher BMI never gets a lower class."""
    order = list(BmiClass)
    low, high = classify_bmi(value, TABLES.bmi), classify_bmi(value + rise, TABLES.bmi)
    assert order.index(high) >= order.index(low)


def test_waist_uses_the_cutoffs_of_the_given_sex() -> None:
    """87 cm is pre-central obesity for a man and central obesity for a woman."""
    assert classify_waist(87, Sex.MALE, TABLES.waist).value == "pre_central_obesity"
    assert classify_waist(87, Sex.FEMALE, TABLES.waist).value == "central_obesity"


@given(st.floats(min_value=0.5, max_value=60))
def test_glucose_hypo_levels_follow_the_level_2_threshold(value: float) -> None:
    """Diabetic hypoglycaemia is level 2 below 3.0, level 1 from 3.0 to below 3.9."""
    result = classify_glucose(value, diabetic=True, table=TABLES.glucose)
    if value < 3.0:
        assert result is GlucoseClass.HYPO_LEVEL_2
    elif value < 3.9:
        assert result is GlucoseClass.HYPO_LEVEL_1
    else:
        assert result in (GlucoseClass.NORMAL, GlucoseClass.HYPER)


def test_heart_rate_edges_on_both_sides() -> None:
    """Tachycardia above 100, bradycardia at 40 or below (whole beats, half up)."""
    table = TABLES.vitals
    assert heart_rate_state(100, table) is HeartRateState.NORMAL
    assert heart_rate_state(100.4, table) is HeartRateState.NORMAL
    assert heart_rate_state(100.5, table) is HeartRateState.TACHYCARDIA
    assert heart_rate_state(41, table) is HeartRateState.NORMAL
    assert heart_rate_state(40, table) is HeartRateState.BRADYCARDIA


def test_temperature_edges_on_both_sides() -> None:
    """Fever above 37.3 °C, high fever above 39.0 °C, after rounding to 0.1."""
    table = TABLES.vitals
    assert temperature_state(37.3, table) is TemperatureState.NORMAL
    assert temperature_state(37.34, table) is TemperatureState.NORMAL
    assert temperature_state(37.35, table) is TemperatureState.FEVER
    assert temperature_state(39.0, table) is TemperatureState.FEVER
    assert temperature_state(39.1, table) is TemperatureState.HIGH_FEVER


@pytest.mark.parametrize(
    ("spo2", "scale", "state"),
    [
        (94, 1, Spo2State.IN_TARGET),
        (93, 1, Spo2State.BELOW_TARGET),
        (89, 1, Spo2State.BELOW_TARGET),
        (88, 1, Spo2State.SEVERE),
        (88, 2, Spo2State.IN_TARGET),
        (87, 2, Spo2State.BELOW_TARGET),
        (84, 2, Spo2State.BELOW_TARGET),
        (83, 2, Spo2State.SEVERE),
    ],
)
def test_spo2_state_depends_on_the_scale(spo2: float, scale: int, state: Spo2State) -> None:
    """SpO2 is judged against the target and severe rows of its own scale."""
    assert spo2_state(spo2, scale, TABLES.vitals) is state


def test_nn50_counts_strictly_more_than_50_ms() -> None:
    """A successive difference of exactly 50 ms is not counted (Task Force '>50 ms')."""
    rr = [800, 850, 780, 820, 760]
    assert nn50(rr) == 2
    assert nn50(rr, 49.9) == 3
    assert pnn50(rr) == pytest.approx(40.0)


def test_trimming_keeps_order_and_drops_both_ends() -> None:
    """Trimming removes the k longest and k shortest intervals and keeps the others' order."""
    assert trimmed([5, 1, 9, 3, 7], 1) == [5, 3, 7]
    assert trimmed([5, 1, 9], 0) == [5, 1, 9]


def test_turning_points_and_entropy_of_simple_series() -> None:
    """A zig-zag has a turning point at every inner beat; a constant series no entropy."""
    assert turning_point_ratio([1, 3, 1, 3, 1]) == 1.0
    assert turning_point_ratio([1, 2, 3, 4, 5]) == 0.0
    assert shannon_entropy([800.0] * 20) == 0.0
    assert shannon_entropy(list(range(16))) == pytest.approx(1.0)


def test_fewer_beats_than_the_window_give_no_screen() -> None:
    """With 127 beats the time-domain features exist but the AF screen is None."""
    result = features([800 + (i % 3) * 10 for i in range(127)], RhythmTable())
    assert result.irregular is None
    assert result.nrmssd is None
    assert result.rmssd_ms > 0


def test_the_screen_uses_the_last_128_beats() -> None:
    """Regular beats before an irregular stretch of 128 do not hide it."""
    irregular = [500.0 + ((i * 7919) % 97) * 5 for i in range(128)]
    result = features([800.0] * 300 + irregular, RhythmTable())
    assert result.irregular is True


rr_series = st.lists(st.floats(min_value=300, max_value=2000), min_size=128, max_size=200)


@given(rr_series)
def test_rhythm_features_stay_in_their_ranges(rr: list[float]) -> None:
    """RMSSD and SDNN are non-negative; TPR, entropy and pNN50 stay within their scales."""
    result = features(rr, RhythmTable())
    assert result.rmssd_ms >= 0
    assert result.sdnn_ms >= 0
    assert 0 <= result.pnn50_percent <= 100
    assert result.tpr is not None
    assert 0 <= result.tpr <= 1
    assert result.shannon_entropy is not None
    assert -1e-12 <= result.shannon_entropy <= 1 + 1e-12
    assert result.nrmssd is not None
    assert math.isfinite(result.nrmssd)


def _series(kgs: list[float]) -> list[tuple[date, float]]:
    start = date(2026, 3, 1)
    return [(start + timedelta(days=i), kg) for i, kg in enumerate(kgs)]


def test_rapid_gain_is_more_than_2_kg_by_default() -> None:
    """2.1 kg in 3 days is rapid gain, 2.0 kg is not (more than 2)."""
    rule = WeightChangeRule()
    assert weight_change(_series([70.0, 70.5, 71.0, 72.1]), rule).rapid_gain
    assert not weight_change(_series([70.0, 70.5, 71.0, 72.0]), rule).rapid_gain


def test_an_inclusive_rule_counts_the_threshold() -> None:
    """With inclusive = true, exactly the threshold counts."""
    rule = WeightChangeRule(gain_kg=2.0, within_days=3, inclusive=True)
    assert weight_change(_series([70.0, 70.5, 71.0, 72.0]), rule).rapid_gain


def test_a_single_weighing_has_no_change() -> None:
    """One weighing gives no gain and no alert."""
    result = weight_change(_series([70.0]), WeightChangeRule())
    assert (result.gain_kg, result.days, result.rapid_gain) == (None, None, False)


def test_weight_loss_is_a_negative_gain() -> None:
    """A latest weight below every earlier one in the window shows as a negative gain."""
    result = weight_change(_series([72.0, 71.5, 70.0]), WeightChangeRule())
    assert result.gain_kg == pytest.approx(-1.5)
    assert not result.rapid_gain
