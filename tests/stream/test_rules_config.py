"""The rules file: defaults, validation errors naming rule and key, per-resident overrides."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from stream.errors import RuleConfigError, StreamError
from stream.rules import (
    CATALOGUE,
    Severity,
    default_rules,
    evaluate,
    load_rules,
    observations_from_mapping,
    parse_overrides,
    parse_rules,
    with_overrides,
)
from stream.rules.config import rules_from_document

DEFAULT_TEXT = resources.files("stream.rules").joinpath("default_rules.toml").read_text("utf-8")


def _document() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_TEXT)


def _refused(document: dict[str, Any]) -> RuleConfigError:
    with pytest.raises(RuleConfigError) as info:
        rules_from_document(document)
    return info.value


def test_the_defaults_configure_every_catalogued_rule() -> None:
    """The packaged file configures exactly the rules the code knows, each with a source."""
    rules = default_rules()
    assert set(rules.rules) == set(CATALOGUE)
    for spec in rules.rules.values():
        assert spec.source.strip()
        assert spec.reason.strip()
        assert spec.enabled


def test_every_table_cites_its_source() -> None:
    """Each classification table carries a source citation."""
    assert all(text.strip() for text in default_rules().sources.values())
    assert "bmi" in default_rules().sources


def test_emergencies_have_no_persistence_delay() -> None:
    """Every emergency rule fires on its first reading."""
    for spec in default_rules().rules.values():
        if spec.severity is Severity.EMERGENCY:
            assert (spec.policy.fire_k, spec.policy.fire_n) == (1, 1), spec.id


def test_the_default_thresholds_are_the_guideline_values() -> None:
    """The defaults hold the guideline thresholds named in docs/rules.md."""
    tables = default_rules().tables
    assert (tables.bmi.underweight_below, tables.bmi.overweight_from, tables.bmi.obese_from) == (
        18.5,
        24.0,
        28.0,
    )
    assert tables.bp.urgent_referral.systolic == 180
    assert tables.bp.urgent_referral.diastolic == 110
    assert tables.glucose.referral_high_from == 16.7
    assert (tables.weight_change.gain_kg, tables.weight_change.within_days) == (2.0, 3)
    assert not tables.weight_change.inclusive
    assert default_rules().settings.bp_guideline in ("cn2018", "cn2024")


def test_parse_and_load_agree(tmp_path: Path) -> None:
    """Loading a file gives the same rules as parsing its text."""
    path = tmp_path / "rules.toml"
    path.write_text(DEFAULT_TEXT, encoding="utf-8")
    assert load_rules(path).rules == parse_rules(DEFAULT_TEXT).rules


def test_unknown_rule_key_is_named() -> None:
    """A misspelt key in a rule is refused, naming the rule and the key."""
    document = _document()
    document["rules"]["news2.high"]["fire_at"] = 7
    error = _refused(document)
    assert (error.rule, error.key) == ("news2.high", "fire_at")
    assert isinstance(error, ValueError)
    assert isinstance(error, StreamError)


def test_missing_clear_threshold_is_named() -> None:
    """A rule without its clear threshold is refused, naming the key."""
    document = _document()
    del document["rules"]["vitals.tachycardia_rest"]["clear_bpm_at_most"]
    error = _refused(document)
    assert (error.rule, error.key) == ("vitals.tachycardia_rest", "clear_bpm_at_most")


def test_unknown_and_missing_rules_are_named() -> None:
    """A rule id the code does not know, or a known rule left out, is refused by name."""
    document = _document()
    document["rules"]["vitals.made_up"] = copy.deepcopy(document["rules"]["vitals.fever"])
    assert _refused(document).rule == "vitals.made_up"
    document = _document()
    del document["rules"]["rhythm.irregular"]
    assert _refused(document).rule == "rhythm.irregular"


def test_an_emergency_cannot_wait() -> None:
    """Giving an emergency rule a persistence delay is refused."""
    document = _document()
    document["rules"]["news2.high"]["fire_k"] = 2
    document["rules"]["news2.high"]["fire_n"] = 2
    error = _refused(document)
    assert (error.rule, error.key) == ("news2.high", "fire_k")


def test_fire_k_cannot_exceed_fire_n() -> None:
    """ "6 of the last 5" is refused."""
    document = _document()
    document["rules"]["rhythm.irregular"]["fire_k"] = 7
    assert _refused(document).key == "fire_k"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "non-empty"), ("Score {nonsense}", "placeholder"), ("Score {score:.1q}", "render")],
)
def test_broken_reason_templates_are_refused(value: str, fragment: str) -> None:
    """Empty reasons, unknown placeholders and bad format specs are refused at load."""
    document = _document()
    document["rules"]["news2.medium"]["reason"] = value
    error = _refused(document)
    assert (error.rule, error.key) == ("news2.medium", "reason")
    assert fragment in str(error)


def test_wrong_types_are_named() -> None:
    """A threshold given as text, or a severity not in the list, is refused by key."""
    document = _document()
    document["tables"]["bmi"]["obese_from"] = "28"
    assert (_refused(document).rule, _refused(document).key) == ("tables.bmi", "obese_from")
    document = _document()
    document["rules"]["bp.hypertensive"]["severity"] = "critical"
    assert _refused(document).key == "severity"
    document = _document()
    document["rules"]["bp.hypertensive"]["fire_n"] = True
    assert _refused(document).key == "fire_n"


def test_thresholds_out_of_order_are_refused() -> None:
    """An obese cut-off below the overweight one is refused, naming the later key."""
    document = _document()
    document["tables"]["bmi"]["obese_from"] = 23.0
    error = _refused(document)
    assert (error.rule, error.key) == ("tables.bmi", "obese_from")


def test_bp_grades_must_rise() -> None:
    """A grade table whose grades do not rise is refused."""
    document = _document()
    document["tables"]["bp_grades"]["cn2018"]["grade_2"]["systolic"] = 130
    assert _refused(document).rule == "tables.bp_grades.cn2018"


def test_unknown_guideline_is_refused() -> None:
    """settings.bp_guideline must name a grade table the file carries."""
    document = _document()
    document["settings"]["bp_guideline"] = "cn2022"
    assert (_refused(document).rule, _refused(document).key) == ("settings", "bp_guideline")


def test_schema_version_is_checked() -> None:
    """A future schema is refused rather than half-understood."""
    document = _document()
    document["schema"] = 2
    assert _refused(document).key == "schema"


def test_text_that_is_not_toml_is_refused() -> None:
    """Broken TOML raises RuleConfigError, not tomllib's error."""
    with pytest.raises(RuleConfigError, match="not valid TOML"):
        parse_rules("schema = ")


