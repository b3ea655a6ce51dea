"""The storage and report commands are registered and explain themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from carepulse.cli import main
from storage.cli import _acknowledgements
from storage.errors import CaseStoreError


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


async def test_an_unreadable_default_alert_store_is_noted_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --alert-db a missing store becomes a note; with --alert-db it is an error."""
    missing = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    monkeypatch.setenv("CAREPULSE_DATABASE_URL", missing)
    since = datetime(2026, 11, 1, tzinfo=UTC)
    until = since + timedelta(days=7)
    rows, problem = await _acknowledgements(None, "st-001", since, until)
    assert rows is None
    assert problem is not None
    assert "no alert case store" in problem
    assert "time to acknowledge left out" in capsys.readouterr().err
    with pytest.raises(CaseStoreError):
        await _acknowledgements(missing, "st-001", since, until)
