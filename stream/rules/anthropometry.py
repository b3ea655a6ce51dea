"""BMI and waist classes for Chinese adults (WS/T 428-2013 成人体重判定).

BMI = kg / m², compared unrounded: underweight < 18.5 <= normal < 24.0 <= overweight
< 28.0 <= obese (WS/T 428-2013 table 1; restated in 体重管理指导原则 2024年版). Waist:
men 85 to < 90 cm and women 80 to < 85 cm are pre-central obesity (中心型肥胖前期), men
>= 90 cm and women >= 85 cm central obesity (WS/T 428-2013 table 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BmiClass(StrEnum):
    """WS/T 428-2013 BMI class."""

    UNDERWEIGHT = "underweight"
    NORMAL = "normal"
    OVERWEIGHT = "overweight"
    OBESE = "obese"


class WaistClass(StrEnum):
    """WS/T 428-2013 waist class."""

    NORMAL = "normal"
    PRE_CENTRAL_OBESITY = "pre_central_obesity"
    CENTRAL_OBESITY = "central_obesity"


class Sex(StrEnum):
    """Sex as the waist table splits it."""

    MALE = "M"
    FEMALE = "F"


@dataclass(frozen=True, slots=True)
class BmiTable:
    """BMI cut-offs (kg/m²)."""

    underweight_below: float
    overweight_from: float
    obese_from: float


@dataclass(frozen=True, slots=True)
class WaistTable:
    """Waist cut-offs (cm) by sex."""

    male_pre_central_from: float
    male_central_from: float
    female_pre_central_from: float
    female_central_from: float

    def cutoffs(self, sex: Sex) -> tuple[float, float]:
        """(pre-central-obesity lower bound, central-obesity lower bound) for ``sex``."""
        if sex is Sex.MALE:
            return self.male_pre_central_from, self.male_central_from
        return self.female_pre_central_from, self.female_central_from


def bmi(weight_kg: float, height_m: float) -> float:
    """Body-mass index, kg/m², unrounded."""
    return weight_kg / (height_m * height_m)


def classify_bmi(value: float, table: BmiTable) -> BmiClass:
    """The WS/T 428-2013 class of an unrounded BMI."""
    if value < table.underweight_below:
        return BmiClass.UNDERWEIGHT
    if value >= table.obese_from:
        return BmiClass.OBESE
    if value >= table.overweight_from:
        return BmiClass.OVERWEIGHT
    return BmiClass.NORMAL


def classify_waist(waist_cm: float, sex: Sex, table: WaistTable) -> WaistClass:
    """The WS/T 428-2013 class of a waist circumference."""
    pre_central, central = table.cutoffs(sex)
    if waist_cm >= central:
        return WaistClass.CENTRAL_OBESITY
    if waist_cm >= pre_central:
        return WaistClass.PRE_CENTRAL_OBESITY
    return WaistClass.NORMAL
