"""Window maths: Welford against numpy, merge, windows, HRV, home BP, weight trend."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest

from stream.metrics import (
    DayRecord,
    Stats,
    accepts_late,
    add_to_dict,
    bp_session,
    day_key,
    home_bp_mean,
    hrv,
    prune_days,
    update_day,
    weight_trend,
    window_bounds,
)
from stream.rules.rhythm import pnn50, rmssd, sdnn

SEED = 20261127
OFFSET = 8 * 3600.0


def ts(text: str) -> float:
    """Seconds since the epoch of a UTC ISO time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("scale", [1.0, 1e6, 1e-3])
def test_welford_matches_numpy_on_random_data(scale: float) -> None:
    """Count, mean, min, max and sample std agree with numpy, also at a large offset."""
    rng = random.Random(SEED)
    values = [1e9 * (scale > 1) + rng.gauss(70, 12) * scale for _ in range(5000)]
    stats = Stats()
    for n, value in enumerate(values):
        stats = stats.add(value, float(n))
    data = np.array(values)
    assert stats.count == len(values)
    assert stats.mean == pytest.approx(float(data.mean()), rel=1e-12)
    assert stats.std == pytest.approx(float(data.std(ddof=1)), rel=1e-7)
    assert (stats.minimum, stats.maximum, stats.last) == (data.min(), data.max(), values[-1])


def test_merge_equals_one_pass() -> None:
    """Merging aggregates of two halves equals aggregating everything at once."""
    rng = random.Random(SEED + 1)
    values = [rng.uniform(30, 200) for _ in range(1001)]
    whole = Stats().add_all(values, 0.0)
    left = Stats().add_all(values[:400], 0.0)
    right = Stats().add_all(values[400:], 0.0)
    merged = left.merge(right)
    assert merged.count == whole.count
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.std == pytest.approx(whole.std, rel=1e-9)
    assert (merged.minimum, merged.maximum) == (whole.minimum, whole.maximum)
    assert Stats().merge(left) == left
    assert left.merge(Stats()) == left


def test_small_counts_and_round_trip() -> None:
    """One value has no std; the dict form round-trips; empty summary is all None."""
    one = Stats().add(72.0, 10.0)
    assert one.std is None
    assert one.summary() == {
        "count": 1,
        "min": 72.0,
        "max": 72.0,
        "mean": 72.0,
        "std": None,
        "last": 72.0,
    }
    two = one.add(80.0, 5.0)
    assert Stats.from_dict(two.as_dict()) == two
    assert Stats.from_dict(None) == Stats()
    assert Stats().summary()["mean"] is None


def test_last_is_by_event_time_not_arrival() -> None:
    """A late (older) reading changes the aggregate but not ``last``."""
    stats = Stats().add(80.0, 100.0).add(60.0, 50.0)
    assert (stats.last, stats.last_at, stats.count) == (80.0, 100.0, 2)


def test_window_bounds_tumbling_and_local_days() -> None:
    """Minute and hour windows align to the clock; day windows to local midnight."""
    t = ts("2026-11-27T07:31:02")
    assert window_bounds(t, 60) == (ts("2026-11-27T07:31:00"), ts("2026-11-27T07:32:00"))
    assert window_bounds(t, 3600, OFFSET) == (ts("2026-11-27T07:00:00"), ts("2026-11-27T08:00:00"))
    # 07:31 UTC is 15:31 in Beijing: the local day started at 16:00 UTC the day before.
    assert window_bounds(t, 86400, OFFSET) == (ts("2026-11-26T16:00:00"), ts("2026-11-27T16:00:00"))


def test_grace() -> None:
    """Late data updates its window until the grace period after its end has passed."""
    assert accepts_late(window_end=100.0, now=150.0, grace_s=50.0)
    assert not accepts_late(window_end=100.0, now=150.1, grace_s=50.0)


def test_hrv_reuses_the_task_force_definitions() -> None:
    """RMSSD, SDNN and pNN50 are the rules' functions; under 3 beats there is none."""
    rr = [800.0, 810.0, 870.0, 790.0, 805.0]
    result = hrv(rr)
    assert result is not None
    assert (result.beats, result.rmssd_ms, result.sdnn_ms, result.pnn50_percent) == (
        5,
        rmssd(rr),
        sdnn(rr),
        pnn50(rr),
    )
    assert result.pnn50_percent == 40.0
    assert hrv([800.0, 810.0]) is None


