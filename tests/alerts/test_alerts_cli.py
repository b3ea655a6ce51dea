"""carepulse alerts users add, residents import (CSV, TOML, pseudonymised on import)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import alerts
from alerts.errors import ImportProblem
from alerts.residents import parse_residents
from alerts.store import CaseStore, Role, Viewer
from carepulse.pseudonym import pseudonymise

SUBJECT = "9b2e" * 8


def test_parse_csv_and_toml() -> None:
    """Both formats give the same record; conditions split on ; or |."""
    csv_text = (
        "subject_id,station_id,name,phone,conditions,consent\n"
        f"{SUBJECT},st-001,王秀英,138,diabetes;hypertension,given\n"
    )
    toml_text = (
        f'[[residents]]\nsubject_id = "{SUBJECT}"\nstation_id = "st-001"\nname = "王秀英"\n'
        'phone = "138"\nconditions = ["diabetes", "hypertension"]\nconsent = "given"\n'
    )
    assert parse_residents(csv_text, "csv") == parse_residents(toml_text, "toml")


def test_resident_id_is_pseudonymised_with_the_station_secret() -> None:
    """A resident_id column becomes the stream's pseudonym; the raw id is not kept."""
    secret = b"0123456789abcdef0123456789abcdef"
    records = parse_residents(
        "resident_id,name\nresident-0042,李明\n",
        "csv",
        default_station="st-001",
        station_secret=secret,
    )
    assert records[0].subject_id == pseudonymise("resident-0042", secret)
    with pytest.raises(ImportProblem, match="station-secret"):
        parse_residents("resident_id,name\nresident-0042,李明\n", "csv", default_station="st-001")
    with pytest.raises(ImportProblem) as caught:
        parse_residents(f"subject_id,station_id,consent\n{SUBJECT},st-001,maybe\n", "csv")
    assert caught.value.line == 2


def test_users_add_and_residents_import_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bootstrap admin and a residents file land in the configured store."""
    monkeypatch.setenv("CAREPULSE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CAREPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("CAREPULSE_ALERTS_PASSWORD", "admin-password")
    runner = CliRunner()
    result = runner.invoke(alerts, ["users", "add", "root", "--role", "admin"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(alerts, ["users", "add", "root", "--role", "admin"])
    assert again.exit_code == 1
    assert "taken" in again.output
    people = tmp_path / "people.csv"
    people.write_text(
        f"subject_id,name,conditions,consent\n{SUBJECT},王秀英,diabetes,given\n", encoding="utf-8"
    )
    imported = runner.invoke(alerts, ["residents", "import", str(people), "--station", "st-001"])
    assert imported.exit_code == 0, imported.output
    store = CaseStore(CaseStore.engine_for(f"sqlite:///{tmp_path / 'cli.sqlite3'}"))
    supervisor = Viewer(1, "x", Role.SUPERVISOR, None)
    assert [r.name for r in store.residents(supervisor)] == ["王秀英"]
    assert store.authenticate("root", "admin-password") is not None
    store.engine.dispose()
