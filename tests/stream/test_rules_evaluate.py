"""Rule checks: fire, hold and clear on both sides of each threshold; hits and reasons."""

from __future__ import annotations

from typing import Any

import pytest

from stream.rules import (
    CATALOGUE,
    Outcome,
    RuleHit,
    RuleState,
    Severity,
    Transition,
    assess,
    check_assessment,
    default_rules,
    evaluate,
    observations_from_mapping,
    step,
)

RULES = default_rules()


def _outcomes(inputs: dict[str, Any]) -> dict[str, Outcome]:
    obs = observations_from_mapping(inputs)
    return {c.rule_id: c.outcome for c in check_assessment(assess(obs, RULES), RULES)}


def _hits(inputs: dict[str, Any]) -> dict[str, RuleHit]:
    return {hit.rule_id: hit for hit in evaluate(observations_from_mapping(inputs), RULES)}


FULL_NORMAL = {
    "respiration_rate": 16,
    "spo2_percent": 97,
    "on_oxygen": False,
    "temperature_c": 37.0,
    "systolic_mmhg": 120,
    "heart_rate_bpm": 75,
    "consciousness": "A",
}

#: (rule, inputs, expected outcome): each threshold from both sides, plus the hold zone.
CASES: list[tuple[str, dict[str, Any], Outcome]] = [
    (
        "news2.high",
        {**FULL_NORMAL, "respiration_rate": 25, "on_oxygen": True, "heart_rate_bpm": 115},
        Outcome.FIRE,
    ),
    (
        "news2.high",
        {**FULL_NORMAL, "respiration_rate": 25, "on_oxygen": True, "heart_rate_bpm": 95},
        Outcome.HOLD,
    ),
    ("news2.high", FULL_NORMAL, Outcome.CLEAR),
    (
        "news2.high",
        {"heart_rate_bpm": 135, "spo2_percent": 91, "temperature_c": 39.5},
        Outcome.FIRE,
    ),
    ("news2.high", {"heart_rate_bpm": 75}, Outcome.HOLD),
    (
        "news2.medium",
        {"heart_rate_bpm": 125, "spo2_percent": 92, "temperature_c": 38.5},
        Outcome.FIRE,
    ),
    ("news2.medium", {"heart_rate_bpm": 125, "spo2_percent": 92}, Outcome.HOLD),
    ("news2.medium", {**FULL_NORMAL, "heart_rate_bpm": 95, "temperature_c": 38.5}, Outcome.CLEAR),
    (
        "news2.medium",
        {**FULL_NORMAL, "respiration_rate": 22, "heart_rate_bpm": 95, "temperature_c": 38.5},
        Outcome.HOLD,
    ),
    ("news2.single_red", {"respiration_rate": 26}, Outcome.FIRE),
    ("news2.single_red", {**FULL_NORMAL, "respiration_rate": 26}, Outcome.FIRE),
    ("news2.single_red", {**FULL_NORMAL, "respiration_rate": 26, "on_oxygen": True}, Outcome.HOLD),
    ("news2.single_red", {"respiration_rate": 16}, Outcome.HOLD),
    ("news2.single_red", FULL_NORMAL, Outcome.CLEAR),
    ("vitals.tachycardia_rest", {"heart_rate_bpm": 101}, Outcome.FIRE),
    ("vitals.tachycardia_rest", {"heart_rate_bpm": 100}, Outcome.HOLD),
    ("vitals.tachycardia_rest", {"heart_rate_bpm": 95}, Outcome.CLEAR),
    ("vitals.bradycardia_rest", {"heart_rate_bpm": 40}, Outcome.FIRE),
    ("vitals.bradycardia_rest", {"heart_rate_bpm": 41}, Outcome.HOLD),
    ("vitals.bradycardia_rest", {"heart_rate_bpm": 45}, Outcome.CLEAR),
    ("vitals.fever", {"temperature_c": 37.4}, Outcome.FIRE),
    ("vitals.fever", {"temperature_c": 39.0}, Outcome.FIRE),
    ("vitals.fever", {"temperature_c": 39.1}, Outcome.HOLD),
    ("vitals.fever", {"temperature_c": 37.3}, Outcome.HOLD),
    ("vitals.fever", {"temperature_c": 37.0}, Outcome.CLEAR),
    ("vitals.high_fever", {"temperature_c": 39.1}, Outcome.FIRE),
    ("vitals.high_fever", {"temperature_c": 39.0}, Outcome.HOLD),
    ("vitals.high_fever", {"temperature_c": 38.5}, Outcome.CLEAR),
    ("vitals.spo2_below_target", {"spo2_percent": 93}, Outcome.FIRE),
    ("vitals.spo2_below_target", {"spo2_percent": 89}, Outcome.FIRE),
    ("vitals.spo2_below_target", {"spo2_percent": 88}, Outcome.HOLD),
    ("vitals.spo2_below_target", {"spo2_percent": 94}, Outcome.HOLD),
    ("vitals.spo2_below_target", {"spo2_percent": 95}, Outcome.CLEAR),
    ("vitals.spo2_below_target", {"spo2_percent": 87, "spo2_scale": 2}, Outcome.FIRE),
    ("vitals.spo2_below_target", {"spo2_percent": 89, "spo2_scale": 2}, Outcome.CLEAR),
    ("vitals.spo2_severe", {"spo2_percent": 88}, Outcome.FIRE),
    ("vitals.spo2_severe", {"spo2_percent": 89}, Outcome.HOLD),
    ("vitals.spo2_severe", {"spo2_percent": 92}, Outcome.CLEAR),
    ("vitals.spo2_severe", {"spo2_percent": 83, "spo2_scale": 2}, Outcome.FIRE),
    ("vitals.spo2_severe", {"spo2_percent": 84, "spo2_scale": 2}, Outcome.HOLD),
    ("bp.urgent_referral", {"systolic_mmhg": 180, "diastolic_mmhg": 100}, Outcome.FIRE),
    ("bp.urgent_referral", {"systolic_mmhg": 150, "diastolic_mmhg": 110}, Outcome.FIRE),
    ("bp.urgent_referral", {"systolic_mmhg": 179, "diastolic_mmhg": 109}, Outcome.HOLD),
    ("bp.urgent_referral", {"systolic_mmhg": 159, "diastolic_mmhg": 99}, Outcome.CLEAR),
    ("bp.hypertensive", {"systolic_mmhg": 140, "diastolic_mmhg": 80}, Outcome.FIRE),
    ("bp.hypertensive", {"systolic_mmhg": 139, "diastolic_mmhg": 89}, Outcome.CLEAR),
    ("bp.hypertensive", {"systolic_mmhg": 185, "diastolic_mmhg": 100}, Outcome.HOLD),
    (
        "bp.hypertensive",
        {"systolic_mmhg": 135, "diastolic_mmhg": 80, "bp_method": "home"},
        Outcome.FIRE,
    ),
    (
        "bp.hypertensive",
        {"systolic_mmhg": 135, "diastolic_mmhg": 80, "bp_method": "office"},
        Outcome.CLEAR,
    ),
    ("glucose.hypo_level_2", {"glucose_mmol_l": 2.9}, Outcome.FIRE),
    ("glucose.hypo_level_2", {"glucose_mmol_l": 3.0}, Outcome.HOLD),
    ("glucose.hypo_level_2", {"glucose_mmol_l": 3.9}, Outcome.CLEAR),
    ("glucose.urgent_referral", {"glucose_mmol_l": 3.9}, Outcome.FIRE),
    ("glucose.urgent_referral", {"glucose_mmol_l": 16.7}, Outcome.FIRE),
    ("glucose.urgent_referral", {"glucose_mmol_l": 2.9}, Outcome.HOLD),
    ("glucose.urgent_referral", {"glucose_mmol_l": 4.2}, Outcome.HOLD),
    ("glucose.urgent_referral", {"glucose_mmol_l": 14.0}, Outcome.HOLD),
    ("glucose.urgent_referral", {"glucose_mmol_l": 6.0}, Outcome.CLEAR),
    ("glucose.hyper", {"glucose_mmol_l": 11.1}, Outcome.FIRE),
    ("glucose.hyper", {"glucose_mmol_l": 16.7}, Outcome.HOLD),
    ("glucose.hyper", {"glucose_mmol_l": 10.5}, Outcome.HOLD),
    ("glucose.hyper", {"glucose_mmol_l": 9.9}, Outcome.CLEAR),
    ("anthropometry.underweight", {"weight_kg": 73.96, "height_m": 2.0}, Outcome.FIRE),
    ("anthropometry.underweight", {"weight_kg": 74.0, "height_m": 2.0}, Outcome.HOLD),
    ("anthropometry.underweight", {"weight_kg": 76.0, "height_m": 2.0}, Outcome.CLEAR),
    ("anthropometry.overweight", {"weight_kg": 96.0, "height_m": 2.0}, Outcome.FIRE),
    ("anthropometry.overweight", {"weight_kg": 95.0, "height_m": 2.0}, Outcome.HOLD),
    ("anthropometry.overweight", {"weight_kg": 112.0, "height_m": 2.0}, Outcome.HOLD),
    ("anthropometry.overweight", {"weight_kg": 93.9, "height_m": 2.0}, Outcome.CLEAR),
    ("anthropometry.obese", {"weight_kg": 112.0, "height_m": 2.0}, Outcome.FIRE),
    ("anthropometry.obese", {"weight_kg": 111.0, "height_m": 2.0}, Outcome.HOLD),
    ("anthropometry.obese", {"weight_kg": 109.9, "height_m": 2.0}, Outcome.CLEAR),
    ("anthropometry.central_obesity", {"waist_cm": 90, "sex": "M"}, Outcome.FIRE),
    ("anthropometry.central_obesity", {"waist_cm": 89, "sex": "M"}, Outcome.HOLD),
    ("anthropometry.central_obesity", {"waist_cm": 87.9, "sex": "M"}, Outcome.CLEAR),
    ("anthropometry.central_obesity", {"waist_cm": 85, "sex": "F"}, Outcome.FIRE),
    (
        "weight_change.rapid_gain",
        {"weights": [["2026-03-01", 70.0], ["2026-03-04", 72.1]]},
        Outcome.FIRE,
    ),
    (
        "weight_change.rapid_gain",
        {"weights": [["2026-03-01", 70.0], ["2026-03-04", 72.0]]},
        Outcome.HOLD,
    ),
    (
        "weight_change.rapid_gain",
        {"weights": [["2026-03-01", 70.0], ["2026-03-04", 71.0]]},
        Outcome.CLEAR,
    ),
    (
        "rhythm.irregular",
        {"rr_intervals_ms": [500 + ((i * 7919) % 97) * 5 for i in range(128)]},
        Outcome.FIRE,
    ),
    (
        "rhythm.irregular",
        {"rr_intervals_ms": [800 + (i % 2) * 10 for i in range(128)]},
        Outcome.CLEAR,
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "inputs", "outcome"),
    CASES,
    ids=[f"{c[0]}-{c[2].value}-{i}" for i, c in enumerate(CASES)],
)
def test_rule_outcome_on_each_side_of_its_thresholds(
    rule_id: str, inputs: dict[str, Any], outcome: Outcome
) -> None:
    """Each rule fires at its threshold, holds between fire and clear, clears past clear."""
    assert _outcomes(inputs)[rule_id] is outcome


