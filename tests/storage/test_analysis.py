"""Report arithmetic and wording, from plain samples (no InfluxDB)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.analysis import (
    Sample,
    behaviour_change,
    day_range,
    morning_completion,
    participation,
    resident_notes,
    summarise,
    target_completion,
    unit_of,
)
from storage.report import summary_rows

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, tzinfo=UTC)


def series(
    field: str, values: Sequence[float], subject: str = "a", step_h: int = 24
) -> list[Sample]:
    return [
        Sample(START + timedelta(hours=step_h * i), field, v, subject) for i, v in enumerate(values)
    ]


def test_summary_compares_first_and_last_thirds() -> None:
    """Mean, range, first/last-third means and share within the guideline band."""
    [summary] = summarise(series("systolic_mmhg", [150, 148, 146, 140, 134, 130]))
    assert (summary.count, summary.min, summary.max) == (6, 130, 150)
    assert summary.mean == pytest.approx(141.33, abs=0.01)
    assert summary.change == pytest.approx(132 - 149)
    assert summary.in_band_share == pytest.approx(2 / 6)


def test_blood_pressure_notes_in_plain_language() -> None:
    """BP notes give the average pair, the target verdict and the change."""
    samples = series("systolic_mmhg", [150, 148, 146, 140, 134, 130]) + series(
        "diastolic_mmhg", [95, 94, 90, 88, 86, 84]
    )
    notes = resident_notes("blood_pressure", summarise(samples), 30, "en")
    assert notes[0] == (
        "Your average blood pressure over the last 30 days was 141/90 mmHg (6 readings), "
        "above the home target of 135/85 mmHg; please talk to your doctor or community "
        "health worker."
    )
    assert notes[1] == (
        "Your systolic pressure is about 17 mmHg lower at the end of the period than at its start."
    )


def test_other_kinds_get_average_range_and_band() -> None:
    """Weight and glucose notes state average, range and the band share."""
    notes = resident_notes("glucose", summarise(series("glucose_mmol_l", [5.0, 5.5, 7.5])), 7, "en")
    assert notes[0] == (
        "Your average blood glucose was 6.0 mmol/L (3 readings, from 5.0 to 7.5). "
        "67% of readings were in the usual range (fasting 3.9-6.1 mmol/L)."
    )
    assert unit_of("temperature_c") == "°C"
    assert unit_of("steps_count") == ""


def test_participation_matrix_and_active_counts() -> None:
    """Counts become a subjects x days matrix; active residents are counted per day."""
    days = day_range(datetime(2026, 11, 3, 12, tzinfo=UTC), 3, ZONE)
    assert days == [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    matrix = participation({"b": {days[0]: 2}, "a": {days[0]: 1, days[2]: 4}}, days)
    assert matrix.subjects == ["a", "b"]
    assert matrix.counts == [[1, 0, 4], [2, 0, 0]]
    assert matrix.active_per_day == [2, 0, 1]
    assert matrix.active_days_per_subject == [2, 1]


def test_morning_and_target_completion_use_local_time() -> None:
    """07:00 Beijing time counts as morning (23:00 UTC the day before); steps meet a target."""
    morning = Sample(datetime(2026, 11, 1, 23, tzinfo=UTC), "systolic_mmhg", 130, "a")
    evening = Sample(datetime(2026, 11, 2, 11, tzinfo=UTC), "systolic_mmhg", 130, "b")
    assert morning_completion([morning, evening], ZONE) == {date(2026, 11, 2): {"a"}}
    steps = [
        Sample(datetime(2026, 11, 1, 16, tzinfo=UTC), "steps_count", 7000, "a"),
        Sample(datetime(2026, 11, 1, 16, tzinfo=UTC), "steps_count", 3000, "b"),
    ]
    assert target_completion(steps, ZONE, 6000) == {date(2026, 11, 2): {"a"}}


def test_behaviour_change_counts_residents_moving_toward_target() -> None:
    """Among residents starting above target, those ending below it or 5 lower improved."""
    improving = series("systolic_mmhg", [150] * 7 + [145] * 7 + [138] * 7, "a")
    flat = series("systolic_mmhg", [150] * 21, "b")
    normal = series("systolic_mmhg", [120] * 21, "c")
    short = series("systolic_mmhg", [150] * 5, "d")
    change = behaviour_change(
        improving + flat + normal + short, "systolic_mmhg", 135, min_change=5, zone=ZONE
    )
    assert (change.eligible, change.improved, change.share) == (2, 1, 0.5)
    empty = behaviour_change([], "bmi", 24, min_change=0.3, zone=ZONE)
    assert empty.share is None


def test_summary_rows_are_formatted_for_people() -> None:
    """Rows use plain names with units, one decimal, and a dash for missing values."""
    [row] = summary_rows(summarise(series("weight_kg", [70.0, 69.5])), "en")
    assert row == {
        "name": "weight (kg)",
        "count": "2",
        "mean": "69.8",
        "min": "69.5",
        "max": "70.0",
        "first": "-",
        "last": "-",
        "in_band": "-",
    }
