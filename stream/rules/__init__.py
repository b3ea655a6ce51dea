"""Pure clinical risk rules: NEWS2, China BP, BMI/waist, glucose, rhythm, weight change.

No I/O and no stream libraries: the Faust risk agent and ``carepulse assess`` call the
same functions. The usual entry points::

    from stream.rules import default_rules, observations_from_mapping, assess, evaluate

    rules = default_rules()                       # or load_rules(path), with_overrides(...)
    obs = observations_from_mapping({"heart_rate_bpm": 125, "spo2_percent": 92})
    assessment_to_dict(assess(obs, rules))        # the DESIGN.md assessment
    evaluate(obs, rules)                          # alert candidates (RuleHit), before persistence
"""

from stream.rules.assess import Assessment, assess, assessment_to_dict
from stream.rules.catalogue import CATALOGUE, Severity
from stream.rules.config import (
    RuleSet,
    RuleSpec,
    default_rules,
    load_rules,
    parse_overrides,
    parse_rules,
    with_overrides,
)
from stream.rules.evaluate import Check, RuleHit, check_assessment, evaluate
from stream.rules.inputs import Observations, observations_from_json, observations_from_mapping
from stream.rules.persistence import Outcome, Policy, RuleState, Transition, k_of_n, step

__all__ = [
    "CATALOGUE",
    "Assessment",
    "Check",
    "Observations",
    "Outcome",
    "Policy",
    "RuleHit",
    "RuleSet",
    "RuleSpec",
    "RuleState",
    "Severity",
    "Transition",
    "assess",
    "assessment_to_dict",
    "check_assessment",
    "default_rules",
    "evaluate",
    "k_of_n",
    "load_rules",
    "observations_from_json",
    "observations_from_mapping",
    "parse_overrides",
    "parse_rules",
    "step",
    "with_overrides",
]
