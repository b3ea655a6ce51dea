"""Time to acknowledge from the alert case store, as the station report reads it.

Runs on SQLite always and on the stack's PostgreSQL when it is up (required under
``make test``), each PostgreSQL run in a schema of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from alerts import lifecycle as lc
from alerts.store import CaseStore, QueueQuery, Role
from carepulse.alert import Severity
from carepulse.settings import CarepulseSettings, stack_env_file
from storage.analysis import ack_note
from storage.casestore import acknowledgements, shown
from storage.errors import CaseStoreError
from tests.alerts.factories import T0, alert


class _Postgres(CarepulseSettings):
    database_url_postgres: str = ""


def _postgres_url() -> str:
    url = _Postgres.load().database_url_postgres if stack_env_file().exists() else ""
    reason = ""
    if not url:
        reason = f"no CAREPULSE_DATABASE_URL_POSTGRES in {stack_env_file()}"
    else:
        try:
            engine = create_engine(url)
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # any failure means: not reachable
            reason = f"PostgreSQL is not reachable ({type(exc).__name__})"
    if reason:
        message = f"{reason}; run `scripts/stack up postgres`"
        if os.environ.get("CAREPULSE_REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh case store with its tables, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cases.sqlite3'}"
        return
    base = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _fill(url: str) -> None:
    """Three clinical alerts at st-001 (two claimed, after 12 and 40 minutes), one elsewhere."""
    engine = CaseStore.engine_for(url)
    store = CaseStore(engine, scrypt_n=2**8)
    store.create_schema()
    user = store.add_user("li", "password-l", Role.SOCIAL_WORKER, "st-001", "Li Wei")
    viewer = store.viewer(user.id)
    assert viewer is not None
    for n, (rule, severity, minutes) in enumerate(
        [
            ("spo2.low", Severity.EMERGENCY, 12),
            ("bp.urgent_referral", Severity.URGENT, 40),
            ("bp.urgent_referral", Severity.URGENT, None),
        ]
    ):
        subject = f"{n:032x}"
        store.ingest([alert(rule, subject_id=subject, severity=severity, at=T0)])
        if minutes is not None:
            case_id = store.queue(viewer, QueueQuery(subject_id=subject)).items[0].id
            store.act(viewer, case_id, lc.Claim(T0 + timedelta(minutes=minutes), user.id))
    store.ingest([alert(station_id="st-002", subject_id=f"{7:032x}", at=T0)])
    engine.dispose()


def test_time_to_acknowledge_per_rule_and_severity(store_url: str) -> None:
    """Counts and minutes per rule and severity, totals last, nothing else."""
    _fill(store_url)
    rows = acknowledgements(store_url, "st-001", T0 - timedelta(days=1), T0 + timedelta(days=1))
    table = [(r.rule, r.severity, r.raised, r.acknowledged, r.median_minutes) for r in rows]
    assert table == [
        ("bp.urgent_referral", "urgent", 2, 1, 40.0),
        ("spo2.low", "emergency", 1, 1, 12.0),
        ("all", "emergency", 1, 1, 12.0),
        ("all", "urgent", 2, 1, 40.0),
        ("all", "all", 3, 2, 26.0),
    ]
    note = ack_note(rows, 7, "en")
    assert note.startswith("3 clinical alert cases were opened in the last 7 days (repeated")
    assert "median time from alert to acknowledgement was 26 min" in note
    assert "Li Wei" not in repr(rows)
    chinese = ack_note(rows, 7, "zh")
    assert chinese.startswith("近7天共产生3个健康预警案例")
    assert "中位时间为26分钟" in chinese


def test_a_missing_sqlite_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    """The report never creates an empty case store where it expected one."""
    path = tmp_path / "nowhere" / "cases.sqlite3"
    with pytest.raises(CaseStoreError, match="no alert case store") as caught:
        acknowledgements(f"sqlite:///{path}", "st-001", T0, T0 + timedelta(days=1))
    assert not path.exists()
    assert caught.value.where == f"sqlite:///{path}"


def test_a_store_without_tables_says_so(tmp_path: Path) -> None:
    """An empty database file is reported as such, with what to check."""
    path = tmp_path / "empty.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(CaseStoreError, match="created its tables"):
        acknowledgements(f"sqlite:///{path}", "st-001", T0, T0 + timedelta(days=1))


def test_urls_are_shown_without_passwords() -> None:
    """Messages and the report name the store without its credentials."""
    assert (
        shown("postgresql+psycopg://carepulse:s3cret@127.0.0.1:5433/carepulse")
        == "postgresql+psycopg://127.0.0.1:5433/carepulse"
    )
    assert shown("sqlite:////var/lib/cases.sqlite3") == "sqlite:////var/lib/cases.sqlite3"
