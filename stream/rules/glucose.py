"""Blood glucose: hypoglycaemia levels, hyperglycaemia, BPHS urgent referral.

* Hypoglycaemia in people with diabetes is glucose < 3.9 mmol/L (China T2DM guideline
  2020; ADA Standards of Care table 6.3 level 1 "< 70 mg/dL"); level 2 is < 3.0 mmol/L
  (< 54 mg/dL). Level 3 is clinical (needs assistance) and has no glucose threshold.
* In people without diabetes hypoglycaemia is < 2.8 mmol/L (China guideline); such a
  value is also below 3.0, so it is reported as level 2.
* ``hyper`` is >= 11.1 mmol/L, the random-glucose cut-off of the WHO 1999 criteria
  China uses (any time of day, so it needs no fasting context).
* BPHS urgent referral at a T2DM follow-up: glucose >= 16.7 or <= 3.9 mmol/L
  (国家基本公共卫生服务规范(第三版), 2型糖尿病患者健康管理服务规范). The low arm is
  "<= 3.9" there while the hypoglycaemia definition is "< 3.9", so exactly 3.9 is class
  ``normal`` *and* an urgent referral; the low arm applies to people with diabetes (it
  is the diabetes follow-up spec), the high arm and any hypoglycaemia to everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class GlucoseClass(StrEnum):
    """Glucose class as ``carepulse assess`` reports it."""

    NORMAL = "normal"
    HYPO_LEVEL_1 = "hypo_level_1"
    HYPO_LEVEL_2 = "hypo_level_2"
    HYPER = "hyper"


@dataclass(frozen=True, slots=True)
class GlucoseTable:
    """Glucose thresholds, mmol/L."""

    hypo_diabetic_below: float
    hypo_non_diabetic_below: float
    level_2_below: float
    hyper_from: float
    referral_high_from: float
    referral_low_at_or_below: float


@dataclass(frozen=True, slots=True)
class GlucoseAssessment:
    """One glucose reading assessed.

    Attributes:
        glucose_class: hypoglycaemia level, normal or hyper.
        urgent_referral: the BPHS urgent-referral condition (or any hypoglycaemia).
        diabetic: whether the diabetic thresholds were used.
    """

    glucose_class: GlucoseClass
    urgent_referral: bool
    diabetic: bool


def classify_glucose(glucose_mmol_l: float, *, diabetic: bool, table: GlucoseTable) -> GlucoseClass:
    """The class of a glucose reading.

    Args:
        glucose_mmol_l: the reading.
        diabetic: use the diabetic hypoglycaemia threshold (3.9) rather than 2.8.
        table: thresholds in force.
    """
    hypo_below = table.hypo_diabetic_below if diabetic else table.hypo_non_diabetic_below
    if glucose_mmol_l < hypo_below:
        if glucose_mmol_l < table.level_2_below:
            return GlucoseClass.HYPO_LEVEL_2
        return GlucoseClass.HYPO_LEVEL_1
    if glucose_mmol_l >= table.hyper_from:
        return GlucoseClass.HYPER
    return GlucoseClass.NORMAL


def assess_glucose(
    glucose_mmol_l: float, *, diabetic: bool, table: GlucoseTable
) -> GlucoseAssessment:
    """Classify a reading and decide the urgent-referral flag."""
    glucose_class = classify_glucose(glucose_mmol_l, diabetic=diabetic, table=table)
    urgent = (
        glucose_mmol_l >= table.referral_high_from
        or (diabetic and glucose_mmol_l <= table.referral_low_at_or_below)
        or glucose_class in (GlucoseClass.HYPO_LEVEL_1, GlucoseClass.HYPO_LEVEL_2)
    )
    return GlucoseAssessment(glucose_class=glucose_class, urgent_referral=urgent, diabetic=diabetic)