def test_every_rule_has_a_firing_case() -> None:
    """The table above makes every catalogued rule fire at least once."""
    assert {rule for rule, _, outcome in CASES if outcome is Outcome.FIRE} == set(CATALOGUE)


def test_rules_without_their_inputs_are_not_checked() -> None:
    """With only a glucose reading, only glucose rules are checked."""
    assert set(_outcomes({"glucose_mmol_l": 6.0})) == {
        "glucose.hypo_level_2",
        "glucose.urgent_referral",
        "glucose.hyper",
    }


def test_a_short_rr_series_is_not_screened() -> None:
    """Fewer than 128 beats give no irregular-rhythm check at all."""
    assert "rhythm.irregular" not in _outcomes({"rr_intervals_ms": [800, 810, 790]})


def test_a_partial_news2_can_raise_but_never_clear() -> None:
    """Partial NEWS2 fires on its lower bound but a low partial score holds, never clears."""
    assert (
        _outcomes({"heart_rate_bpm": 135, "spo2_percent": 91, "temperature_c": 39.5})["news2.high"]
        is Outcome.FIRE
    )
    low_partial = _outcomes({**FULL_NORMAL, "consciousness": None})
    assert set(low_partial[r] for r in ("news2.high", "news2.medium", "news2.single_red")) == {
        Outcome.HOLD
    }


