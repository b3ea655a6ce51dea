"""Ground truth: derived from events, and cross-checked against the real pipeline rules."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from simulators.scenario import load_scenario, plan
from simulators.truth import cross_check, ground_truth, replay

SCENARIOS = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"
START = datetime(2026, 11, 20, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_truth_agrees_with_the_replayed_rules(path: Path) -> None:
    """Every expected alert fires in its window, nothing else fires, and every count matches."""
    scenario = load_scenario(path)
    truth = ground_truth(plan(scenario, start=START))
    names = {scenario.pseudonym(r.id): r.id for r in scenario.residents}
    problems = cross_check(truth)
    assert not problems, problems.describe(names)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_truth_holds_for_other_seeds_of_the_default_station(seed: int) -> None:
    """The margins hold whatever the seed: the default station agrees with the rules."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    truth = ground_truth(plan(scenario, start=START, seed=seed, days=2.5))
    problems = cross_check(truth)
    assert not problems, problems.describe()


def test_every_event_type_expects_its_rule() -> None:
    """The default station's truth expects each clinical event's own rule for its resident."""
    truth = ground_truth(plan(load_scenario(SCENARIOS / "default.toml"), start=START))
    by_cause = {a.cause.split("#")[0]: a.rule_id for a in truth.alerts}
    assert by_cause["event:hypertensive_crisis"] == "bp.urgent_referral"
    assert by_cause["event:hypoxia"] == "vitals.spo2_severe"
    assert by_cause["event:af_episode"] == "rhythm.irregular"
    assert by_cause["event:tachycardia"] == "vitals.tachycardia_rest"
    assert by_cause["event:hypoglycaemia"] == "glucose.hypo_level_2"
    assert by_cause["event:rapid_weight_gain"] == "weight_change.rapid_gain"
    assert {a.rule_id for a in truth.alerts if a.cause.startswith("event:fever")} == {
        "vitals.fever",
        "vitals.high_fever",
    }
    assert [w.rule_id for w in truth.watchdog if w.rule_id.startswith("checkin")] == [
        "checkin.none"
    ]


def test_bad_input_counts_rejections_duplicates_and_clock_suspects() -> None:
    """Truncated payloads are dead letters, implausible ones stream rejections, copies drops."""
    truth = ground_truth(plan(load_scenario(SCENARIOS / "bad-input.toml"), start=START))
    assert sum(truth.counts.rejected_gateway.values()) == 4
    assert sum(truth.counts.rejected_stream.values()) == 2
    assert truth.counts.duplicates_dropped >= 2
    assert truth.counts.clock_suspect >= 1
    assert replay(truth.plan).counts == truth.counts


def test_truth_file_lists_residents_by_pseudonym_and_arrival_windows() -> None:
    """The JSON truth carries pseudonyms, and arrival windows for heart-rate alerts at a speed."""
    scenario = load_scenario(SCENARIOS / "af-episode.toml")
    truth = ground_truth(plan(scenario, start=START))
    document = truth.as_dict(speed=600)
    assert document["residents"][0]["subject"] == scenario.pseudonym("R0201")
    alert = document["alerts"][0]
    assert alert["rule_id"] == "rhythm.irregular"
    assert alert["clock"] == "arrival"
    # At speed 600 the 7-hour window arrives within about 42 s of wall time.
    arrival = alert["window"]["arrival"]
    assert arrival["start"] < arrival["end"] <= document["end"]
