"""The observations the rules read, and their validation from JSON.

``carepulse assess`` takes one JSON object; every key is optional and ``null`` means
absent. Numbers must be finite and physically plausible (the same ranges the ingest
agent applies where the issue names them: heart rate 20-300 bpm, systolic 50-300 mmHg,
SpO2 50-100 %, weight 2-400 kg); a value out of range is far more often a unit mix-up
(height in cm, temperature in °F) than a reading, so it is refused naming its key.
Unknown keys are refused too: a misspelt ``spo2`` must not silently drop SpO2 from the
score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final, NoReturn, TypeVar

from stream.errors import AssessInputError
from stream.rules.anthropometry import Sex
from stream.rules.bp import BpMethod


class Consciousness(StrEnum):
    """ACVPU level."""

    ALERT = "A"
    NEW_CONFUSION = "C"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


#: Plausible (inclusive) range per numeric input key.
PLAUSIBLE: Final = MappingProxyType(
    {
        "respiration_rate": (0.0, 80.0),
        "spo2_percent": (50.0, 100.0),
        "temperature_c": (25.0, 45.0),
        "systolic_mmhg": (50.0, 300.0),
        "diastolic_mmhg": (20.0, 200.0),
        "heart_rate_bpm": (20.0, 300.0),
        "weight_kg": (2.0, 400.0),
        "height_m": (0.5, 2.5),
        "waist_cm": (30.0, 250.0),
        "glucose_mmol_l": (0.5, 60.0),
        "rr_interval_ms": (200.0, 3000.0),
    }
)

_MAX_SERIES: Final = 4096


@dataclass(frozen=True, slots=True)
class Observations:
    """One resident's observations at one assessment; every field may be absent."""

    respiration_rate: float | None = None
    spo2_percent: float | None = None
    on_oxygen: bool | None = None
    spo2_scale: int | None = None
    temperature_c: float | None = None
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    bp_method: BpMethod | None = None
    heart_rate_bpm: float | None = None
    consciousness: Consciousness | None = None
    weight_kg: float | None = None
    height_m: float | None = None
    waist_cm: float | None = None
    sex: Sex | None = None
    glucose_mmol_l: float | None = None
    diabetic: bool | None = None
    rr_intervals_ms: tuple[float, ...] | None = None
    weights: tuple[tuple[date, float], ...] | None = None


#: The input keys ``carepulse assess`` accepts.
INPUT_KEYS: Final = tuple(f.name for f in fields(Observations))

_E = TypeVar("_E", bound=StrEnum)


def _fail(key: str, reason: str) -> NoReturn:
    raise AssessInputError(key, reason)


def _number(value: object, key: str, range_key: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(key, f"expected a number, got {json.dumps(value)}")
    if not math.isfinite(value):
        _fail(key, "expected a finite number")
    low, high = PLAUSIBLE[range_key or key]
    if not low <= value <= high:
        _fail(key, f"{value} is outside the plausible range {low:g}-{high:g}; check the unit")
    return float(value)


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        _fail(key, f"expected true or false, got {json.dumps(value)}")
    return value


def _choice(enum: type[_E], value: object, key: str) -> _E:
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    choices = "|".join(m.value for m in enum)
    _fail(key, f"expected one of {choices}, got {json.dumps(value)}")


def _scale(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2):
        return value
    _fail("spo2_scale", f"expected 1 or 2, got {json.dumps(value)}")


def _rr_series(value: object) -> tuple[float, ...]:
    key = "rr_intervals_ms"
    if not isinstance(value, list):
        _fail(key, "expected a list of RR intervals in ms")
    if not 2 <= len(value) <= _MAX_SERIES:
        _fail(key, f"expected 2 to {_MAX_SERIES} intervals, got {len(value)}")
    return tuple(_number(x, f"{key}[{i}]", "rr_interval_ms") for i, x in enumerate(value))


def _day(value: object, key: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            try:
                return datetime.fromisoformat(value).date()
            except ValueError:
                pass
    _fail(key, f"expected an ISO 8601 date such as 2026-11-27, got {json.dumps(value)}")


def _weights(value: object) -> tuple[tuple[date, float], ...]:
    key = "weights"
    if not isinstance(value, list) or not value:
        _fail(key, 'expected a non-empty list of ["YYYY-MM-DD", kg] pairs')
    if len(value) > _MAX_SERIES:
        _fail(key, f"expected at most {_MAX_SERIES} weighings, got {len(value)}")
    pairs = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2:
            _fail(f"{key}[{i}]", 'expected a ["YYYY-MM-DD", kg] pair')
        pairs.append(
            (_day(item[0], f"{key}[{i}][0]"), _number(item[1], f"{key}[{i}][1]", "weight_kg"))
        )
    return tuple(pairs)


def observations_from_mapping(data: object) -> Observations:
    """Validate a decoded JSON object into :class:`Observations`.

    Raises:
        AssessInputError: naming the first key at fault (unknown keys first).
    """
    if not isinstance(data, Mapping):
        _fail("(input)", f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in INPUT_KEYS)
    if unknown:
        _fail(unknown[0], f"unknown input key; known keys: {', '.join(INPUT_KEYS)}")
    given = {k: v for k, v in data.items() if v is not None}
    numbers = {k: _number(given[k], k) for k in PLAUSIBLE if k in given and k in INPUT_KEYS}
    observations = Observations(
        respiration_rate=numbers.get("respiration_rate"),
        spo2_percent=numbers.get("spo2_percent"),
        on_oxygen=_flag(given["on_oxygen"], "on_oxygen") if "on_oxygen" in given else None,
        spo2_scale=_scale(given["spo2_scale"]) if "spo2_scale" in given else None,
        temperature_c=numbers.get("temperature_c"),
        systolic_mmhg=numbers.get("systolic_mmhg"),
        diastolic_mmhg=numbers.get("diastolic_mmhg"),
        bp_method=_choice(BpMethod, given["bp_method"], "bp_method")
        if "bp_method" in given
        else None,
        heart_rate_bpm=numbers.get("heart_rate_bpm"),
        consciousness=_choice(Consciousness, given["consciousness"], "consciousness")
        if "consciousness" in given
        else None,
        weight_kg=numbers.get("weight_kg"),
        height_m=numbers.get("height_m"),
        waist_cm=numbers.get("waist_cm"),
        sex=_choice(Sex, given["sex"], "sex") if "sex" in given else None,
        glucose_mmol_l=numbers.get("glucose_mmol_l"),
        diabetic=_flag(given["diabetic"], "diabetic") if "diabetic" in given else None,
        rr_intervals_ms=_rr_series(given["rr_intervals_ms"])
        if "rr_intervals_ms" in given
        else None,
        weights=_weights(given["weights"]) if "weights" in given else None,
    )
    systolic, diastolic = observations.systolic_mmhg, observations.diastolic_mmhg
    if systolic is not None and diastolic is not None and diastolic >= systolic:
        _fail("diastolic_mmhg", f"{diastolic:g} is not below systolic {systolic:g}")
    return observations


def observations_from_json(text: str | bytes) -> Observations:
    """Parse and validate one JSON object of observations.

    Raises:
        AssessInputError: ``(input)`` when the text is not JSON, else the key at fault.
    """
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail("(input)", f"not valid JSON ({exc})")
    return observations_from_mapping(data)
