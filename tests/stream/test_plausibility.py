"""Plausibility ranges and device-clock sanity of the ingest agent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stream.plausibility import DEFAULT_RANGES, check_clock, check_values, parse_ranges
from tests.stream.factories import T0, MakeObservation


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("heart_rate_bpm", 20, 300),
        ("systolic_mmhg", 50, 300),
        ("diastolic_mmhg", 20, 200),
        ("spo2_percent", 50, 100),
        ("weight_kg", 2, 400),
        ("temperature_c", 30, 45),
        ("glucose_mmol_l", 0.5, 40),
    ],
)
def test_issue_ranges_are_the_defaults(name: str, low: float, high: float) -> None:
    """The ranges the issue names are the defaults, inclusive."""
    assert DEFAULT_RANGES[name] == (low, high)


KIND_OF = {
    "heart_rate_bpm": "heart_rate",
    "spo2_percent": "spo2",
    "weight_kg": "weight",
    "temperature_c": "temperature",
    "glucose_mmol_l": "glucose",
}


@pytest.mark.parametrize("name", sorted(KIND_OF))
def test_boundaries_on_both_sides(make_obs: MakeObservation, name: str) -> None:
    """A value at a bound passes; just outside it is rejected naming the value."""
    low, high = DEFAULT_RANGES[name]
    for value, ok in ((low, True), (high, True), (low - 0.01, False), (high + 0.01, False)):
        verdict = check_values(make_obs(KIND_OF[name], {name: value}))
        if ok:
            assert verdict is None
        else:
            assert verdict is not None
            assert verdict.field == f"values.{name}"
            assert "outside the plausible range" in verdict.reason


def test_blood_pressure_needs_diastolic_below_systolic(make_obs: MakeObservation) -> None:
    """Diastolic at or above systolic is a swapped or broken reading."""
    verdict = check_values(
        make_obs("blood_pressure", {"systolic_mmhg": 120.0, "diastolic_mmhg": 120.0})
    )
    assert verdict is not None
    assert verdict.field == "values.diastolic_mmhg"
    assert check_values(
        make_obs("blood_pressure", {"systolic_mmhg": 310.0, "diastolic_mmhg": 90.0})
    )


def test_required_value_missing_or_null(make_obs: MakeObservation) -> None:
    """A BP reading without a systolic value is useless and says so."""
    verdict = check_values(
        make_obs("blood_pressure", {"systolic_mmhg": None, "diastolic_mmhg": 80})
    )
    assert verdict is not None
    assert verdict.field == "values.systolic_mmhg"


def test_series_are_checked_item_by_item(make_obs: MakeObservation) -> None:
    """An RR interval out of range names its index."""
    verdict = check_values(
        make_obs("heart_rate", {"heart_rate_bpm": 70, "rr_intervals_s": [0.8, 0.81, 5.0]})
    )
    assert verdict is not None
    assert verdict.field == "values.rr_intervals_s[2]"


def test_unknown_names_and_labels_pass(make_obs: MakeObservation) -> None:
    """Values the table does not know (and strings) are not judged."""
    obs = make_obs("weight", {"weight_kg": 70.0, "impedance_ohm": 99999.0, "unit": "kg"})
    assert check_values(obs) is None


def test_clock_sane_far_future_and_ancient() -> None:
    """The device clock is trusted unless far ahead or ancient; then receipt time is used."""
    received = T0
    assert check_clock(T0 - timedelta(hours=3), received).suspect is None
    assert check_clock(T0 - timedelta(hours=3), received).event_time == T0 - timedelta(hours=3)
    assert check_clock(T0 + timedelta(minutes=5), received).suspect is None
    future = check_clock(T0 + timedelta(minutes=6), received)
    assert (future.suspect, future.event_time) == ("far_future", received)
    ancient = check_clock(T0 - timedelta(days=366), received)
    assert (ancient.suspect, ancient.event_time) == ("ancient", received)


def test_parse_ranges_overrides_and_refuses_nonsense() -> None:
    """A ranges file overrides single entries and refuses reversed bounds."""
    ranges = parse_ranges({"heart_rate_bpm": [30, 250]})
    assert ranges["heart_rate_bpm"] == (30.0, 250.0)
    assert ranges["weight_kg"] == DEFAULT_RANGES["weight_kg"]
    with pytest.raises(ValueError, match="heart_rate_bpm"):
        parse_ranges({"heart_rate_bpm": [300, 20]})


@pytest.mark.parametrize("value", ["70", True])
def test_text_or_a_flag_under_a_ranged_name_is_rejected(
    make_obs: MakeObservation, value: object
) -> None:
    """A ranged value must be a number: text written straight onto the topic is named."""
    verdict = check_values(make_obs("weight", {"weight_kg": value}))
    assert verdict is not None
    assert verdict.field == "values.weight_kg"
    assert "expected a number" in verdict.reason
