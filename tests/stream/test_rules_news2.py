"""NEWS2 scoring: chart rows, partial scores, and properties over any input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream.rules.news2 import (
    PARAMETERS,
    Band,
    band_for,
    news2,
    pulse_score,
    spo2_score,
    temperature_score,
)
from stream.rules.rounding import round_half_up

observations = st.fixed_dictionaries(
    {
        "respiration_rate": st.none() | st.floats(0, 80),
        "spo2_percent": st.none() | st.floats(50, 100),
        "on_oxygen": st.none() | st.booleans(),
        "spo2_scale": st.sampled_from([1, 2]),
        "systolic_mmhg": st.none() | st.floats(50, 300),
        "heart_rate_bpm": st.none() | st.floats(20, 300),
        "consciousness": st.none() | st.sampled_from("ACVPU"),
        "temperature_c": st.none() | st.floats(25, 45),
    }
)


@given(observations)
def test_score_is_the_sum_of_the_subscores(obs: dict[str, object]) -> None:
    """The NEWS2 score always equals the sum of its subscores."""
    result = news2(**obs)  # type: ignore[arg-type]  # hypothesis dict of the right types
    assert result.score == sum(result.subscores.values())


@given(observations)
def test_a_partial_score_never_has_a_band(obs: dict[str, object]) -> None:
    """A partial NEWS2 is never labelled low: its band is None; a complete one has a band."""
    result = news2(**obs)  # type: ignore[arg-type]  # hypothesis dict of the right types
    if result.complete:
        assert result.band is not None
    else:
        assert result.band is None
        assert result.missing
    assert set(result.subscores) | set(result.missing) == set(PARAMETERS)


@given(observations)
def test_a_complete_score_is_banded_by_chart_3(obs: dict[str, object]) -> None:
    """Complete scores: >=7 high, 5-6 medium, a single 3 low-medium, else low."""
    result = news2(**obs)  # type: ignore[arg-type]  # hypothesis dict of the right types
    if not result.complete:
        return
    expected = (
        Band.HIGH
        if result.score >= 7
        else Band.MEDIUM
        if result.score >= 5
        else Band.LOW_MEDIUM
        if 3 in result.subscores.values()
        else Band.LOW
    )
    assert result.band is expected


def test_band_for_partial_input_is_none_even_when_high() -> None:
    """A partial aggregate of 9 still gets no band (the contract's null)."""
    assert band_for(9, {"heart_rate_bpm": 3, "spo2_percent": 3}, complete=False) is None


@given(st.floats(min_value=25, max_value=45))
def test_temperature_is_scored_after_rounding_to_a_tenth(value: float) -> None:
    """Temperature scores as its value rounded half-up to 0.1 °C does: no gaps between rows."""
    assert temperature_score(value) == temperature_score(round_half_up(value, 1))


def test_pulse_between_rows_rounds_half_up() -> None:
    """A pulse of 40.5 counts as 41 (1 point), 40.4 as 40 (3 points)."""
    assert (pulse_score(40.4), pulse_score(40.5)) == (3, 1)


def test_scale_2_above_92_needs_the_oxygen() -> None:
    """Scale 2 at >=93 % scores 0 on air, 1-3 on oxygen, and cannot be scored unknown."""
    assert spo2_score(95, 2, on_oxygen=False) == 0
    assert spo2_score(95, 2, on_oxygen=True) == 2
    assert spo2_score(95, 2, on_oxygen=None) is None
    assert spo2_score(95, 1, on_oxygen=None) == 1


def test_missing_lists_parameters_in_chart_order() -> None:
    """Missing parameters come in the chart's order whatever was given."""
    result = news2(temperature_c=37.0, respiration_rate=16)
    assert result.missing == (
        "spo2_percent",
        "on_oxygen",
        "systolic_mmhg",
        "heart_rate_bpm",
        "consciousness",
    )


def test_red_names_the_parameters_scoring_three() -> None:
    """``red`` lists every parameter scoring 3."""
    result = news2(respiration_rate=30, heart_rate_bpm=35, temperature_c=37.0)
    assert result.red == ("respiration_rate", "heart_rate_bpm")
