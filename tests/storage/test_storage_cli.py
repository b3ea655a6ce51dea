"""The storage and report commands are registered and explain themselves."""

from __future__ import annotations

from click.testing import CliRunner

from carepulse.cli import main


def test_commands_are_registered() -> None:
    """`carepulse storage` and `carepulse report` list their subcommands."""
    runner = CliRunner()
    storage = runner.invoke(main, ["storage", "--help"])
    report = runner.invoke(main, ["report", "--help"])
    assert storage.exit_code == 0
    assert "init" in storage.output
    assert "status" in storage.output
    assert report.exit_code == 0
    assert "resident" in report.output
    assert "station" in report.output


def test_resident_report_wants_a_pseudonym() -> None:
    """A name or raw id is refused before any query, saying storage only knows pseudonyms."""
    result = CliRunner().invoke(main, ["report", "resident", "Wang-Fang", "--days", "7"])
    assert result.exit_code == 1
    assert "pseudonym" in result.output
