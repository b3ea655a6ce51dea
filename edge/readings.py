"""From a decoded payload to a reading: kind, SI values, device time, flags (pure).

The decoders give every field a characteristic has (``as_dict()`` of ``carepulse decode``);
an observation carries the measured values under unit-bearing names, the device's own
time and the device's flags. This module is that mapping, one small function per payload.

Outcomes:

* :class:`Reading`: something to send;
* :class:`Skip`: nothing to send and nothing wrong (a scale still settling, a band
  broadcasting "no heart rate", an empty notification);
* :class:`Unusable`: the device sent a frame that decodes but holds no usable value (every
  value a special IEEE-11073 code), or (decoded fields sent over MQTT) a field of the wrong
  type: a measured value that is not a number, a time stamp that is not ISO 8601, a user
  index that is not an integer; it goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from carepulse.observation import Flag, Kind, Value
from edge.decoders.units import KG_PER_JIN, KG_PER_LB, MMHG_PER_KPA

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reading:
    """What one payload measured."""

    kind: Kind
    values: Mapping[str, Value]
    #: the device's own clock (naive: device local time), None when it sent no time
    device_time: datetime | None = None
    #: the device's user index (multi-user scales and BP meters), None when not sent
    user_index: int | None = None
    flags: Mapping[str, Flag] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing to send, and nothing wrong."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unusable:
    """The frame decoded but carries no usable measurement."""

    reason: str
    field: str


Outcome = Reading | Skip | Unusable

#: SIG "user index unknown" (Weight Scale / BP / Body Composition).
UNKNOWN_USER: Final = 0xFF


#: Values that are labels; every other value is a number or a series of numbers.
_LABELS: Final = frozenset({"site", "sample_type", "sample_location"})


class _WrongField(ValueError):
    """A decoded field of the wrong type (only fields sent as JSON over MQTT can be)."""

    def __init__(self, reason: str, *, field: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def reading_from(name: str, fields: JsonDict) -> Outcome:
    """Map ``decode(name, payload).as_dict()`` (or the same fields sent over MQTT) to a reading.

    Raises:
        KeyError: ``name`` is a payload that carries no measurement (control points,
            feature and time characteristics); callers only pass measurements.
    """
    mapper = _MAPPERS[name]
    try:
        outcome = mapper(fields)
        if isinstance(outcome, Reading):
            _check_numbers(outcome.values)
    except _WrongField as exc:
        return Unusable(exc.reason, exc.field)
    return outcome


def _check_numbers(values: Mapping[str, Value]) -> None:
    for name, value in values.items():
        if name in _LABELS or value is None:
            continue
        items = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
            msg = f"{name} must be a number (or a list of numbers), not {value!r:.40}"
            raise _WrongField(msg, field=name)


_TO_KG: Final = {"kg": 1.0, "lb": KG_PER_LB, "jin": KG_PER_JIN}
_TO_MMHG: Final = {"mmHg": 1.0, "kPa": MMHG_PER_KPA}


def apply_unit_overrides(fields: JsonDict, units: Mapping[str, str]) -> JsonDict:
    """Re-read the as-sent values in the unit a device really uses (its flags lie).

    ``units`` maps ``weight``/``temperature``/``pressure`` to the true unit; the SI fields
    (``weight_kg``, ``temperature_c``, ``*_mmhg``) are recomputed from the as-sent ones.
    """
    fixed = dict(fields)
    weight_unit = units.get("weight")
    if weight_unit is not None and isinstance(fixed.get("weight"), int | float):
        fixed["weight_kg"] = fixed["weight"] * _TO_KG[weight_unit]
        fixed["unit"] = weight_unit
    temperature_unit = units.get("temperature")
    if temperature_unit is not None and isinstance(fixed.get("temperature"), int | float):
        value = fixed["temperature"]
        fixed["temperature_c"] = value if temperature_unit == "C" else (value - 32) * 5 / 9
        fixed["unit"] = temperature_unit
    pressure_unit = units.get("pressure")
    if pressure_unit is not None:
        for sent in ("systolic", "diastolic", "mean_arterial_pressure"):
            if isinstance(fixed.get(sent), int | float):
                fixed[f"{sent}_mmhg"] = fixed[sent] * _TO_MMHG[pressure_unit]
        fixed["unit"] = pressure_unit
    return fixed


def measurement_names() -> frozenset[str]:
    """The payload names that carry a measurement."""
    return frozenset(_MAPPERS)


def _values(fields: JsonDict, names: tuple[str, ...]) -> dict[str, Value]:
    return {n: fields[n] for n in names if fields.get(n) is not None}


def _time(fields: JsonDict) -> datetime | None:
    stamp = fields.get("timestamp")
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        msg = f"timestamp {stamp!r:.40} is not an ISO 8601 time (YYYY-MM-DDTHH:MM:SS)"
        raise _WrongField(msg, field="timestamp") from None
    if when.tzinfo is not None:
        # Devices stamp local time without a zone (the registry's zone applies).
        msg = f"timestamp {stamp!r:.40} carries a zone; send the device's local time without one"
        raise _WrongField(msg, field="timestamp")
    return when


def _user(fields: JsonDict) -> int | None:
    user = fields.get("user_id")
    if user is None or user == UNKNOWN_USER:
        return None
    if not isinstance(user, int) or isinstance(user, bool):
        msg = f"user_id {user!r:.40} is not an integer user index"
        raise _WrongField(msg, field="user_id")
    return user


def _status_flags(fields: JsonDict, key: str) -> dict[str, Flag]:
    return {str(name): True for name in fields.get(key) or ()}


def _heart_rate(fields: JsonDict) -> Outcome:
    if fields.get("heart_rate_bpm") is None:
        return Skip("no heart rate in the frame")
    values = _values(fields, ("heart_rate_bpm", "energy_expended_kj"))
    if fields.get("rr_intervals_s"):
        if not isinstance(fields["rr_intervals_s"], list | tuple):
            msg = "rr_intervals_s must be a list of seconds"
            raise _WrongField(msg, field="rr_intervals_s")
        values["rr_intervals_s"] = tuple(fields["rr_intervals_s"])
    contact = fields.get("sensor_contact")
    if contact is False:
        return Skip("band reports no skin contact")
    flags: dict[str, Flag] = {} if contact is None else {"sensor_contact": True}
    return Reading(Kind.HEART_RATE, values, flags=flags)


def _blood_pressure(fields: JsonDict) -> Outcome:
    values = _values(
        fields,
        ("systolic_mmhg", "diastolic_mmhg", "mean_arterial_pressure_mmhg", "pulse_rate_bpm"),
    )
    if "systolic_mmhg" not in values or "diastolic_mmhg" not in values:
        return Unusable("the meter sent no valid systolic/diastolic value", "systolic")
    flags = _status_flags(fields, "measurement_status")
    if fields.get("pulse_rate_range") not in (None, "in_range"):
        flags["pulse_rate_range"] = fields["pulse_rate_range"]
    return Reading(
        Kind.BLOOD_PRESSURE, values, _time(fields), user_index=_user(fields), flags=flags
    )


def _weight(fields: JsonDict) -> Outcome:
    values = _values(fields, ("weight_kg", "bmi", "height_m"))
    if "weight_kg" not in values:
        return Unusable("the scale sent no valid weight", "weight")
    return Reading(Kind.WEIGHT, values, _time(fields), user_index=_user(fields))


_BODY: Final = (
    "weight_kg",
    "height_m",
    "body_fat_percent",
    "basal_metabolism_kj",
    "muscle_percent",
    "muscle_mass_kg",
    "fat_free_mass_kg",
    "soft_lean_mass_kg",
    "body_water_mass_kg",
    "impedance_ohm",
)


def _body_composition(fields: JsonDict) -> Outcome:
    values = _values(fields, _BODY)
    if not values:
        return Unusable("the scale sent no valid body-composition value", "body_fat_percent")
    return Reading(Kind.BODY_COMPOSITION, values, _time(fields), user_index=_user(fields))


def _spo2(fields: JsonDict) -> Outcome:
    values = _values(fields, ("spo2_percent", "pulse_rate_bpm", "pulse_amplitude_index_percent"))
    if "spo2_percent" not in values:
        return Unusable("the oximeter sent no valid SpO2", "spo2")
    flags = _status_flags(fields, "measurement_status")
    flags.update(_status_flags(fields, "device_and_sensor_status"))
    return Reading(Kind.SPO2, values, _time(fields), flags=flags)


def _temperature(fields: JsonDict) -> Outcome:
    if fields.get("temperature_c") is None:
        return Unusable("the thermometer sent no valid temperature", "temperature")
    values: dict[str, Value] = {"temperature_c": fields["temperature_c"]}
    if fields.get("temperature_type"):
        values["site"] = str(fields["temperature_type"])
    return Reading(Kind.TEMPERATURE, values, _time(fields))


def _glucose(fields: JsonDict) -> Outcome:
    if fields.get("glucose_mmol_l") is None:
        return Unusable("the meter sent no valid glucose concentration", "concentration")
    values: dict[str, Value] = {"glucose_mmol_l": fields["glucose_mmol_l"]}
    if fields.get("type"):
        values["sample_type"] = str(fields["type"])
    if fields.get("sample_location"):
        values["sample_location"] = str(fields["sample_location"])
    flags = _status_flags(fields, "sensor_status")
    sequence = fields.get("sequence_number")
    if sequence is not None:
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            msg = f"sequence_number {sequence!r:.40} is not an integer"
            raise _WrongField(msg, field="sequence_number")
        flags["sequence_number"] = sequence
    return Reading(Kind.GLUCOSE, values, _time(fields), flags=flags)


def _mi_scale(fields: JsonDict) -> Outcome:
    if not fields.get("stabilized") or fields.get("load_removed"):
        # The scale adverts while the person steps on and off; only the settled weight counts.
        return Skip("scale reading not stabilized")
    values = _values(fields, ("weight_kg", "impedance_ohm"))
    return Reading(Kind.WEIGHT, values, _time(fields))


def _mi_band(fields: JsonDict) -> Outcome:
    if fields.get("heart_rate_bpm") is None:
        return Skip("band broadcasts no heart rate")
    return Reading(Kind.HEART_RATE, {"heart_rate_bpm": fields["heart_rate_bpm"]})


_MAPPERS: Final[Mapping[str, Callable[[JsonDict], Outcome]]] = {
    "heart_rate_measurement": _heart_rate,
    "blood_pressure_measurement": _blood_pressure,
    "weight_measurement": _weight,
    "body_composition_measurement": _body_composition,
    "plx_spot_check_measurement": _spo2,
    "plx_continuous_measurement": _spo2,
    "temperature_measurement": _temperature,
    "glucose_measurement": _glucose,
    "mi_scale": _mi_scale,
    "mi_body_scale": _mi_scale,
    "mi_band_heart_rate": _mi_band,
}
