"""The rules file: parsing, validation, per-resident overrides.

A rules file is TOML with four parts (see ``default_rules.toml``, the Chinese-guideline
defaults)::

    schema = 1
    [settings]              bp_guideline ("cn2018" | "cn2024"), spo2_scale, diabetic_when_unknown
    [tables.<name>]         classification thresholds, each table with its ``source``
    [rules."<rule id>"]     severity, source, reason template, persistence, clear thresholds

Parsing is pure (:func:`parse_rules` takes the TOML text); :func:`load_rules` reads the
path it is given and :func:`default_rules` the packaged defaults. A per-resident
override is a partial document of the same shape, merged key by key onto the defaults
and validated again (:func:`with_overrides`). Every problem raises ``RuleConfigError``
naming the rule or table and the key: unknown keys, missing keys, wrong types, out-of-
order thresholds, emergencies with a persistence delay, broken reason templates.
"""

from __future__ import annotations

import copy
import functools
import math
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NoReturn

from stream.errors import RuleConfigError
from stream.rules.anthropometry import BmiTable, WaistTable
from stream.rules.bp import BpClass, BpMethod, BpPair, BpTable
from stream.rules.catalogue import CATALOGUE, EvidenceValue, Severity
from stream.rules.glucose import GlucoseTable
from stream.rules.persistence import Policy
from stream.rules.rhythm import RhythmTable
from stream.rules.vitals import VitalsTable
from stream.rules.weight_change import WeightChangeRule

SCHEMA_VERSION: Final = 1
#: Guidelines whose BP grade table the file may carry and ``settings.bp_guideline`` may pick.
BP_GUIDELINES: Final = ("cn2018", "cn2024")

