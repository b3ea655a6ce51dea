"""`carepulse decode`: one JSON object per payload, errors name the field."""

from __future__ import annotations

import json

from click.testing import CliRunner

from carepulse.cli import main
from edge.decode_cli import REJECTED, decode


def test_single_payload_prints_one_compact_json_object() -> None:
    """`carepulse decode 2A35 HEX` prints the decoded object on one line."""
    result = CliRunner().invoke(main, ["decode", "2A35", "1c 8a 00 58 00 78 00 3c 00 01 27 00"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert " " not in result.stdout.strip()
    data = json.loads(result.stdout)
    assert data["systolic_mmhg"] == 138.0
    assert data["pulse_rate_bpm"] == 60.0


def test_characteristic_may_be_a_name_or_a_prefixed_uuid() -> None:
    """The snake_case name and 0x-prefixed UUIDs select the same decoder."""
    by_name = CliRunner().invoke(decode, ["heart_rate_measurement", "1e5532002100"])
    by_uuid = CliRunner().invoke(decode, ["0x2a37", "1e5532002100"])
    assert by_name.stdout == by_uuid.stdout
    assert json.loads(by_name.stdout)["rr_intervals_s"] == [33 / 1024]


def test_rejected_payload_exits_2_with_the_field_on_stderr() -> None:
    """A bad payload prints nothing on stdout, one stderr line naming the field, status 2."""
    result = CliRunner().invoke(main, ["decode", "2A37", "170101"])
    assert result.exit_code == REJECTED == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "rr_intervals" in result.stderr


def test_unknown_characteristic_and_bad_hex_are_rejected() -> None:
    """An unknown CHAR or non-hex HEX is a rejection naming 'characteristic' or 'payload'."""
    unknown = CliRunner().invoke(decode, ["2A00", "00"])
    assert unknown.exit_code == 2
    assert "characteristic" in unknown.stderr
    bad_hex = CliRunner().invoke(decode, ["2A37", "zz"])
    assert bad_hex.exit_code == 2
    assert "payload" in bad_hex.stderr


def test_stdin_batch_prints_one_line_per_payload_and_an_error_object() -> None:
    """`carepulse decode -` answers every line; a rejected line gives {"error": ...}."""
    lines = "2A37 1e5532002100\n\nmi_scale 223e30e607020e10293a\n2A1C 06b00e00fedc070c050b321b\n"
    result = CliRunner().invoke(main, ["decode", "-"], input=lines)
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 3
    assert out[0]["heart_rate_bpm"] == 85
    assert out[1]["weight_kg"] == 61.75
    assert set(out[2]) == {"error", "field"}
    assert out[2]["field"] == "temperature_type"


def test_missing_hex_is_a_usage_error() -> None:
    """CHAR without HEX (and not '-') is a usage error."""
    result = CliRunner().invoke(decode, ["2A37"])
    assert result.exit_code == 2
    assert "HEX is required" in result.stderr
