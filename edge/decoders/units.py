"""Unit enums and the conversion factors to SI-style values."""

from __future__ import annotations

import enum
from typing import Final

#: 1 lb in kg (exact, international pound).
KG_PER_LB: Final = 0.45359237
#: 1 in in m (exact).
M_PER_IN: Final = 0.0254
#: 1 kPa in mmHg (1 mmHg = 133.322387415 Pa).
MMHG_PER_KPA: Final = 1000 / 133.322387415
#: 1 jin (Chinese catty, 市斤) in kg.
KG_PER_JIN: Final = 0.5
#: Molar mass of glucose (C6H12O6) in g/mol, for kg/L -> mmol/L.
GLUCOSE_G_PER_MOL: Final = 180.156


class PressureUnit(enum.StrEnum):
    """Blood-pressure unit as sent."""

    MMHG = "mmHg"
    KPA = "kPa"


class WeightUnit(enum.StrEnum):
    """Mass unit as sent (the jin only on Xiaomi scales)."""

    KG = "kg"
    LB = "lb"
    JIN = "jin"


class TemperatureUnit(enum.StrEnum):
    """Temperature unit as sent."""

    CELSIUS = "C"
    FAHRENHEIT = "F"


class ConcentrationUnit(enum.StrEnum):
    """Glucose concentration unit as sent."""

    KG_PER_L = "kg/L"
    MOL_PER_L = "mol/L"
