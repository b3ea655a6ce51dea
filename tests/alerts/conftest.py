"""Fixtures of the alert-service tests: a case store on SQLite and on the stack's PostgreSQL.

The PostgreSQL store reads ``CAREPULSE_DATABASE_URL_POSTGRES`` from the stack's env file
(``scripts/stack up postgres``). Under ``make test`` (CAREPULSE_REQUIRE_STACK=1) a missing
server fails the run; run by hand without it, those tests skip and say how to start it.
Each PostgreSQL test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from alerts.store import CaseStore

with warnings.catch_warnings():
    # Starlette 1.x wants the httpx2 fork for its TestClient and warns once, at import, when it
    # finds httpx (the client this project locks). Import it here, quietly, before any test module.
    warnings.filterwarnings(
        "ignore",
        message=r"Using `httpx` with `starlette.testclient` is deprecated",
        category=Warning,
    )
    import starlette.testclient  # noqa: F401
from carepulse.settings import CarepulseSettings, stack_env_file
from tests.alerts.factories import Clock

#: Tests hash passwords cheaply; the real cost is tested in test_passwords.py.
FAST_SCRYPT = 2**8

START_HINT = "run `scripts/stack up postgres` (or `make stack-up`) to start the stack's PostgreSQL"


class _PostgresSettings(CarepulseSettings):
    database_url_postgres: str = ""


def _unavailable(reason: str) -> None:
    message = f"{reason}; {START_HINT}"
    if os.environ.get("CAREPULSE_REQUIRE_STACK") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The stack's PostgreSQL URL (skips or fails when it is not there)."""
    url = _PostgresSettings.load().database_url_postgres if stack_env_file().exists() else ""
    if not url:
        _unavailable(f"no CAREPULSE_DATABASE_URL_POSTGRES in {stack_env_file()}")
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _unavailable(
            f"PostgreSQL at {url.rsplit('@', 1)[-1]} is not reachable ({type(exc).__name__})"
        )
    return url


def _schema_engine(url: str) -> tuple[Engine, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    engine = CaseStore.engine_for(url)

    @event.listens_for(engine, "connect")
    def _search_path(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"SET search_path TO {schema}")
        cursor.close()
        dbapi_connection.commit()  # type: ignore[attr-defined]

    return engine, schema


def _drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def clock() -> Clock:
    """An injected clock, starting at the factories' T0."""
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each store test runs on both databases."""
    return str(request.param)


@pytest.fixture
def store(
    backend: str, clock: Clock, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[CaseStore]:
    """An empty case store on ``backend`` with the injected clock."""
    if backend == "sqlite":
        engine = CaseStore.engine_for(f"sqlite:///{tmp_path / 'cases.sqlite3'}")
        s = CaseStore(engine, clock=clock, scrypt_n=FAST_SCRYPT)
        try:
            s.create_schema()
            yield s
        finally:
            engine.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    engine, schema = _schema_engine(url)
    s = CaseStore(engine, clock=clock, scrypt_n=FAST_SCRYPT)
    try:
        s.create_schema()
        yield s
    finally:
        engine.dispose()
        _drop_schema(url, schema)
