"""The demo's comparison with the ground truth, and its invented resident profiles."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators.demo import (
    DEFAULT_SCENARIO,
    DEMO_OFFLINE_HOURS,
    compare_alerts,
    missing_readings,
    residents_csv,
    summary_text,
    watchdog_env,
)
from simulators.scenario import Op, load_scenario, plan
from simulators.truth import ground_truth
from stream.config import StreamSettings

TRUTH: dict[str, Any] = {
    "station_id": "st-1",
    "residents": [
        {"resident": "R1", "subject": "a" * 32, "conditions": ["hypertension", "diabetes"]},
        {"resident": "R2", "subject": "b" * 32, "conditions": []},
    ],
    "alerts": [
        {"rule_id": "bp.urgent_referral", "subject": "a" * 32},
        {"rule_id": "rhythm.irregular", "subject": "b" * 32},
    ],
    "may_fire": [{"rule_prefix": "bp.hypertensive", "subject": "a" * 32}],
    "watchdog": [{"rule_id": "device.battery_low", "subject": "a" * 32}],
}


def test_found_missed_unexpected_and_allowed_alerts_are_told_apart() -> None:
    """Expected cases count as found, allowed extras are not unexpected, others are."""
    cases = [
        ("bp.urgent_referral", "a" * 32, "urgent", 1),
        ("bp.hypertensive", "a" * 32, "follow-up", 2),
        ("vitals.fever", "b" * 32, "follow-up", 1),
    ]
    result = compare_alerts(TRUTH, cases)
    assert result["expected"] == 2
    assert result["found"] == 1
    assert result["missed"] == [f"rhythm.irregular {'b' * 32}"]
    assert result["unexpected"] == [f"vitals.fever {'b' * 32}"]
    assert result["duplicated_cases"] == 0
    assert result["by_rule"]["bp.urgent_referral"] == {
        "expected": 1,
        "found": 1,
        "missed": 0,
        "unexpected": 0,
    }


def test_watchdog_alerts_are_matched_by_rule_and_resident() -> None:
    """A battery alert under the resident counts as found; under another subject as other."""
    cases = [("device.battery_low", "a" * 32, "engagement", 1)]
    result = compare_alerts(TRUTH, cases)
    assert result["unexpected"] == []
    assert result["watchdog"] == {"device.battery_low": {"expected": 1, "found": 1, "other": 0}}
    stray = compare_alerts(TRUTH, [("device.battery_low", "c" * 32, "engagement", 1)])
    assert stray["unexpected"] == []
    assert stray["watchdog"] == {"device.battery_low": {"expected": 1, "found": 0, "other": 1}}


def test_two_cases_for_one_resident_and_rule_are_duplicates() -> None:
    """One open case per (resident, rule): a second one is counted as duplicated."""
    cases = [("bp.urgent_referral", "a" * 32, "urgent", 1)] * 2
    assert compare_alerts(TRUTH, cases)["duplicated_cases"] == 1


def test_resident_profiles_are_keyed_by_pseudonym() -> None:
    """The alert service's import file names residents by pseudonym, never by station id."""
    text = residents_csv(TRUTH, "st-1")
    lines = text.splitlines()
    assert lines[0] == "subject_id,station_id,name,phone,conditions,consent"
    assert lines[1].startswith(f"{'a' * 32},st-1,")
    assert "hypertension;diabetes" in lines[1]
    assert "R1" not in text


def test_missing_readings_are_named_by_resident_and_kind() -> None:
    """A reading short in storage shows up under its resident and kind; extras do not."""
    truth = {
        "residents": [
            {"resident": "R1", "subject": "a" * 32},
            {"resident": "R2", "subject": "b" * 32},
        ],
        "counts": {"observations": {"R1/heart_rate": 3, "R1/weight": 1, "R2/glucose": 2}},
    }
    stored = Counter(
        {("a" * 32, "heart_rate"): 2, ("a" * 32, "weight"): 2, ("b" * 32, "glucose"): 2}
    )
    assert missing_readings(truth, stored) == {"R1/heart_rate": 1}


def test_band_readings_given_up_are_not_expected() -> None:
    """A band reading no central ever received is not counted as lost; the rest still are."""
    truth = {
        "residents": [{"resident": "R1", "subject": "a" * 32}],
        "counts": {"observations": {"R1/heart_rate": 5}},
    }
    stored = Counter({("a" * 32, "heart_rate"): 3})
    assert missing_readings(truth, stored, {"R1/heart_rate": 2}) == {}
    assert missing_readings(truth, stored, {"R1/heart_rate": 1}) == {"R1/heart_rate": 1}
    assert missing_readings(truth, stored, {}) == {"R1/heart_rate": 2}


def test_the_summary_names_band_readings_given_up_apart_from_lost_ones() -> None:
    """Readings a band never sent are told apart from readings the pipeline lost."""
    result: dict[str, Any] = {
        "run": "r1",
        "scenario": "default.toml",
        "wall_s": 90.0,
        "sent": 5,
        "expected_observations": 4,
        "stored_in_influxdb": 3,
        "lost": 1,
        "lost_by": {"R2/heart_rate": 1},
        "band_readings_given_up": {"R1/heart_rate": 1},
        "rejected": {},
        "alerts": compare_alerts(TRUTH, []),
        "latency_receipt_to_alert": {"alerts": 0},
        "dashboard": "http://127.0.0.1:8400/",
        "serving": True,
        "reports": {},
        "folder": "demo/r1",
    }
    lines = summary_text(result).splitlines()
    assert "  unsent    1 x R1/heart_rate (a band gave it up: no central subscribed)" in lines
    assert "  LOST      1 x R2/heart_rate" in lines


def test_the_demo_runs_the_worker_watchdog_at_its_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's worker environment sets the scale, a 1 s interval and per-kind hours."""
    for name, value in watchdog_env(1152.0).items():
        monkeypatch.setenv(name, value)
    settings = StreamSettings()
    assert settings.watchdog_time_scale == 1152.0
    assert settings.watchdog_interval_s == 1.0
    assert settings.offline_hours("scale") == DEMO_OFFLINE_HOURS["scale"]
    assert settings.offline_hours("oximeter") == settings.device_offline_hours


def test_demo_offline_hours_tell_the_dead_device_from_quiet_ones() -> None:
    """In the default scenario only the device the truth expects offline is silent longer
    than its kind's demo threshold (residents who stop measuring altogether excepted: the
    watchdog reports them as checkin.none, not their devices). Silences run to the end of
    the simulated period plus 12 hours for the demo's wait before it reads the cases."""
    scenario = load_scenario(DEFAULT_SCENARIO)
    planned = plan(scenario, start=datetime(2026, 11, 22, 16, tzinfo=UTC))
    truth = ground_truth(planned)
    offline = {w.device_id for w in truth.watchdog if w.rule_id == "device.offline"}
    stopped = {w.resident for w in truth.watchdog if w.rule_id == "checkin.none"}
    heard: defaultdict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for action in planned.actions:
        if action.op is Op.SEND and not action.malformed:
            key = (action.resident, action.device_id, action.device_kind.value)
            heard[key].append(action.at)
    silent_h = {}
    for key, times in heard.items():
        moments = [*sorted(times), planned.end + timedelta(hours=12)]
        silent_h[key] = max((b - a).total_seconds() / 3600 for a, b in itertools.pairwise(moments))
    default_h = StreamSettings.model_fields["device_offline_hours"].default
    over = {
        device
        for (resident, device, kind), hours in silent_h.items()
        if resident not in stopped and hours >= DEMO_OFFLINE_HOURS.get(kind, default_h)
    }
    assert offline
    assert over == offline
