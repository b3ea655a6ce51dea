"""The stream error tree: one root, leaves that are also ValueErrors and carry their data."""

from __future__ import annotations

import pytest

from carepulse.errors import CarepulseError
from stream.errors import AssessInputError, RuleConfigError, StreamError
from stream.rules import observations_from_mapping


def test_errors_hang_under_the_carepulse_root() -> None:
    """StreamError is a CarepulseError; its leaves are StreamErrors and ValueErrors."""
    assert issubclass(StreamError, CarepulseError)
    for leaf in (RuleConfigError, AssessInputError):
        assert issubclass(leaf, StreamError)
        assert issubclass(leaf, ValueError)


def test_rule_config_error_names_rule_and_key() -> None:
    """RuleConfigError keeps the rule and key as attributes and in its message."""
    error = RuleConfigError("news2.high", "fire_k", "must be 1")
    assert (error.rule, error.key, error.reason) == ("news2.high", "fire_k", "must be 1")
    assert str(error) == "news2.high: fire_k: must be 1"
    assert str(RuleConfigError("(file)", "", "not TOML")) == "(file): not TOML"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"spo2_percent": 120}, "spo2_percent"),
        ({"spo2_percent": "97"}, "spo2_percent"),
        ({"heart_rate_bpm": True}, "heart_rate_bpm"),
        ({"temperature_c": 98.6}, "temperature_c"),
        ({"on_oxygen": "no"}, "on_oxygen"),
        ({"spo2_scale": 3}, "spo2_scale"),
        ({"spo2_scale": True}, "spo2_scale"),
        ({"consciousness": "a"}, "consciousness"),
        ({"sex": "male"}, "sex"),
        ({"bp_method": "clinic"}, "bp_method"),
        ({"systolic_mmhg": 80, "diastolic_mmhg": 90}, "diastolic_mmhg"),
        ({"rr_intervals_ms": [800]}, "rr_intervals_ms"),
        ({"rr_intervals_ms": "800,810"}, "rr_intervals_ms"),
        ({"rr_intervals_ms": [800, 50]}, "rr_intervals_ms[1]"),
        ({"weights": []}, "weights"),
        ({"weights": [["2026-03-01", 70], ["2026-13-01", 71]]}, "weights[1][0]"),
        ({"weights": [["2026-03-01", 700]]}, "weights[0][1]"),
        ({"weights": [["2026-03-01"]]}, "weights[0]"),
        ({"glucose_mmol_l": 120}, "glucose_mmol_l"),
        ({"unknown": 1, "spo2_percent": 97}, "unknown"),
    ],
)
def test_assess_input_error_names_the_key(data: dict[str, object], key: str) -> None:
    """Each invalid input is refused naming the key at fault."""
    with pytest.raises(AssessInputError) as info:
        observations_from_mapping(data)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")


def test_null_means_absent() -> None:
    """A key given as null is treated as not measured."""
    assert observations_from_mapping({"spo2_percent": None}).spo2_percent is None


def test_weights_accept_timestamps() -> None:
    """A weighing dated with a full ISO timestamp counts for its calendar day."""
    obs = observations_from_mapping({"weights": [["2026-03-01T07:30:00+08:00", 70.0]]})
    assert obs.weights is not None
    assert obs.weights[0][0].isoformat() == "2026-03-01"
