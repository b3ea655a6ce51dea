"""``carepulse assess``: one JSON object of observations on stdin, one assessment out.

The contract is DESIGN.md "carepulse assess". Bad input prints nothing on stdout, one
line on stderr naming the key at fault, and exits with status 2; so does a bad
``--rules`` file (naming the rule and key).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click

from stream.errors import AssessInputError, RuleConfigError
from stream.rules.assess import assess as assess_observations
from stream.rules.assess import assessment_to_dict
from stream.rules.config import RuleSet, default_rules, load_rules
from stream.rules.inputs import observations_from_json

#: Exit status for input or rules the command refuses (click's usage-error status).
EXIT_BAD_INPUT = 2


def run(text: str, rules: RuleSet) -> str:
    """The assessment of ``text`` (one JSON object) as one line of JSON.

    Raises:
        AssessInputError: the input is not JSON or breaks the contract.
    """
    assessment = assess_observations(observations_from_json(text), rules)
    return json.dumps(assessment_to_dict(assessment), ensure_ascii=False, allow_nan=False)


def _refuse(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.command()
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rules file (TOML) to use instead of the packaged Chinese-guideline defaults.",
)
def assess(rules_file: Path | None) -> None:
    """Assess one JSON object of observations read from stdin; print one JSON assessment.

    Input keys (all optional): respiration_rate, spo2_percent, on_oxygen, spo2_scale,
    temperature_c, systolic_mmhg, diastolic_mmhg, bp_method, heart_rate_bpm,
    consciousness, weight_kg, height_m, waist_cm, sex, glucose_mmol_l, diabetic,
    rr_intervals_ms, weights. Example:

        echo '{"heart_rate_bpm": 125, "spo2_percent": 92}' | carepulse assess
    """
    try:
        rules = default_rules() if rules_file is None else load_rules(rules_file)
    except (RuleConfigError, UnicodeDecodeError) as exc:
        _refuse(f"{rules_file}: {exc}")
    try:
        output = run(click.get_text_stream("stdin").read(), rules)
    except AssessInputError as exc:
        _refuse(str(exc))
    click.echo(output)
