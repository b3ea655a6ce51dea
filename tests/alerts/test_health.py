"""What ``/healthz`` and ``/readyz`` answer: the pure decision, and the routes on the app."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.health import (
    MAX_FETCH_AGE_S,
    ConsumerHealth,
    ConsumerPhase,
    consumer_check,
    database_check,
    readiness,
)
from alerts.store import CaseStore
from alerts.web import WebConfig, create_app
from tests.alerts.web_fixtures import api_login, build

CONSUMING = ConsumerHealth(ConsumerPhase.CONSUMING, partitions=4, fetch_age_s=0.4)


@pytest.mark.parametrize(
    ("health", "ok", "reason"),
    [
        (None, True, "not consuming Kafka (serve --no-consumer)"),
        (CONSUMING, True, "consuming 4 partition(s) of alerts"),
        (
            ConsumerHealth(ConsumerPhase.STARTING, error="KafkaConnectionError"),
            False,
            "connecting to Kafka (KafkaConnectionError); retrying",
        ),
        (ConsumerHealth(ConsumerPhase.STARTING), False, "connecting to Kafka; retrying"),
        (
            ConsumerHealth(ConsumerPhase.JOINING),
            False,
            "waiting for the consumer group to assign partitions of alerts",
        ),
        (
            ConsumerHealth(ConsumerPhase.CONSUMING, partitions=0, fetch_age_s=0.1),
            False,
            "waiting for the consumer group to assign partitions of alerts",
        ),
        (
            ConsumerHealth(
                ConsumerPhase.CONSUMING, partitions=4, fetch_age_s=0.1, store_failures=3
            ),
            False,
            "storing a batch of alerts failed 3 time(s) in a row; retrying (is the case store up?)",
        ),
        (
            ConsumerHealth(ConsumerPhase.CONSUMING, partitions=4),
            False,
            "no fetch from Kafka yet",
        ),
        (
            ConsumerHealth(ConsumerPhase.CONSUMING, partitions=4, fetch_age_s=MAX_FETCH_AGE_S + 1),
            False,
            "no fetch from Kafka for 31 s (over 30 s); is Kafka up?",
        ),
        (
            ConsumerHealth(ConsumerPhase.STOPPED),
            False,
            "the Kafka consumer has stopped; see the service log",
        ),
    ],
)
def test_the_consumer_check_names_what_is_wrong(
    health: ConsumerHealth | None, ok: bool, reason: str
) -> None:
    """Each state of the consumer gives its own verdict and reason."""
    check = consumer_check(health)
    assert (check.ok, check.reason) == (ok, reason)


def test_a_fetch_just_within_the_limit_is_still_ready() -> None:
    """The fetch-age limit is inclusive."""
    at_limit = ConsumerHealth(ConsumerPhase.CONSUMING, partitions=1, fetch_age_s=MAX_FETCH_AGE_S)
    assert consumer_check(at_limit).ok


def test_readiness_needs_every_check() -> None:
    """Ready only when the store answers and the consumer consumes; the body says which."""
    assert readiness(None, CONSUMING).as_dict() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True, "reason": "the case store answers"},
            "kafka_consumer": {"ok": True, "reason": "consuming 4 partition(s) of alerts"},
        },
    }
    down = readiness("OperationalError", CONSUMING)
    assert not down.ready
    assert down.as_dict()["status"] == "not_ready"
    assert database_check("OperationalError").reason == (
        "the case store does not answer (OperationalError); see the service log"
    )
    assert not readiness(None, ConsumerHealth(ConsumerPhase.STOPPED)).ready


def test_healthz_and_readyz_answer_anyone_without_personal_data(tmp_path: Path) -> None:
    """Anonymous: /healthz 200, /readyz 200 with its checks; no resident name or phone."""
    team = build(tmp_path)
    with TestClient(team.app) as client:
        live = client.get("/healthz")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"]["ok"] is True
        for response in (live, ready):
            assert "王秀英" not in response.text
            assert "13800000001" not in response.text
            assert response.headers["cache-control"] == "no-store"


def test_readyz_is_503_with_the_consumers_reason(tmp_path: Path) -> None:
    """A consumer that is not consuming makes the service not ready, and says why."""
    team = build(tmp_path)
    app = create_app(
        team.store,
        WebConfig(secret_key="test-secret-" + "x" * 32),
        consumer=lambda: ConsumerHealth(ConsumerPhase.STARTING, error="KafkaConnectionError"),
    )
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["kafka_consumer"] == {
        "ok": False,
        "reason": "connecting to Kafka (KafkaConnectionError); retrying",
    }


def test_readyz_is_503_when_the_case_store_cannot_be_reached(tmp_path: Path) -> None:
    """A PostgreSQL store where nothing listens: 503, the error's type, not its text
    (which names the host and the user)."""
    store = CaseStore(
        CaseStore.engine_for("postgresql+psycopg://carepulse-user:secret@127.0.0.1:1/cases")
    )
    app = create_app(store, WebConfig(secret_key="test-secret-" + "x" * 32))
    with TestClient(app) as client:
        response = client.get("/readyz")
        again = client.get("/readyz")
    assert response.status_code == again.status_code == 503
    check = response.json()["checks"]["database"]
    assert check == {
        "ok": False,
        "reason": "the case store does not answer (OperationalError); see the service log",
    }
    assert "carepulse-user" not in response.text
    assert "127.0.0.1" not in response.text


def test_the_api_description_is_for_signed_in_users_only(tmp_path: Path) -> None:
    """/api/openapi.json: 401 anonymous, the spec once signed in; no Swagger UI page."""
    team = build(tmp_path)
    with TestClient(team.app) as client:
        refused = client.get("/api/openapi.json")
        assert (refused.status_code, refused.json()["code"]) == (401, "not_signed_in")
        assert client.get("/api/docs").status_code == 404
        assert client.get("/docs/oauth2-redirect").status_code == 404
        api_login(client, "carol")
        spec = client.get("/api/openapi.json")
        assert spec.status_code == 200
        assert "/api/v1/cases" in spec.json()["paths"]
