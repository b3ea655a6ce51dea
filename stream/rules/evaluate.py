"""Rule checks: from an assessment to outcomes and alert candidates (:class:`RuleHit`).

Each rule in the catalogue has one pure check here. A check returns ``None`` when its
inputs are absent, else a :class:`Check` with the outcome (fire / hold / clear, see
:mod:`stream.rules.persistence`) and flat evidence: the readings and the thresholds
used, so an alert can show *why*. :func:`evaluate` keeps the firing checks and renders
their reasons; it applies no persistence -- the stream agent feeds every check to
:func:`stream.rules.persistence.step` and alerts on ``FIRED``.

NEWS2 checks treat a partial score as the lower bound it is: it can raise an alert
(4 points on 2 of 7 parameters is at least 4) but never clear one -- the unmeasured
parameters might score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from stream.rules.anthropometry import BmiClass, WaistClass
from stream.rules.assess import Assessment, assess
from stream.rules.bp import BpAssessment
from stream.rules.catalogue import CATALOGUE, EvidenceValue, Severity
from stream.rules.config import RuleSet, RuleSpec
from stream.rules.glucose import GlucoseClass
from stream.rules.inputs import Observations
from stream.rules.news2 import HIGH_FROM, MEDIUM_FROM, PARAMETERS, News2
from stream.rules.persistence import Outcome
from stream.rules.rounding import round_half_up
from stream.rules.vitals import (
    HeartRateState,
    Spo2State,
    TemperatureState,
    heart_rate_state,
    spo2_state,
    temperature_state,
)

Evidence = Mapping[str, EvidenceValue]


@dataclass(frozen=True, slots=True)
class Check:
    """One rule checked once.

    Attributes:
        rule_id: the rule.
        outcome: fire, hold or clear.
        evidence: readings and thresholds behind the outcome.
    """

    rule_id: str
    outcome: Outcome
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class RuleHit:
    """An alert candidate: a rule whose fire condition holds now.

    Attributes:
        rule_id: the rule.
        severity: its queue severity.
        reason: plain-language reason for the social worker.
        evidence: readings and thresholds behind it.
    """

    rule_id: str
    severity: Severity
    reason: str
    evidence: Evidence


CheckFunction = Callable[[Assessment, RuleSet, RuleSpec], Check | None]
"""A rule's check: the assessment, the rules in force and the rule's own spec."""


def _outcome(fire: bool, clear: bool) -> Outcome:
    if fire:
        return Outcome.FIRE
    return Outcome.CLEAR if clear else Outcome.HOLD


def _make(spec: RuleSpec, fire: bool, clear: bool, **evidence: EvidenceValue) -> Check:
    return Check(spec.id, _outcome(fire, clear), MappingProxyType(evidence))


# --------------------------------------------------------------------------- NEWS2


def _news2_evidence(score: News2) -> dict[str, EvidenceValue]:
    scored = len(PARAMETERS) - len(score.missing)
    text = (
        str(score.score)
        if score.complete
        else f"at least {score.score} ({scored} of {len(PARAMETERS)} parameters measured)"
    )
    return {
        "score": score.score,
        "score_text": text,
        "complete": score.complete,
        "scored": scored,
        "missing": ", ".join(score.missing),
        "red": ", ".join(score.red),
    }


def _news2_high(a: Assessment, _rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (score := a.news2) is None:
        return None
    clear = score.complete and score.score <= spec.clear["clear_score_at_most"]
    return _make(spec, score.score >= HIGH_FROM, clear, **_news2_evidence(score))


def _news2_medium(a: Assessment, _rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (score := a.news2) is None:
        return None
    fire = MEDIUM_FROM <= score.score < HIGH_FROM
    clear = score.complete and score.score <= spec.clear["clear_score_at_most"]
    return _make(spec, fire, clear, **_news2_evidence(score))


def _news2_single_red(a: Assessment, _rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (score := a.news2) is None:
        return None
    fire = bool(score.red) and score.score < MEDIUM_FROM
    clear = score.complete and not score.red
    return _make(spec, fire, clear, **_news2_evidence(score))


# -------------------------------------------------------------------------- vitals


def _tachycardia(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (rate := a.observations.heart_rate_bpm) is None:
        return None
    table = rules.tables.vitals
    fire = heart_rate_state(rate, table) is HeartRateState.TACHYCARDIA
    clear = round_half_up(rate) <= spec.clear["clear_bpm_at_most"]
    return _make(spec, fire, clear, heart_rate_bpm=rate, threshold_bpm=table.tachycardia_above_bpm)


def _bradycardia(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (rate := a.observations.heart_rate_bpm) is None:
        return None
    table = rules.tables.vitals
    fire = heart_rate_state(rate, table) is HeartRateState.BRADYCARDIA
    clear = round_half_up(rate) >= spec.clear["clear_bpm_at_least"]
    return _make(
        spec, fire, clear, heart_rate_bpm=rate, threshold_bpm=table.bradycardia_at_or_below_bpm
    )


def _fever(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (temperature := a.observations.temperature_c) is None:
        return None
    table = rules.tables.vitals
    fire = temperature_state(temperature, table) is TemperatureState.FEVER
    clear = round_half_up(temperature, 1) <= spec.clear["clear_c_at_most"]
    return _make(spec, fire, clear, temperature_c=temperature, threshold_c=table.fever_above_c)


def _high_fever(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (temperature := a.observations.temperature_c) is None:
        return None
    table = rules.tables.vitals
    fire = temperature_state(temperature, table) is TemperatureState.HIGH_FEVER
    clear = round_half_up(temperature, 1) <= spec.clear["clear_c_at_most"]
    return _make(spec, fire, clear, temperature_c=temperature, threshold_c=table.high_fever_above_c)


def _spo2_below_target(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (spo2 := a.observations.spo2_percent) is None:
        return None
    table, scale = rules.tables.vitals, a.spo2_scale
    floor = table.spo2_target_floor(scale)
    fire = spo2_state(spo2, scale, table) is Spo2State.BELOW_TARGET
    clear = round_half_up(spo2) >= floor + spec.clear["clear_margin_percent"]
    return _make(spec, fire, clear, spo2_percent=spo2, scale=scale, target_floor=floor)


def _spo2_severe(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (spo2 := a.observations.spo2_percent) is None:
        return None
    table, scale = rules.tables.vitals, a.spo2_scale
    severe = table.spo2_severe_at_or_below(scale)
    fire = spo2_state(spo2, scale, table) is Spo2State.SEVERE
    clear = round_half_up(spo2) >= severe + spec.clear["clear_margin_percent"]
    return _make(spec, fire, clear, spo2_percent=spo2, scale=scale, threshold=severe)


# ------------------------------------------------------------------------------ BP


def _bp_evidence(bp: BpAssessment, systolic: float, diastolic: float) -> dict[str, EvidenceValue]:
    return {
        "systolic_mmhg": bp.systolic,
        "diastolic_mmhg": bp.diastolic,
        "bp_class": bp.bp_class.value,
        "method": bp.method.value,
        "threshold_systolic": systolic,
        "threshold_diastolic": diastolic,
    }


def _bp_urgent(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (bp := a.bp) is None:
        return None
    sbp, dbp = bp.systolic, bp.diastolic
    clear = sbp < spec.clear["clear_systolic_below"] and dbp < spec.clear["clear_diastolic_below"]
    pair = rules.tables.bp.urgent_referral
    return _make(spec, bp.urgent_referral, clear, **_bp_evidence(bp, pair.systolic, pair.diastolic))


def _bp_hypertensive(a: Assessment, _rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (bp := a.bp) is None:
        return None
    sbp, dbp = bp.systolic, bp.diastolic
    margin = spec.clear["clear_margin_mmhg"]
    fire = bp.hypertensive and not bp.urgent_referral
    clear = sbp < bp.threshold.systolic - margin and dbp < bp.threshold.diastolic - margin
    return _make(
        spec, fire, clear, **_bp_evidence(bp, bp.threshold.systolic, bp.threshold.diastolic)
    )


# ------------------------------------------------------------------------- glucose


def _hypo_level_2(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (glucose := a.glucose) is None or (value := a.observations.glucose_mmol_l) is None:
        return None
    fire = glucose.glucose_class is GlucoseClass.HYPO_LEVEL_2
    clear = value >= spec.clear["clear_mmol_l_at_least"]
    return _make(
        spec,
        fire,
        clear,
        glucose_mmol_l=value,
        threshold=rules.tables.glucose.level_2_below,
        diabetic=glucose.diabetic,
    )


def _glucose_urgent(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (glucose := a.glucose) is None or (value := a.observations.glucose_mmol_l) is None:
        return None
    table = rules.tables.glucose
    fire = glucose.urgent_referral and glucose.glucose_class is not GlucoseClass.HYPO_LEVEL_2
    clear = spec.clear["clear_low_above"] < value < spec.clear["clear_high_below"]
    return _make(
        spec,
        fire,
        clear,
        glucose_mmol_l=value,
        glucose_class=glucose.glucose_class.value,
        high_threshold=table.referral_high_from,
        low_threshold=table.referral_low_at_or_below,
        diabetic=glucose.diabetic,
    )


def _glucose_hyper(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    if (glucose := a.glucose) is None or (value := a.observations.glucose_mmol_l) is None:
        return None
    fire = glucose.glucose_class is GlucoseClass.HYPER and not glucose.urgent_referral
    clear = value < spec.clear["clear_mmol_l_below"]
    return _make(spec, fire, clear, glucose_mmol_l=value, threshold=rules.tables.glucose.hyper_from)


# ------------------------------------------------------------------- anthropometry


def _bmi_rule(target: BmiClass, clear_key: str, threshold_key: str) -> CheckFunction:
    def check(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
        if (result := a.bmi) is None:
            return None
        limit = spec.clear[clear_key]
        clear = result.value >= limit if clear_key.endswith("at_least") else result.value < limit
        return _make(
            spec,
            result.bmi_class is target,
            clear,
            bmi=result.value,
            weight_kg=a.observations.weight_kg,
            height_m=a.observations.height_m,
            threshold=getattr(rules.tables.bmi, threshold_key),
        )

    return check


def _central_obesity(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    obs = a.observations
    if a.waist is None or obs.waist_cm is None or obs.sex is None:
        return None
    central = rules.tables.waist.cutoffs(obs.sex)[1]
    fire = a.waist is WaistClass.CENTRAL_OBESITY
    clear = obs.waist_cm < central - spec.clear["clear_margin_cm"]
    return _make(spec, fire, clear, waist_cm=obs.waist_cm, sex=obs.sex.value, threshold=central)


# ---------------------------------------------------------- weight change, rhythm


def _rapid_gain(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    change = a.weight_change
    if change is None or change.gain_kg is None:
        return None
    rule = rules.tables.weight_change
    clear = change.gain_kg <= spec.clear["clear_gain_kg_at_most"]
    return _make(
        spec,
        change.rapid_gain,
        clear,
        gain_kg=change.gain_kg,
        days=change.days,
        threshold_kg=rule.gain_kg,
        within_days=rule.within_days,
    )


def _irregular(a: Assessment, rules: RuleSet, spec: RuleSpec) -> Check | None:
    rhythm = a.rhythm
    if rhythm is None or rhythm.irregular is None:
        return None
    return _make(
        spec,
        rhythm.irregular,
        not rhythm.irregular,
        nrmssd=rhythm.nrmssd,
        tpr=rhythm.tpr,
        shannon_entropy=rhythm.shannon_entropy,
        beats=rules.tables.rhythm.beats,
    )


#: The check of every catalogued rule.
CHECKS: Final[Mapping[str, CheckFunction]] = MappingProxyType(
    {
        "news2.high": _news2_high,
        "news2.medium": _news2_medium,
        "news2.single_red": _news2_single_red,
        "vitals.tachycardia_rest": _tachycardia,
        "vitals.bradycardia_rest": _bradycardia,
        "vitals.fever": _fever,
        "vitals.high_fever": _high_fever,
        "vitals.spo2_below_target": _spo2_below_target,
        "vitals.spo2_severe": _spo2_severe,
        "bp.urgent_referral": _bp_urgent,
        "bp.hypertensive": _bp_hypertensive,
        "glucose.hypo_level_2": _hypo_level_2,
        "glucose.urgent_referral": _glucose_urgent,
        "glucose.hyper": _glucose_hyper,
        "anthropometry.underweight": _bmi_rule(
            BmiClass.UNDERWEIGHT, "clear_bmi_at_least", "underweight_below"
        ),
        "anthropometry.overweight": _bmi_rule(
            BmiClass.OVERWEIGHT, "clear_bmi_below", "overweight_from"
        ),
        "anthropometry.obese": _bmi_rule(BmiClass.OBESE, "clear_bmi_below", "obese_from"),
        "anthropometry.central_obesity": _central_obesity,
        "weight_change.rapid_gain": _rapid_gain,
        "rhythm.irregular": _irregular,
    }
)

if set(CHECKS) != set(CATALOGUE):  # pragma: no cover - a programming error, caught on import
    _msg = f"checks and catalogue disagree: {sorted(set(CHECKS) ^ set(CATALOGUE))}"
    raise AssertionError(_msg)


def check_assessment(
    assessment: Assessment, rules: RuleSet, prefixes: tuple[str, ...] | None = None
) -> list[Check]:
    """Every enabled rule's check whose inputs are present, in rules-file order.

    ``prefixes`` limits the checks to rules whose id starts with one of them (the risk
    agent checks only the rules a reading's kind can move).
    """
    checks = []
    for rule_id, spec in rules.rules.items():
        if prefixes is not None and not rule_id.startswith(prefixes):
            continue
        if spec.enabled and (check := CHECKS[rule_id](assessment, rules, spec)) is not None:
            checks.append(check)
    return checks


def hits_from_checks(checks: list[Check], rules: RuleSet) -> list[RuleHit]:
    """Alert candidates for the firing checks, with their reasons rendered."""
    hits = []
    for check in checks:
        if check.outcome is Outcome.FIRE:
            spec = rules.rules[check.rule_id]
            hits.append(
                RuleHit(check.rule_id, spec.severity, spec.render(check.evidence), check.evidence)
            )
    return hits


def evaluate(observations: Observations, rules: RuleSet) -> list[RuleHit]:
    """Assess ``observations`` and return the alert candidates (before persistence)."""
    return hits_from_checks(check_assessment(assess(observations, rules), rules), rules)
