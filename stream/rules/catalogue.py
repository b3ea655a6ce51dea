"""The catalogue of rules: ids, severities, their clear keys and their evidence.

The rules file configures each rule listed here, and only these: a rule's *condition*
is code (:mod:`stream.rules.evaluate`), its thresholds, policy, wording and source are
data (``default_rules.toml``). Each entry names the numeric keys of its clear
condition (hysteresis) and a sample of the evidence its reason template may use; the
sample lets the rules loader render every template once and refuse a broken one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

#: A value in a hit's evidence (flat, JSON-ready).
EvidenceValue = float | int | str | bool | None


class Severity(StrEnum):
    """How fast the social-worker queue must act (research strata P0-P3)."""

    EMERGENCY = "emergency"
    URGENT = "urgent"
    FOLLOW_UP = "follow-up"
    ENGAGEMENT = "engagement"


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """What the code knows about one rule.

    Attributes:
        clear_keys: numeric keys of the clear condition, required in the rules file.
        evidence: a sample of the evidence the check produces (names and types).
    """

    clear_keys: tuple[str, ...]
    evidence: Mapping[str, EvidenceValue]


def _entry(clear_keys: tuple[str, ...], **evidence: EvidenceValue) -> RuleEntry:
    return RuleEntry(clear_keys=clear_keys, evidence=MappingProxyType(evidence))


_NEWS2_EVIDENCE: Final[Mapping[str, EvidenceValue]] = MappingProxyType(
    {
        "score": 7,
        "score_text": "at least 7 (4 of 7 parameters measured)",
        "complete": False,
        "scored": 4,
        "missing": "respiration_rate, consciousness, temperature_c",
        "red": "heart_rate_bpm",
    }
)
_BP_EVIDENCE: Final[Mapping[str, EvidenceValue]] = MappingProxyType(
    {
        "systolic_mmhg": 182.0,
        "diastolic_mmhg": 100.0,
        "bp_class": "grade_3",
        "method": "office",
        "threshold_systolic": 180.0,
        "threshold_diastolic": 110.0,
    }
)
_BMI_EVIDENCE: Final[Mapping[str, EvidenceValue]] = MappingProxyType(
    {"bmi": 28.03, "weight_kg": 76.3, "height_m": 1.65, "threshold": 28.0}
)

#: Every rule the code can evaluate, by id.
CATALOGUE: Final[Mapping[str, RuleEntry]] = MappingProxyType(
    {
        "news2.high": _entry(("clear_score_at_most",), **_NEWS2_EVIDENCE),
        "news2.medium": _entry(("clear_score_at_most",), **_NEWS2_EVIDENCE),
        "news2.single_red": _entry((), **_NEWS2_EVIDENCE),
        "vitals.tachycardia_rest": _entry(
            ("clear_bpm_at_most",), heart_rate_bpm=112.0, threshold_bpm=100.0
        ),
        "vitals.bradycardia_rest": _entry(
            ("clear_bpm_at_least",), heart_rate_bpm=38.0, threshold_bpm=40.0
        ),
        "vitals.fever": _entry(("clear_c_at_most",), temperature_c=37.8, threshold_c=37.3),
        "vitals.high_fever": _entry(("clear_c_at_most",), temperature_c=39.4, threshold_c=39.0),
        "vitals.spo2_below_target": _entry(
            ("clear_margin_percent",), spo2_percent=92.0, scale=1, target_floor=94.0
        ),
        "vitals.spo2_severe": _entry(
            ("clear_margin_percent",), spo2_percent=86.0, scale=1, threshold=88.0
        ),
        "bp.urgent_referral": _entry(
            ("clear_systolic_below", "clear_diastolic_below"), **_BP_EVIDENCE
        ),
        "bp.hypertensive": _entry(("clear_margin_mmhg",), **_BP_EVIDENCE),
        "glucose.hypo_level_2": _entry(
            ("clear_mmol_l_at_least",), glucose_mmol_l=2.9, threshold=3.0, diabetic=True
        ),
        "glucose.urgent_referral": _entry(
            ("clear_low_above", "clear_high_below"),
            glucose_mmol_l=17.2,
            glucose_class="hyper",
            high_threshold=16.7,
            low_threshold=3.9,
            diabetic=True,
        ),
        "glucose.hyper": _entry(("clear_mmol_l_below",), glucose_mmol_l=12.4, threshold=11.1),
        "anthropometry.underweight": _entry(("clear_bmi_at_least",), **_BMI_EVIDENCE),
        "anthropometry.overweight": _entry(("clear_bmi_below",), **_BMI_EVIDENCE),
        "anthropometry.obese": _entry(("clear_bmi_below",), **_BMI_EVIDENCE),
        "anthropometry.central_obesity": _entry(
            ("clear_margin_cm",), waist_cm=92.0, sex="M", threshold=90.0
        ),
        "weight_change.rapid_gain": _entry(
            ("clear_gain_kg_at_most",), gain_kg=2.1, days=3, threshold_kg=2.0, within_days=3
        ),
        "rhythm.irregular": _entry((), nrmssd=0.29, tpr=0.82, shannon_entropy=0.99, beats=128),
    }
)
