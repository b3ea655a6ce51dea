"""Combine the rule families into one assessment -- the ``carepulse assess`` contract.

:func:`assess` computes every part whose inputs are present; :func:`assessment_to_dict`
renders exactly the keys of the DESIGN.md contract::

    news2   score, subscores, complete, missing, band (null when partial)
    bp      class, isolated_systolic, hypertensive, urgent_referral
    bmi     value (unrounded), class          waist   class
    glucose class, urgent_referral
    rhythm  rmssd_ms, sdnn_ms, pnn50_percent, nrmssd, tpr, shannon_entropy, irregular
    weight_change  gain_kg, days, rapid_gain

Presence: ``news2`` with any of its seven parameters; ``bp`` with systolic *and*
diastolic; ``bmi`` with weight and height; ``waist`` with waist and sex; ``glucose``
with a glucose; ``rhythm`` with RR intervals; ``weight_change`` with weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stream.rules.anthropometry import BmiClass, WaistClass, bmi, classify_bmi, classify_waist
from stream.rules.bp import BpAssessment, BpMethod, assess_bp
from stream.rules.config import RuleSet
from stream.rules.glucose import GlucoseAssessment, assess_glucose
from stream.rules.inputs import Observations
from stream.rules.news2 import News2, news2
from stream.rules.rhythm import RhythmFeatures, features
from stream.rules.weight_change import WeightChange, weight_change


@dataclass(frozen=True, slots=True)
class BmiResult:
    """A BMI and its class."""

    value: float
    bmi_class: BmiClass


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything the rules derived from one set of observations.

    Attributes:
        observations: the input, kept for the vital-sign rules and the evidence.
        spo2_scale: the NEWS2 SpO2 scale used (the input's, else the resident setting).
        news2: the NEWS2 score, or ``None`` without any NEWS2 parameter.
        bp: the BP assessment, or ``None`` without both pressures.
        bmi: the BMI, or ``None`` without weight and height.
        waist: the waist class, or ``None`` without waist and sex.
        glucose: the glucose assessment, or ``None`` without glucose.
        rhythm: the rhythm features, or ``None`` without RR intervals.
        weight_change: the weight change, or ``None`` without weights.
    """

    observations: Observations
    spo2_scale: int
    news2: News2 | None = None
    bp: BpAssessment | None = None
    bmi: BmiResult | None = None
    waist: WaistClass | None = None
    glucose: GlucoseAssessment | None = None
    rhythm: RhythmFeatures | None = None
    weight_change: WeightChange | None = None


def _news2(obs: Observations, scale: int) -> News2 | None:
    parameters = (
        obs.respiration_rate,
        obs.spo2_percent,
        obs.on_oxygen,
        obs.systolic_mmhg,
        obs.heart_rate_bpm,
        obs.consciousness,
        obs.temperature_c,
    )
    if all(p is None for p in parameters):
        return None
    return news2(
        respiration_rate=obs.respiration_rate,
        spo2_percent=obs.spo2_percent,
        on_oxygen=obs.on_oxygen,
        spo2_scale=scale,
        systolic_mmhg=obs.systolic_mmhg,
        heart_rate_bpm=obs.heart_rate_bpm,
        consciousness=None if obs.consciousness is None else obs.consciousness.value,
        temperature_c=obs.temperature_c,
    )


def assess(obs: Observations, rules: RuleSet) -> Assessment:
    """Assess one set of observations with the thresholds of ``rules`` (pure)."""
    tables = rules.tables
    scale = obs.spo2_scale or rules.settings.spo2_scale
    bp = None
    if obs.systolic_mmhg is not None and obs.diastolic_mmhg is not None:
        bp = assess_bp(
            obs.systolic_mmhg, obs.diastolic_mmhg, tables.bp, obs.bp_method or BpMethod.OFFICE
        )
    bmi_result = None
    if obs.weight_kg is not None and obs.height_m is not None:
        value = bmi(obs.weight_kg, obs.height_m)
        bmi_result = BmiResult(value, classify_bmi(value, tables.bmi))
    waist = None
    if obs.waist_cm is not None and obs.sex is not None:
        waist = classify_waist(obs.waist_cm, obs.sex, tables.waist)
    glucose = None
    if obs.glucose_mmol_l is not None:
        diabetic = rules.settings.diabetic_when_unknown if obs.diabetic is None else obs.diabetic
        glucose = assess_glucose(obs.glucose_mmol_l, diabetic=diabetic, table=tables.glucose)
    return Assessment(
        observations=obs,
        spo2_scale=scale,
        news2=_news2(obs, scale),
        bp=bp,
        bmi=bmi_result,
        waist=waist,
        glucose=glucose,
        rhythm=None
        if obs.rr_intervals_ms is None
        else features(obs.rr_intervals_ms, tables.rhythm),
        weight_change=None
        if obs.weights is None
        else weight_change(obs.weights, tables.weight_change),
    )


def assessment_to_dict(assessment: Assessment) -> dict[str, Any]:
    """The JSON-ready DESIGN.md form: only the parts that were computed, exact sub-keys."""
    out: dict[str, Any] = {}
    if (score := assessment.news2) is not None:
        out["news2"] = {
            "score": score.score,
            "subscores": dict(score.subscores),
            "complete": score.complete,
            "missing": list(score.missing),
            "band": None if score.band is None else score.band.value,
        }
    if (bp := assessment.bp) is not None:
        out["bp"] = {
            "class": bp.bp_class.value,
            "isolated_systolic": bp.isolated_systolic,
            "hypertensive": bp.hypertensive,
            "urgent_referral": bp.urgent_referral,
        }
    if (result := assessment.bmi) is not None:
        out["bmi"] = {"value": result.value, "class": result.bmi_class.value}
    if (waist := assessment.waist) is not None:
        out["waist"] = {"class": waist.value}
    if (glucose := assessment.glucose) is not None:
        out["glucose"] = {
            "class": glucose.glucose_class.value,
            "urgent_referral": glucose.urgent_referral,
        }
    if (rhythm := assessment.rhythm) is not None:
        out["rhythm"] = {
            "rmssd_ms": rhythm.rmssd_ms,
            "sdnn_ms": rhythm.sdnn_ms,
            "pnn50_percent": rhythm.pnn50_percent,
            "nrmssd": rhythm.nrmssd,
            "tpr": rhythm.tpr,
            "shannon_entropy": rhythm.shannon_entropy,
            "irregular": rhythm.irregular,
        }
    if (change := assessment.weight_change) is not None:
        out["weight_change"] = {
            "gain_kg": change.gain_kg,
            "days": change.days,
            "rapid_gain": change.rapid_gain,
        }
    return out