_GRADE_KEYS: Final = ("high_normal", "grade_1", "grade_2", "grade_3")
_RULE_KEYS: Final = ("severity", "source", "reason", "fire_k", "fire_n", "clear_after")
_TABLE_FLOATS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "bmi": ("underweight_below", "overweight_from", "obese_from"),
        "waist": (
            "male_pre_central_from",
            "male_central_from",
            "female_pre_central_from",
            "female_central_from",
        ),
        "glucose": (
            "hypo_diabetic_below",
            "hypo_non_diabetic_below",
            "level_2_below",
            "hyper_from",
            "referral_high_from",
            "referral_low_at_or_below",
        ),
        "vitals": (
            "tachycardia_above_bpm",
            "bradycardia_at_or_below_bpm",
            "fever_above_c",
            "high_fever_above_c",
            "spo2_target_floor_scale_1",
            "spo2_target_floor_scale_2",
            "spo2_severe_at_or_below_scale_1",
            "spo2_severe_at_or_below_scale_2",
        ),
    }
)
_TABLES: Final = (
    "bp_grades",
    "bp_method",
    "bp_referral",
    "rhythm",
    "weight_change",
    *_TABLE_FLOATS,
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Choices that are not thresholds.

    Attributes:
        bp_guideline: which grade table applies (``cn2018`` or ``cn2024``).
        spo2_scale: the resident's NEWS2 SpO2 scale when an observation does not say.
        diabetic_when_unknown: use the diabetic glucose thresholds when ``diabetic`` is absent.
    """

    bp_guideline: str
    spo2_scale: int
    diabetic_when_unknown: bool


@dataclass(frozen=True, slots=True)
class Tables:
    """Classification thresholds in force."""

    bp: BpTable
    bmi: BmiTable
    waist: WaistTable
    glucose: GlucoseTable
    rhythm: RhythmTable
    weight_change: WeightChangeRule
    vitals: VitalsTable


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One configured rule.

    Attributes:
        id: the rule id (a key of ``CATALOGUE``).
        severity: the queue severity of its alerts.
        source: guideline and table the rule follows.
        reason: template of the plain-language reason (``str.format`` over the evidence).
        policy: persistence before firing and hysteresis before clearing.
        clear: numeric clear thresholds, by the catalogue's clear keys.
        enabled: disabled rules are never evaluated.
    """

    id: str
    severity: Severity
    source: str
    reason: str
    policy: Policy
    clear: Mapping[str, float]
    enabled: bool = True

    def render(self, evidence: Mapping[str, EvidenceValue]) -> str:
        """The reason text for ``evidence``."""
        return self.reason.format_map(_Display(evidence))


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rules document.

    Attributes:
        settings: settings in force.
        tables: classification thresholds in force.
        rules: configured rules by id, in file order.
        sources: the ``source`` of each table, by table name.
        document: the validated TOML document, the base for per-resident overrides.
    """

    settings: Settings
    tables: Tables
    rules: Mapping[str, RuleSpec]
    sources: Mapping[str, str]
    document: Mapping[str, Any]


class _Display(dict[str, EvidenceValue]):
    """Evidence as reason templates show it: floats without float noise."""

    def __init__(self, evidence: Mapping[str, EvidenceValue]) -> None:
        super().__init__({k: _shown(v) for k, v in evidence.items()})


def _shown(value: EvidenceValue) -> EvidenceValue:
    """A float rounded to 0.01, and shown without ``.0`` when whole (125.0 -> 125)."""
    if isinstance(value, float):
        rounded = round(value, 2)
        return int(rounded) if rounded.is_integer() else rounded
    return value


def _fail(rule: str, key: str, reason: str) -> NoReturn:
    raise RuleConfigError(rule, key, reason)


def _table(value: object, rule: str, key: str = "") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(rule, key, "expected a table")
    return value


def _keys(
    entry: Mapping[str, Any], rule: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    unknown = [k for k in entry if k not in required and k not in optional]
    if unknown:
        _fail(
            rule, ", ".join(unknown), f"unknown key(s); known: {', '.join((*required, *optional))}"
        )
    for key in required:
        if key not in entry:
            _fail(rule, key, "missing")


def _float(entry: Mapping[str, Any], rule: str, key: str, *, positive: bool = True) -> float:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(rule, key, f"expected a number, got {value!r}")
    if positive and value <= 0:
        _fail(rule, key, f"expected a number above 0, got {value!r}")
    return float(value)


def _int(entry: Mapping[str, Any], rule: str, key: str, *, minimum: int = 1) -> int:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(rule, key, f"expected a whole number, got {value!r}")
    if value < minimum:
        _fail(rule, key, f"expected at least {minimum}, got {value}")
    return value


def _bool(entry: Mapping[str, Any], rule: str, key: str) -> bool:
    value = entry[key]
    if not isinstance(value, bool):
        _fail(rule, key, f"expected true or false, got {value!r}")
    return value


def _text(entry: Mapping[str, Any], rule: str, key: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        _fail(rule, key, "expected non-empty text")
    return value


def _ascending(rule: str, keys: tuple[str, ...], values: tuple[float, ...]) -> None:
    for (low_key, low), (high_key, high) in zip(
        zip(keys, values, strict=True), zip(keys[1:], values[1:], strict=True), strict=False
    ):
        if not low < high:
            _fail(rule, high_key, f"must be above {low_key} ({low:g}), got {high:g}")


def _pair(entry: Mapping[str, Any], rule: str, key: str) -> BpPair:
    pair = _table(entry[key], rule, key)
    where = f"{rule}.{key}"
    _keys(pair, where, ("systolic", "diastolic"))
    return BpPair(_float(pair, where, "systolic"), _float(pair, where, "diastolic"))


def _settings(doc: Mapping[str, Any]) -> Settings:
    entry = _table(doc.get("settings"), "settings")
    _keys(entry, "settings", ("bp_guideline", "spo2_scale", "diabetic_when_unknown"))
    guideline = entry["bp_guideline"]
    if guideline not in BP_GUIDELINES:
        _fail(
            "settings",
            "bp_guideline",
            f"expected one of {', '.join(BP_GUIDELINES)}, got {guideline!r}",
        )
    scale = _int(entry, "settings", "spo2_scale")
    if scale not in (1, 2):
        _fail("settings", "spo2_scale", f"expected 1 or 2, got {scale}")
    return Settings(guideline, scale, _bool(entry, "settings", "diabetic_when_unknown"))


def _bp(tables: Mapping[str, Any], guideline: str) -> tuple[BpTable, dict[str, str]]:
    sources: dict[str, str] = {}
    grades_by = _table(tables["bp_grades"], "tables.bp_grades")
    _keys(grades_by, "tables.bp_grades", BP_GUIDELINES)
    chosen: tuple[tuple[BpClass, BpPair], ...] = ()
    for name in BP_GUIDELINES:
        where = f"tables.bp_grades.{name}"
        grades = _table(grades_by[name], where)
        _keys(grades, where, ("source", *_GRADE_KEYS))
        sources[f"bp_grades.{name}"] = _text(grades, where, "source")
        pairs = tuple(_pair(grades, where, k) for k in _GRADE_KEYS)
        _ascending(where, _GRADE_KEYS, tuple(p.systolic for p in pairs))
        _ascending(where, _GRADE_KEYS, tuple(p.diastolic for p in pairs))
        if name == guideline:
            chosen = tuple(zip((BpClass(k) for k in _GRADE_KEYS), pairs, strict=True))
    where = "tables.bp_method"
    methods = _table(tables["bp_method"], where)
    _keys(methods, where, ("source", *(m.value for m in BpMethod)))
    sources["bp_method"] = _text(methods, where, "source")
    by_method = {m: _pair(methods, where, m.value) for m in BpMethod}
    where = "tables.bp_referral"
    referral = _table(tables["bp_referral"], where)
    _keys(referral, where, ("source", "systolic", "diastolic"))
    sources["bp_referral"] = _text(referral, where, "source")
    table = BpTable(
        guideline=guideline,
        grades=chosen,
        by_method=MappingProxyType(by_method),
        urgent_referral=BpPair(
            _float(referral, where, "systolic"), _float(referral, where, "diastolic")
        ),
    )
    return table, sources


def _floats(tables: Mapping[str, Any], name: str, sources: dict[str, str]) -> dict[str, float]:
    where = f"tables.{name}"
    entry = _table(tables[name], where)
    keys = _TABLE_FLOATS[name]
    _keys(entry, where, ("source", *keys))
    sources[name] = _text(entry, where, "source")
    return {k: _float(entry, where, k) for k in keys}


def _tables(doc: Mapping[str, Any], settings: Settings) -> tuple[Tables, dict[str, str]]:
    tables = _table(doc.get("tables"), "tables")
    _keys(tables, "tables", _TABLES)
    bp, sources = _bp(tables, settings.bp_guideline)

    bmi = _floats(tables, "bmi", sources)
    _ascending("tables.bmi", tuple(bmi), tuple(bmi.values()))
    waist = _floats(tables, "waist", sources)
    _ascending("tables.waist", tuple(waist)[:2], tuple(waist.values())[:2])
    _ascending("tables.waist", tuple(waist)[2:], tuple(waist.values())[2:])
    glucose = _floats(tables, "glucose", sources)
    _ascending(
        "tables.glucose",
        ("level_2_below", "hypo_diabetic_below", "hyper_from", "referral_high_from"),
        tuple(
            glucose[k]
            for k in ("level_2_below", "hypo_diabetic_below", "hyper_from", "referral_high_from")
        ),
    )
    vitals = _floats(tables, "vitals", sources)
    _ascending(
        "tables.vitals",
        ("bradycardia_at_or_below_bpm", "tachycardia_above_bpm"),
        (vitals["bradycardia_at_or_below_bpm"], vitals["tachycardia_above_bpm"]),
    )
    _ascending(
        "tables.vitals",
        ("fever_above_c", "high_fever_above_c"),
        (vitals["fever_above_c"], vitals["high_fever_above_c"]),
    )
    for scale in ("1", "2"):
        keys = (f"spo2_severe_at_or_below_scale_{scale}", f"spo2_target_floor_scale_{scale}")
        _ascending("tables.vitals", keys, tuple(vitals[k] for k in keys))

    where = "tables.rhythm"
    entry = _table(tables["rhythm"], where)
    int_keys = ("beats", "trim", "bins")
    float_keys = ("nn50_ms", "nrmssd_above", "tpr_above", "shannon_entropy_above")
    _keys(entry, where, ("source", *int_keys, *float_keys))
    sources["rhythm"] = _text(entry, where, "source")
    rhythm = RhythmTable(
        beats=_int(entry, where, "beats", minimum=8),
        trim=_int(entry, where, "trim", minimum=0),
        bins=_int(entry, where, "bins", minimum=2),
        **{k: _float(entry, where, k) for k in float_keys},
    )
    if rhythm.beats - 2 * rhythm.trim < 3:
        _fail(where, "trim", f"leaves fewer than 3 of {rhythm.beats} beats")

    where = "tables.weight_change"
    entry = _table(tables["weight_change"], where)
    _keys(entry, where, ("source", "gain_kg", "within_days", "inclusive"))
    sources["weight_change"] = _text(entry, where, "source")
    weight = WeightChangeRule(
        gain_kg=_float(entry, where, "gain_kg"),
        within_days=_int(entry, where, "within_days"),
        inclusive=_bool(entry, where, "inclusive"),
    )
    return (
        Tables(
            bp=bp,
            bmi=BmiTable(**bmi),
            waist=WaistTable(**waist),
            glucose=GlucoseTable(**glucose),
            rhythm=rhythm,
            weight_change=weight,
            vitals=VitalsTable(**vitals),
        ),
        sources,
    )


def _rule(rule_id: str, value: object) -> RuleSpec:
    entry = _table(value, rule_id)
    known = CATALOGUE[rule_id]
    _keys(entry, rule_id, (*_RULE_KEYS, *known.clear_keys), ("enabled",))
    severity_text = _text(entry, rule_id, "severity")
    try:
        severity = Severity(severity_text)
    except ValueError:
        _fail(rule_id, "severity", f"expected one of {', '.join(Severity)}, got {severity_text!r}")
    fire_k = _int(entry, rule_id, "fire_k")
    fire_n = _int(entry, rule_id, "fire_n")
    if fire_k > fire_n:
        _fail(rule_id, "fire_k", f"fire_k ({fire_k}) cannot exceed fire_n ({fire_n})")
    if severity is Severity.EMERGENCY and (fire_k, fire_n) != (1, 1):
        _fail(
            rule_id, "fire_k", "an emergency fires on the first reading: use fire_k = 1, fire_n = 1"
        )
    spec = RuleSpec(
        id=rule_id,
        severity=severity,
        source=_text(entry, rule_id, "source"),
        reason=_text(entry, rule_id, "reason"),
        policy=Policy(fire_k, fire_n, _int(entry, rule_id, "clear_after")),
        clear=MappingProxyType(
            {k: _float(entry, rule_id, k, positive=False) for k in known.clear_keys}
        ),
        enabled=_bool(entry, rule_id, "enabled") if "enabled" in entry else True,
    )
    _check_template(spec, known.evidence)
    return spec


def _check_template(spec: RuleSpec, sample: Mapping[str, EvidenceValue]) -> None:
    try:
        fields = [
            name for _, name, _, _ in string.Formatter().parse(spec.reason) if name is not None
        ]
    except ValueError as exc:
        _fail(spec.id, "reason", f"not a valid template ({exc})")
    for name in fields:
        if name not in sample:
            _fail(
                spec.id, "reason", f"unknown placeholder {{{name}}}; available: {', '.join(sample)}"
            )
    try:
        spec.render(sample)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        _fail(spec.id, "reason", f"template does not render ({exc})")


def _rules(doc: Mapping[str, Any]) -> dict[str, RuleSpec]:
    rules = _table(doc.get("rules"), "rules")
    unknown = [r for r in rules if r not in CATALOGUE]
    if unknown:
        _fail(", ".join(unknown), "", f"unknown rule id(s); known: {', '.join(CATALOGUE)}")
    missing = [r for r in CATALOGUE if r not in rules]
    if missing:
        _fail(missing[0], "", "missing from the rules file")
    return {rule_id: _rule(rule_id, value) for rule_id, value in rules.items()}


def rules_from_document(document: Mapping[str, Any]) -> RuleSet:
    """Validate a decoded rules document.

    Raises:
        RuleConfigError: naming the rule or table and key at fault.
    """
    doc = _table(document, "(file)")
    _keys(doc, "(file)", ("schema", "settings", "tables", "rules"))
    if doc["schema"] != SCHEMA_VERSION or isinstance(doc["schema"], bool):
        _fail(
            "(file)", "schema", f"unsupported version {doc['schema']!r}; expected {SCHEMA_VERSION}"
        )
    settings = _settings(doc)
    tables, sources = _tables(doc, settings)
    return RuleSet(
        settings=settings,
        tables=tables,
        rules=MappingProxyType(_rules(doc)),
        sources=MappingProxyType(sources),
        document=MappingProxyType(copy.deepcopy(dict(doc))),
    )


def parse_rules(text: str) -> RuleSet:
    """Parse and validate the TOML text of a rules file (pure).

    Raises:
        RuleConfigError: the text is not TOML, or the document is invalid.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _fail("(file)", "", f"not valid TOML ({exc})")
    return rules_from_document(document)


def load_rules(path: Path) -> RuleSet:
    """Read and validate the rules file at ``path``."""
    return parse_rules(path.read_text(encoding="utf-8"))


@functools.cache
def default_rules() -> RuleSet:
    """The packaged Chinese-guideline defaults (``default_rules.toml``)."""
    text = (
        resources.files("stream.rules").joinpath("default_rules.toml").read_text(encoding="utf-8")
    )
    return parse_rules(text)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def with_overrides(rules: RuleSet, overrides: Mapping[str, Any]) -> RuleSet:
    """Merge a per-resident override onto ``rules`` and validate the result.

    The override has the shape of a rules file, holding only what changes, e.g.
    ``{"settings": {"spo2_scale": 2}, "rules": {"vitals.tachycardia_rest": {"fire_k": 4,
    "fire_n": 4}}}``. Tables merge key by key; any other value replaces the default.

    Raises:
        RuleConfigError: naming unknown keys, or any value the merged document refuses.
    """
    _check_override_keys(rules.document, _table(overrides, "(override)"), ())
    return rules_from_document(_merge(rules.document, overrides))


def _owner(path: tuple[str, ...]) -> str:
    """How errors name a place in the document: a rule by its id, anything else dotted."""
    if len(path) >= 2 and path[0] == "rules":
        return ".".join(path[1:])
    return ".".join(path) or "(override)"


def _check_override_keys(
    base: Mapping[str, Any], override: Mapping[str, Any], path: tuple[str, ...]
) -> None:
    is_rule = len(path) == 2 and path[0] == "rules"
    unknown = [str(k) for k in override if k not in base and not (is_rule and k == "enabled")]
    if unknown:
        if path == ("rules",):
            _fail(", ".join(unknown), "", f"unknown rule id(s); known: {', '.join(CATALOGUE)}")
        _fail(_owner(path), ", ".join(unknown), "unknown key(s) in the override")
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            _check_override_keys(base[key], value, (*path, key))


def parse_overrides(text: str) -> dict[str, Any]:
    """Parse the TOML text of a per-resident override (validated by :func:`with_overrides`)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _fail("(override)", "", f"not valid TOML ({exc})")
