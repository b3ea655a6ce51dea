"""Blood pressure: China grades, thresholds by measurement method, BPHS urgent referral.

Sources (defaults in ``default_rules.toml``):

* grades -- 2018 Chinese Guidelines for Prevention and Treatment of Hypertension, table
  "Classification of BP levels" (J Geriatr Cardiol 2019;16(3):182-241); the 2024 revision
  (中国高血压防治指南 2024年修订版) keeps the same table. When systolic and diastolic fall
  in different grades the higher grade applies;
* thresholds by method -- office >=140/90, home >=135/85, ambulatory 24 h >=130/80,
  daytime >=135/85, night-time >=120/70 (both guidelines); either number at or over
  its threshold counts;
* urgent referral -- 国家基本公共卫生服务规范(第三版): systolic >=180 and/or diastolic >=110.

Values are compared unrounded against lower bounds (a home mean of 139.5 is below 140),
so averaged readings never fall between two rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class BpClass(StrEnum):
    """China BP level, from the grade table of the configured guideline."""

    NORMAL = "normal"
    HIGH_NORMAL = "high_normal"
    GRADE_1 = "grade_1"
    GRADE_2 = "grade_2"
    GRADE_3 = "grade_3"


class BpMethod(StrEnum):
    """How the reading was taken; it decides the hypertension threshold."""

    OFFICE = "office"
    HOME = "home"
    ABPM_DAY = "abpm_day"
    ABPM_NIGHT = "abpm_night"
    ABPM_24H = "abpm_24h"


@dataclass(frozen=True, slots=True)
class BpPair:
    """A systolic/diastolic threshold pair in mmHg; reached when *either* number is."""

    systolic: float
    diastolic: float

    def reached_by(self, systolic: float, diastolic: float) -> bool:
        """Either number is at or above its threshold ("and/or" in the guidelines)."""
        return systolic >= self.systolic or diastolic >= self.diastolic


@dataclass(frozen=True, slots=True)
class BpTable:
    """The BP thresholds in force.

    Attributes:
        guideline: the guideline the grade table comes from (``cn2018`` or ``cn2024``).
        grades: lower bounds of each class above normal, ascending.
        by_method: hypertension threshold per measurement method.
        urgent_referral: the BPHS urgent-referral pair.
    """

    guideline: str
    grades: tuple[tuple[BpClass, BpPair], ...]
    by_method: Mapping[BpMethod, BpPair]
    urgent_referral: BpPair


@dataclass(frozen=True, slots=True)
class BpAssessment:
    """One BP reading assessed.

    Attributes:
        systolic: systolic pressure, mmHg.
        diastolic: diastolic pressure, mmHg.
        bp_class: the grade (higher of the systolic and diastolic grades).
        isolated_systolic: hypertensive by systolic only (office: SBP >=140 and DBP <90).
        hypertensive: at or over the threshold of ``method``.
        urgent_referral: at or over the BPHS urgent-referral pair.
        method: the measurement method used for ``hypertensive``.
        threshold: the threshold of ``method``.
    """

    systolic: float
    diastolic: float
    bp_class: BpClass
    isolated_systolic: bool
    hypertensive: bool
    urgent_referral: bool
    method: BpMethod
    threshold: BpPair


def classify(systolic: float, diastolic: float, table: BpTable) -> BpClass:
    """The highest class whose lower bound either number reaches."""
    found = BpClass.NORMAL
    for bp_class, lower in table.grades:
        if lower.reached_by(systolic, diastolic):
            found = bp_class
    return found


def assess_bp(
    systolic: float, diastolic: float, table: BpTable, method: BpMethod = BpMethod.OFFICE
) -> BpAssessment:
    """Grade a reading and check it against its method's threshold and the referral pair.

    Args:
        systolic: systolic pressure, mmHg.
        diastolic: diastolic pressure, mmHg.
        table: thresholds in force.
        method: how it was measured (office when unknown).
    """
    threshold = table.by_method[method]
    return BpAssessment(
        systolic=systolic,
        diastolic=diastolic,
        bp_class=classify(systolic, diastolic, table),
        isolated_systolic=systolic >= threshold.systolic and diastolic < threshold.diastolic,
        hypertensive=threshold.reached_by(systolic, diastolic),
        urgent_referral=table.urgent_referral.reached_by(systolic, diastolic),
        method=method,
        threshold=threshold,
    )
