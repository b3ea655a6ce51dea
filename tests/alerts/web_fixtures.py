"""A web app over a SQLite store with a station's team, for the API, page and fuzz tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.store import CaseStore, ResidentRecord, Role
from alerts.web import WebConfig, create_app
from tests.alerts.factories import SUBJECT, Clock, alert

OTHER = "0a1b" * 8
FAST_SCRYPT = 2**8
PASSWORDS = {
    "alice": "alice-password",
    "bob": "bob-password",
    "carol": "carol-password",
    "sam": "sam-password",
    "ada": "ada-password",
}


@dataclass
class Team:
    """The app, its store and clock, and the user ids."""

    app: FastAPI
    store: CaseStore
    clock: Clock
    ids: dict[str, int]


def build(tmp_path: Path, *, clock: Clock | None = None) -> Team:
    """Alice and Bob at st-001, Carol at st-002, Sam supervises, Ada administers."""
    clock = clock or Clock()
    engine = CaseStore.engine_for(f"sqlite:///{tmp_path / 'web.sqlite3'}")
    store = CaseStore(engine, clock=clock, scrypt_n=FAST_SCRYPT)
    store.create_schema()
    ids = {
        "alice": store.add_user(
            "alice", PASSWORDS["alice"], Role.SOCIAL_WORKER, "st-001", "Alice"
        ).id,
        "bob": store.add_user("bob", PASSWORDS["bob"], Role.SOCIAL_WORKER, "st-001", "Bob").id,
        "carol": store.add_user(
            "carol", PASSWORDS["carol"], Role.SOCIAL_WORKER, "st-002", "Carol"
        ).id,
        "sam": store.add_user("sam", PASSWORDS["sam"], Role.SUPERVISOR, None, "Sam").id,
        "ada": store.add_user("ada", PASSWORDS["ada"], Role.ADMIN, None, "Ada").id,
    }
    store.import_residents(
        [
            ResidentRecord(
                SUBJECT, "st-001", "王秀英", "13800000001", ("diabetes", "hypertension"), "given"
            ),
            ResidentRecord(OTHER, "st-002", "李明", "13800000002", ("hypertension",), "given"),
        ]
    )
    store.ingest([alert(), alert(subject_id=OTHER, station_id="st-002")])
    app = create_app(store, WebConfig(secret_key="test-secret-" + "x" * 32))
    return Team(app, store, clock, ids)


def api_login(client: TestClient, username: str) -> str:
    """Sign in through the JSON API; returns the CSRF token (the cookie stays in the client)."""
    response = client.post(
        "/api/v1/session", json={"username": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = token
    return token