def test_a_hit_carries_severity_reason_and_evidence() -> None:
    """A hit names its severity, explains itself in plain words and shows the readings."""
    hit = _hits({"systolic_mmhg": 182, "diastolic_mmhg": 100})["bp.urgent_referral"]
    assert hit.severity is Severity.URGENT
    assert "182/100 mmHg" in hit.reason
    assert "180/110" in hit.reason
    assert hit.evidence["systolic_mmhg"] == 182
    assert hit.evidence["bp_class"] == "grade_3"


def test_partial_news2_reason_says_at_least() -> None:
    """The reason of a partial NEWS2 says the score is a lower bound."""
    hit = _hits({"heart_rate_bpm": 135, "spo2_percent": 91, "temperature_c": 39.5})["news2.high"]
    assert hit.severity is Severity.EMERGENCY
    assert "at least 8 (3 of 7 parameters measured)" in hit.reason


def test_evaluate_returns_only_firing_rules() -> None:
    """Normal readings give no alert candidates."""
    assert evaluate(observations_from_mapping(FULL_NORMAL), RULES) == []


def test_one_reading_can_hit_several_families() -> None:
    """A band reading of HR 125 and SpO2 92 hits NEWS2, tachycardia and SpO2 rules."""
    assert set(_hits({"heart_rate_bpm": 125, "spo2_percent": 92})) == {
        "vitals.tachycardia_rest",
        "vitals.spo2_below_target",
    }
    assert "news2.medium" in _hits(
        {"heart_rate_bpm": 125, "spo2_percent": 92, "respiration_rate": 22}
    )


def test_the_agent_loop_fires_only_after_persistence() -> None:
    """Feeding checks to step: resting tachycardia alerts on the 3rd reading, clears after 3."""
    state = RuleState()
    policy = RULES.rules["vitals.tachycardia_rest"].policy
    transitions = []
    for rate in [112, 115, 118, 120, 94, 93, 97, 92, 91, 90]:
        outcome = _outcomes({"heart_rate_bpm": rate})["vitals.tachycardia_rest"]
        state, transition = step(state, outcome, policy)
        transitions.append(transition)
    assert transitions == [
        Transition.PENDING,
        Transition.PENDING,
        Transition.FIRED,
        Transition.REPEAT,
        Transition.NONE,
        Transition.NONE,
        Transition.NONE,
        Transition.NONE,
        Transition.NONE,
        Transition.CLEARED,
    ]
