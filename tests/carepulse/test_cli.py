"""The carepulse command: only working subcommands, version output, stack wrapper."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from carepulse import __version__
from carepulse.cli import COMMANDS, main
from carepulse.stack import stack_script


def test_help_lists_exactly_the_registered_commands() -> None:
    """Every registered command is listed and imports; nothing else is offered."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = [
        line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()
    ]
    assert listed == sorted(COMMANDS)
    for name in COMMANDS:
        sub = CliRunner().invoke(main, [name, "--help"])
        assert sub.exit_code == 0, sub.output


def test_version_prints_the_package_version() -> None:
    """`carepulse version` prints carepulse's version."""
    result = CliRunner().invoke(main, ["version"])
    assert result.exit_code == 0
    assert result.output == f"carepulse {__version__}\n"


def test_version_all_json_lists_the_main_libraries() -> None:
    """`carepulse version --all --json` names the installed library versions."""
    result = CliRunner().invoke(main, ["version", "--all", "--json"])
    data = json.loads(result.output)
    assert data["carepulse"] == __version__
    assert data["faust-streaming"].startswith("0.")
    assert data["bumble"] != "not installed"


def test_unknown_command_is_an_error() -> None:
    """A subcommand that does not exist yet is refused, not stubbed."""
    result = CliRunner().invoke(main, ["dashboard"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_bad_log_level_is_a_usage_error() -> None:
    """--log-level LOUD is refused naming the option."""
    result = CliRunner().invoke(main, ["--log-level", "LOUD", "version"])
    assert result.exit_code == 2
    assert "--log-level" in result.output


def test_stack_command_finds_the_checkout_script() -> None:
    """`carepulse stack` runs scripts/stack from this checkout."""
    script = stack_script()
    assert script == Path(__file__).resolve().parents[2] / "scripts" / "stack"


def test_stack_rejects_unknown_services() -> None:
    """Only the three stack services can be named."""
    result = CliRunner().invoke(main, ["stack", "up", "redis"])
    assert result.exit_code == 2
    assert "redis" in result.output
