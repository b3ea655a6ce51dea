"""`carepulse assess` through click: good input, bad key, bad JSON, --rules."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from carepulse.cli import COMMANDS, main
from stream.assess_cli import assess, run
from stream.rules import default_rules


def test_assess_is_registered_with_carepulse() -> None:
    """`carepulse assess` is one of the carepulse subcommands."""
    assert COMMANDS["assess"] == "stream.assess_cli:assess"


def test_good_input_prints_one_json_assessment() -> None:
    """A smart-band reading gives one JSON object with a partial, unbanded NEWS2."""
    result = CliRunner().invoke(
        main, ["assess"], input='{"heart_rate_bpm": 125, "spo2_percent": 92}'
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    assert json.loads(result.output) == {
        "news2": {
            "score": 4,
            "subscores": {"spo2_percent": 2, "heart_rate_bpm": 2},
            "complete": False,
            "missing": [
                "respiration_rate",
                "on_oxygen",
                "systolic_mmhg",
                "consciousness",
                "temperature_c",
            ],
            "band": None,
        }
    }


def test_every_section_has_exactly_the_contract_keys() -> None:
    """With every input given, each section carries exactly the DESIGN.md sub-keys."""
    observations = {
        "respiration_rate": 16,
        "spo2_percent": 97,
        "on_oxygen": False,
        "spo2_scale": 1,
        "temperature_c": 37.0,
        "systolic_mmhg": 150,
        "diastolic_mmhg": 85,
        "bp_method": "office",
        "heart_rate_bpm": 75,
        "consciousness": "A",
        "weight_kg": 69.4,
        "height_m": 1.70,
        "waist_cm": 88,
        "sex": "M",
        "glucose_mmol_l": 3.5,
        "diabetic": True,
        "rr_intervals_ms": [800, 850, 780, 820, 760],
        "weights": [["2026-03-01", 70.0], ["2026-03-04", 72.1]],
    }
    out = json.loads(run(json.dumps(observations), default_rules()))
    assert {k: sorted(v) for k, v in out.items()} == {
        "news2": ["band", "complete", "missing", "score", "subscores"],
        "bp": ["class", "hypertensive", "isolated_systolic", "urgent_referral"],
        "bmi": ["class", "value"],
        "waist": ["class"],
        "glucose": ["class", "urgent_referral"],
        "rhythm": [
            "irregular",
            "nrmssd",
            "pnn50_percent",
            "rmssd_ms",
            "sdnn_ms",
            "shannon_entropy",
            "tpr",
        ],
        "weight_change": ["days", "gain_kg", "rapid_gain"],
    }
    assert out["bmi"]["value"] == 69.4 / (1.70 * 1.70)


def test_empty_object_gives_an_empty_assessment() -> None:
    """No observations, no sections."""
    result = CliRunner().invoke(assess, [], input="{}")
    assert (result.exit_code, result.output) == (0, "{}\n")


def test_unknown_key_exits_2_naming_the_key() -> None:
    """A misspelt key is refused: exit status 2, one stderr line naming it, no stdout."""
    result = CliRunner().invoke(main, ["assess"], input='{"spo2": 92}')
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: spo2: unknown input key")


def test_bad_value_exits_2_naming_the_key() -> None:
    """A height in centimetres is refused naming height_m."""
    result = CliRunner().invoke(assess, [], input='{"height_m": 170, "weight_kg": 70}')
    assert result.exit_code == 2
    assert result.stderr.startswith("error: height_m: ")
    assert result.stdout == ""


def test_bad_json_exits_2() -> None:
    """Text that is not JSON is refused with one stderr line."""
    result = CliRunner().invoke(assess, [], input="{heart_rate_bpm: 80")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: (input): not valid JSON")
    assert result.stderr.count("\n") == 1


def test_json_that_is_not_an_object_exits_2() -> None:
    """A JSON list is not an observation object."""
    result = CliRunner().invoke(assess, [], input="[1, 2]")
    assert result.exit_code == 2
    assert "expected a JSON object" in result.stderr


def test_rules_option_uses_another_file(tmp_path: Path) -> None:
    """--rules FILE applies that file's thresholds (here the Plymouth weight rule)."""
    text = (Path(__file__).parents[2] / "stream" / "rules" / "default_rules.toml").read_text(
        encoding="utf-8"
    )
    text = text.replace("gain_kg = 2.0", "gain_kg = 1.0").replace(
        "within_days = 3\ninclusive = false", "within_days = 2\ninclusive = true"
    )
    path = tmp_path / "plymouth.toml"
    path.write_text(text, encoding="utf-8")
    weights = '{"weights": [["2026-03-01", 70.0], ["2026-03-02", 70.5], ["2026-03-03", 71.0]]}'
    default = CliRunner().invoke(assess, [], input=weights)
    plymouth = CliRunner().invoke(assess, ["--rules", str(path)], input=weights)
    assert json.loads(default.output)["weight_change"]["rapid_gain"] is False
    assert json.loads(plymouth.output)["weight_change"]["rapid_gain"] is True


def test_a_bad_rules_file_exits_2_naming_rule_and_key(tmp_path: Path) -> None:
    """A rules file with an unknown key is refused before reading stdin."""
    path = tmp_path / "bad.toml"
    path.write_text("schema = 1\nsettings = {}\n", encoding="utf-8")
    result = CliRunner().invoke(assess, ["--rules", str(path)], input="{}")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "missing" in result.stderr
