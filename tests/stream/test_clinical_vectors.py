"""Every clinical vector in tests/vectors/clinical gives exactly its expected assessment."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from stream.rules import (
    Outcome,
    Policy,
    assess,
    assessment_to_dict,
    default_rules,
    observations_from_mapping,
    with_overrides,
)
from stream.rules.persistence import replay

VECTORS = Path(__file__).parents[1] / "vectors" / "clinical"
ASSESS_FILES = ("news2", "bp", "anthropometry", "glucose", "weight_change", "rhythm")

#: Vector ids of the shared clinical.md subset; each must be in the data.
CLINICAL_MD_IDS = (
    "N1 N3 N7 N9 N13 N14 N15 N16 N17 N18 N22 B1 B3 B4 B6 M1 M2 M3 M4 M6 G1 G2 W1 W2 H3 H4 H5 H7 H8"
).split()


def _load(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


ASSESS_CASES = [vector for name in ASSESS_FILES for vector in _load(name)]
PERSISTENCE_CASES = _load("persistence")


def _same(actual: object, expected: object, tolerance: float) -> bool:
    if isinstance(expected, float) and not isinstance(actual, bool):
        return isinstance(actual, int | float) and math.isclose(
            actual, expected, rel_tol=1e-12, abs_tol=tolerance
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same(actual[k], expected[k], tolerance) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same(a, e, tolerance) for a, e in zip(actual, expected, strict=True))
        )
    return type(actual) is type(expected) and actual == expected


def test_every_clinical_md_vector_is_in_the_data() -> None:
    """Each vector id of the shared clinical.md subset appears in the data files."""
    ids = {v["id"].split(":")[0] for v in ASSESS_CASES + PERSISTENCE_CASES}
    assert [i for i in CLINICAL_MD_IDS if i not in ids] == []


def test_vectors_carry_a_source_and_a_note() -> None:
    """Every vector names where its expected value comes from."""
    for vector in ASSESS_CASES + PERSISTENCE_CASES:
        assert vector["source"].strip(), vector["id"]
        assert vector["note"].strip(), vector["id"]


@pytest.mark.parametrize("vector", ASSESS_CASES, ids=[v["id"] for v in ASSESS_CASES])
def test_assessment_matches_the_vector(vector: dict[str, Any]) -> None:
    """The assessment sections named by the vector equal its expected objects exactly."""
    rules = default_rules()
    if "overrides" in vector:
        rules = with_overrides(rules, vector["overrides"])
    out = assessment_to_dict(assess(observations_from_mapping(vector["inputs"]), rules))
    got = {section: out.get(section) for section in vector["expected"]}
    tolerance = vector.get("tolerance", 1e-9)
    assert _same(got, vector["expected"], tolerance), f"{got} != {vector['expected']}"


@pytest.mark.parametrize("vector", PERSISTENCE_CASES, ids=[v["id"] for v in PERSISTENCE_CASES])
def test_persistence_matches_the_vector(vector: dict[str, Any]) -> None:
    """A sequence of checks produces exactly the expected alert transitions."""
    inputs = vector["inputs"]
    policy = Policy(inputs["fire_k"], inputs["fire_n"], inputs["clear_after"])
    transitions = replay((Outcome(o) for o in inputs["outcomes"]), policy)
    assert [t.value for t in transitions] == vector["expected"]["transitions"]


def test_the_default_rhythm_rule_uses_the_h7_policy() -> None:
    """The packaged irregular-rhythm rule notifies after 5 of 6 checks, as H7 asks."""
    policy = default_rules().rules["rhythm.irregular"].policy
    assert (policy.fire_k, policy.fire_n) == (5, 6)