@pytest.mark.parametrize(
    ("utc", "session"),
    [
        ("2026-11-26T21:59:59", None),  # 05:59:59 local
        ("2026-11-26T22:00:00", "morning"),  # 06:00 local
        ("2026-11-27T01:59:59", "morning"),  # 09:59:59
        ("2026-11-27T02:00:00", None),  # 10:00
        ("2026-11-27T10:00:00", "evening"),  # 18:00
        ("2026-11-27T13:59:59", "evening"),  # 21:59:59
        ("2026-11-27T14:00:00", None),  # 22:00
    ],
)
def test_bp_sessions_in_local_time(utc: str, session: str | None) -> None:
    """Morning is 06:00-10:00 and evening 18:00-22:00 station time, end exclusive."""
    assert bp_session(ts(utc), OFFSET) == session


def test_day_record_bp_means_steps_and_morning_weight() -> None:
    """A day's morning/evening BP means, the step counter's maximum, the first morning weight."""
    day = DayRecord()
    morning = ts("2026-11-26T23:00:00")  # 07:00 local, 27 Nov
    for offset, (s, d) in enumerate([(140, 90), (136, 88)]):
        day = update_day(
            day,
            "blood_pressure",
            {"systolic_mmhg": s, "diastolic_mmhg": d},
            morning + 60 * offset,
            OFFSET,
        )
    evening = ts("2026-11-27T11:00:00")  # 19:00 local
    day = update_day(
        day, "blood_pressure", {"systolic_mmhg": 130, "diastolic_mmhg": 80}, evening, OFFSET
    )
    day = update_day(
        day,
        "blood_pressure",
        {"systolic_mmhg": 150, "diastolic_mmhg": 95},
        ts("2026-11-27T05:00:00"),
        OFFSET,
    )
    assert day.bp["morning"][0].mean == 138.0
    assert day.bp["morning"][1].mean == 89.0
    assert day.bp["evening"][0].mean == 130.0
    assert set(day.bp) == {"morning", "evening"}  # 13:00 local is in no session
    for steps in (1200, 5400, 3000):
        day = update_day(day, "steps", {"steps": steps}, evening, OFFSET)
    assert day.steps == 5400
    day = update_day(day, "weight", {"weight_kg": 70.4}, morning + 600, OFFSET)
    day = update_day(day, "weight", {"weight_kg": 70.1}, morning, OFFSET)
    day = update_day(day, "weight", {"weight_kg": 71.0}, evening, OFFSET)
    assert day.morning_weight == (morning, 70.1)
    assert DayRecord.from_dict(day.as_dict()) == day
    mean = home_bp_mean([day])
    assert mean is not None
    assert mean[0] == pytest.approx(406 / 3)
    assert mean[1] == pytest.approx(258 / 3)
    assert mean[2] == 3
    assert home_bp_mean([DayRecord()]) is None
    assert day_key(morning, OFFSET) == "2026-11-27"


def test_weight_trend_slope() -> None:
    """The least-squares slope of morning weights in kg per day."""
    weights = [(date(2026, 11, d), 70.0 + 0.5 * (d - 20)) for d in range(20, 27)]
    assert weight_trend(weights) == pytest.approx(0.5)
    noisy = [(date(2026, 11, 1), 70.0), (date(2026, 11, 3), 69.0), (date(2026, 11, 2), 71.0)]
    xs, ys = np.array([0.0, 2.0, 1.0]), np.array([70.0, 69.0, 71.0])
    assert weight_trend(noisy) == pytest.approx(float(np.polyfit(xs, ys, 1)[0]))
    assert weight_trend([(date(2026, 11, 1), 70.0)]) is None
    assert math.isclose(
        weight_trend(
            [(date(2026, 11, 1), 70.0), (date(2026, 11, 1), 71.0), (date(2026, 11, 2), 70.0)]
        )
        or 0.0,
        -0.5,
    )


def test_prune_days_keeps_the_latest() -> None:
    """Only the most recent days are kept."""
    days = {f"2026-11-{d:02d}": d for d in range(1, 21)}
    assert list(prune_days(days, 3)) == ["2026-11-18", "2026-11-19", "2026-11-20"]


def test_add_to_dict_is_stats_add() -> None:
    """The pipeline's dict fast path gives exactly what Stats.add gives, late values too."""
    rng = random.Random(SEED)
    data: dict[str, Any] | None = None
    stats = Stats()
    for _ in range(200):
        value, at = rng.uniform(40, 180), rng.uniform(0, 3600)
        data = add_to_dict(data, value, at)
        stats = stats.add(value, at)
        assert data == stats.as_dict()