def test_an_override_changes_only_what_it_names() -> None:
    """A per-resident override merges onto the defaults key by key."""
    base = default_rules()
    changed = with_overrides(
        base, {"rules": {"vitals.tachycardia_rest": {"fire_k": 4, "fire_n": 4}}}
    )
    spec = changed.rules["vitals.tachycardia_rest"]
    assert (spec.policy.fire_k, spec.policy.fire_n) == (4, 4)
    assert spec.policy.clear_after == base.rules["vitals.tachycardia_rest"].policy.clear_after
    assert spec.reason == base.rules["vitals.tachycardia_rest"].reason
    assert changed.tables == base.tables
    assert base.rules["vitals.tachycardia_rest"].policy.fire_k == 3


def test_an_empty_override_is_the_defaults() -> None:
    """Merging nothing gives the same rules."""
    base = default_rules()
    same = with_overrides(base, {})
    assert (same.settings, same.tables, same.rules) == (base.settings, base.tables, base.rules)


def test_unknown_override_keys_are_named() -> None:
    """An override key the defaults do not have is refused, naming all of them."""
    with pytest.raises(RuleConfigError) as info:
        with_overrides(default_rules(), {"tables": {"bmi": {"obese": 30, "fat": 1}}})
    assert (info.value.rule, info.value.key) == ("tables.bmi", "obese, fat")
    with pytest.raises(RuleConfigError) as info:
        with_overrides(default_rules(), {"rules": {"vitals.fever": {"fire_at": 38}}})
    assert (info.value.rule, info.value.key) == ("vitals.fever", "fire_at")
    with pytest.raises(RuleConfigError) as info:
        with_overrides(default_rules(), {"rules": {"vitals.made_up": {}}})
    assert info.value.rule == "vitals.made_up"
    with pytest.raises(RuleConfigError) as info:
        with_overrides(default_rules(), {"thresholds": {}})
    assert info.value.key == "thresholds"


def test_an_override_is_validated_like_a_file() -> None:
    """An override that breaks a rule (an emergency with a delay) is refused."""
    with pytest.raises(RuleConfigError) as info:
        with_overrides(
            default_rules(), {"rules": {"glucose.hypo_level_2": {"fire_k": 2, "fire_n": 3}}}
        )
    assert info.value.rule == "glucose.hypo_level_2"


def test_a_rule_can_be_disabled_for_a_resident() -> None:
    """enabled = false in an override silences that rule's hits for the resident."""
    obs = observations_from_mapping({"weight_kg": 90.0, "height_m": 1.70})
    assert "anthropometry.obese" in {hit.rule_id for hit in evaluate(obs, default_rules())}
    quiet = with_overrides(default_rules(), {"rules": {"anthropometry.obese": {"enabled": False}}})
    assert "anthropometry.obese" not in {hit.rule_id for hit in evaluate(obs, quiet)}


def test_a_scale_2_resident_is_scored_on_scale_2() -> None:
    """settings.spo2_scale = 2 in a resident's override moves SpO2 88 % into target."""
    obs = observations_from_mapping({"spo2_percent": 88, "on_oxygen": False})
    copd = with_overrides(default_rules(), parse_overrides("[settings]\nspo2_scale = 2\n"))
    assert {hit.rule_id for hit in evaluate(obs, copd)} == set()
    assert "vitals.spo2_severe" in {hit.rule_id for hit in evaluate(obs, default_rules())}


def test_override_text_that_is_not_toml_is_refused() -> None:
    """Broken override TOML raises RuleConfigError."""
    with pytest.raises(RuleConfigError, match="not valid TOML"):
        parse_overrides("[settings")
