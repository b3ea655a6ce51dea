"""Plausibility of an observation's values and device clock (pure).

The ingest agent asks two questions of every schema-valid observation:

* **Are the values physically possible?** :data:`DEFAULT_RANGES` holds an inclusive
  range per value name (``heart_rate_bpm`` 20-300, ``systolic_mmhg`` 50-300, ...). A value
  outside its range is far more often a unit mix-up or a sensor fault than a reading, so
  the whole observation is rejected with a reason naming the value. ``null`` means "no
  value" (the wire contract) and is not checked; unknown names are passed through.
  A series (``rr_intervals_s``) is checked item by item. Blood pressure also needs the
  diastolic below the systolic. Each kind needs its main value (:data:`REQUIRED`).
* **Is the device clock sane?** A ``measured_at`` more than :data:`MAX_FUTURE` after the
  gateway's ``received_at``, or more than :data:`MAX_PAST` before it, is a wrong device
  clock: the observation is kept but flagged, and its event time (which windows and the
  record timestamp use) becomes ``received_at``. Same bounds as the gateway's
  ``edge.records.check_clock``, so both sides agree on which clock to trust.

Sources of the ranges: the issue's list (heart rate 20-300 bpm, systolic 50-300 mmHg,
SpO2 50-100 %, weight 2-400 kg), the rules' input ranges (``stream.rules.inputs.PLAUSIBLE``)
and device specifications for the rest; docs/stream.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, TypeGuard

from carepulse.observation import Kind, Observation

#: Inclusive plausible range per value name.
DEFAULT_RANGES: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "heart_rate_bpm": (20.0, 300.0),
        "pulse_rate_bpm": (20.0, 300.0),
        "systolic_mmhg": (50.0, 300.0),
        "diastolic_mmhg": (20.0, 200.0),
        "mean_arterial_pressure_mmhg": (30.0, 250.0),
        "spo2_percent": (50.0, 100.0),
        "weight_kg": (2.0, 400.0),
        "height_m": (0.5, 2.5),
        "bmi": (5.0, 100.0),
        "body_fat_percent": (1.0, 75.0),
        "temperature_c": (30.0, 45.0),
        "glucose_mmol_l": (0.5, 40.0),
        "rr_intervals_s": (0.2, 3.0),
        "steps": (0.0, 100_000.0),
    }
)

#: The value each kind must carry (non-null) to be of any use.
REQUIRED: Final[Mapping[Kind, tuple[str, ...]]] = MappingProxyType(
    {
        Kind.HEART_RATE: ("heart_rate_bpm",),
        Kind.BLOOD_PRESSURE: ("systolic_mmhg", "diastolic_mmhg"),
        Kind.WEIGHT: ("weight_kg",),
        Kind.BODY_COMPOSITION: (),
        Kind.SPO2: ("spo2_percent",),
        Kind.TEMPERATURE: ("temperature_c",),
        Kind.GLUCOSE: ("glucose_mmol_l",),
        Kind.STEPS: ("steps",),
    }
)

#: A measured time this far after the receipt time is a wrong device clock.
MAX_FUTURE: Final = timedelta(minutes=5)
#: A measured time this far before the receipt time is a wrong device clock.
MAX_PAST: Final = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Implausible:
    """Why an observation was rejected.

    Attributes:
        field: the value at fault, as a dotted path (``values.systolic_mmhg``).
        reason: what was wrong, in words.
    """

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClockVerdict:
    """Which time the stream uses for an observation.

    Attributes:
        event_time: ``measured_at`` when sane, else ``received_at``.
        suspect: the device clock looked wrong (``far_future`` or ``ancient``), else ``None``.
    """

    event_time: datetime
    suspect: str | None


def _numeric(value: object) -> TypeGuard[float | tuple[float, ...]]:
    """A number (not a bool), or a tuple of them."""
    if isinstance(value, tuple):
        return all(_numeric(item) and not isinstance(item, tuple) for item in value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_values(
    observation: Observation, ranges: Mapping[str, tuple[float, float]] = DEFAULT_RANGES
) -> Implausible | None:
    """The first implausible value of ``observation``, or ``None`` when all are plausible."""
    values = observation.values
    for name in REQUIRED.get(observation.kind, ()):
        if values.get(name) is None:
            return Implausible(f"values.{name}", f"a {observation.kind.value} reading needs {name}")
    for name, value in values.items():
        bounds = ranges.get(name)
        if bounds is None or value is None:
            continue
        low, high = bounds
        if not _numeric(value):
            # A value with a range must be a number: text such as "70" written straight
            # onto the topic would otherwise pass, never be stored, and upset the rules.
            return Implausible(f"values.{name}", f"expected a number, got {value!r}")
        if isinstance(value, tuple):
            for index, item in enumerate(value):
                if not low <= item <= high:
                    return Implausible(
                        f"values.{name}[{index}]",
                        f"{item:g} is outside the plausible range {low:g}-{high:g}",
                    )
        elif not low <= value <= high:
            return Implausible(
                f"values.{name}", f"{value:g} is outside the plausible range {low:g}-{high:g}"
            )
    systolic, diastolic = values.get("systolic_mmhg"), values.get("diastolic_mmhg")
    if (
        isinstance(systolic, int | float)
        and isinstance(diastolic, int | float)
        and diastolic >= systolic
    ):
        return Implausible(
            "values.diastolic_mmhg", f"diastolic {diastolic:g} is not below systolic {systolic:g}"
        )
    return None


def check_clock(
    measured_at: datetime,
    received_at: datetime,
    *,
    max_future: timedelta = MAX_FUTURE,
    max_past: timedelta = MAX_PAST,
) -> ClockVerdict:
    """Trust the device clock unless it is implausible next to the gateway's."""
    if measured_at > received_at + max_future:
        return ClockVerdict(received_at, "far_future")
    if measured_at < received_at - max_past:
        return ClockVerdict(received_at, "ancient")
    return ClockVerdict(measured_at, None)


def parse_ranges(document: Mapping[str, object]) -> dict[str, tuple[float, float]]:
    """Ranges from a decoded TOML/JSON table ``{name = [low, high]}``, over the defaults.

    Raises:
        ValueError: an entry is not a pair of numbers with low <= high.
    """
    ranges = dict(DEFAULT_RANGES)
    for name, pair in document.items():
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
            or pair[0] > pair[1]
        ):
            msg = f"plausibility range {name!r}: expected [low, high] numbers, got {pair!r}"
            raise ValueError(msg)
        ranges[name] = (float(pair[0]), float(pair[1]))
    return ranges
