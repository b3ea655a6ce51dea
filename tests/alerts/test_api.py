"""The JSON API: sign-in, queue, actions, permissions, CSRF, silences, filters, audit, export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carepulse.alert import Severity
from tests.alerts.factories import SUBJECT, alert
from tests.alerts.web_fixtures import OTHER, Team, api_login, build


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return build(tmp_path)


@pytest.fixture
def client(team: Team) -> Iterator[TestClient]:
    with TestClient(team.app) as c:
        yield c


def first_case(client: TestClient) -> int:
    items = client.get("/api/v1/cases").json()["items"]
    assert len(items) == 1
    case_id: int = items[0]["id"]
    return case_id


def test_everything_needs_a_session(client: TestClient) -> None:
    """Without signing in the API answers 401."""
    for path in ("/api/v1/cases", "/api/v1/residents", "/api/v1/session", "/api/v1/audit"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json()["code"] == "not_signed_in"


def test_wrong_password_is_refused(client: TestClient) -> None:
    """A wrong password gives 401 and no session."""
    response = client.post("/api/v1/session", json={"username": "alice", "password": "nope-nope"})
    assert response.status_code == 401
    assert client.get("/api/v1/cases").status_code == 401


def test_login_needs_json(client: TestClient) -> None:
    """A form-encoded login (what a cross-site form could send) is refused."""
    response = client.post(
        "/api/v1/session", data={"username": "alice", "password": "alice-password"}
    )
    assert response.status_code in (415, 422)


def test_claim_note_resolve_through_the_api(client: TestClient, team: Team) -> None:
    """The whole flow: claim, attempt, note, resolve; the case leaves the queue."""
    api_login(client, "alice")
    case_id = first_case(client)
    assert client.post(f"/api/v1/cases/{case_id}/claim").json()["state"] == "claimed"
    attempt = client.post(
        f"/api/v1/cases/{case_id}/attempts", json={"result": "reached", "note": "ok"}
    )
    assert attempt.json()["state"] == "in_progress"
    assert (
        client.post(
            f"/api/v1/cases/{case_id}/notes", json={"text": "BP re-measured 150/95"}
        ).status_code
        == 200
    )
    resolved = client.post(
        f"/api/v1/cases/{case_id}/resolve", json={"outcome": "reached", "note": "advised"}
    )
    assert resolved.json()["state"] == "closed"
    assert client.get("/api/v1/cases").json()["total"] == 0
    detail = client.get(f"/api/v1/cases/{case_id}").json()
    assert [h["kind"] for h in detail["history"]] == [
        "opened",
        "claim",
        "attempt",
        "note",
        "resolve",
    ]
    assert detail["resident"]["name"] == "王秀英"


def test_a_referral_comes_back_after_two_weeks(client: TestClient, team: Team) -> None:
    """Resolving as referred parks the case with a due date 14 days out."""
    api_login(client, "alice")
    case_id = first_case(client)
    parked = client.post(f"/api/v1/cases/{case_id}/resolve", json={"outcome": "referred"}).json()
    assert parked["state"] == "follow_up"
    assert parked["due_at"].startswith((team.clock() + timedelta(days=14)).date().isoformat())


def test_a_forbidden_transition_is_409(client: TestClient) -> None:
    """Claiming twice: the lifecycle refuses with 409 and says why."""
    api_login(client, "alice")
    case_id = first_case(client)
    client.post(f"/api/v1/cases/{case_id}/claim")
    again = client.post(f"/api/v1/cases/{case_id}/claim")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


def test_writes_need_the_csrf_token(client: TestClient) -> None:
    """A write without X-CSRF-Token, or with a wrong one, is refused with 403."""
    api_login(client, "alice")
    case_id = first_case(client)
    token = client.headers.pop("X-CSRF-Token")
    assert client.post(f"/api/v1/cases/{case_id}/claim").status_code == 403
    bad = client.post(f"/api/v1/cases/{case_id}/claim", headers={"X-CSRF-Token": "x" * 43})
    assert bad.status_code == 403
    assert bad.json()["code"] == "csrf"
    ok = client.post(f"/api/v1/cases/{case_id}/claim", headers={"X-CSRF-Token": token})
    assert ok.status_code == 200


def test_a_social_worker_cannot_see_another_stations_residents_or_cases(
    client: TestClient, team: Team
) -> None:
    """Carol (st-002) gets 404 for st-001's case and resident, and lists only her own."""
    api_login(client, "alice")
    alice_case = first_case(client)
    client.cookies.clear()
    api_login(client, "carol")
    assert client.get(f"/api/v1/cases/{alice_case}").status_code == 404
    assert client.get(f"/api/v1/residents/{SUBJECT}").status_code == 404
    assert client.post(f"/api/v1/cases/{alice_case}/claim").status_code == 404
    assert [r["subject_id"] for r in client.get("/api/v1/residents").json()] == [OTHER]
    assert [c["subject_id"] for c in client.get("/api/v1/cases").json()["items"]] == [OTHER]
    assert client.get("/api/v1/stations/st-001/stats").status_code == 404
    assert client.get("/api/v1/audit").status_code == 403


def test_a_supervisor_sees_every_station_and_exports(client: TestClient) -> None:
    """Sam lists both stations' cases, filters by station, reads the audit log, exports CSV."""
    api_login(client, "sam")
    assert client.get("/api/v1/cases").json()["total"] == 2
    assert client.get("/api/v1/cases", params={"station_id": "st-002"}).json()["total"] == 1
    export = client.get("/api/v1/export/cases.csv")
    assert export.status_code == 200
    assert export.text.splitlines()[0].startswith("case_id,station_id,subject_id")
    assert "王秀英" not in export.text  # pseudonyms only
    actions = [a["action"] for a in client.get("/api/v1/audit").json()]
    assert actions[:2] == ["export", "view_queue"]


def test_the_admin_manages_users_but_sees_no_residents(client: TestClient) -> None:
    """Ada adds a doctor; she cannot open the queue or residents."""
    api_login(client, "ada")
    made = client.post(
        "/api/v1/users",
        json={
            "username": "dr.zhang",
            "password": "doctor-password",
            "role": "doctor",
            "station_id": "st-001",
        },
    )
    assert made.status_code == 201, made.text
    assert client.get("/api/v1/cases").status_code == 403
    assert client.get("/api/v1/residents").status_code == 403
    duplicate = client.post(
        "/api/v1/users",
        json={
            "username": "dr.zhang",
            "password": "doctor-password",
            "role": "doctor",
            "station_id": "st-001",
        },
    )
    assert duplicate.status_code == 409


def test_only_admins_add_users(client: TestClient) -> None:
    """A supervisor cannot add users."""
    api_login(client, "sam")
    response = client.post(
        "/api/v1/users", json={"username": "x", "password": "password-x", "role": "admin"}
    )
    assert response.status_code == 403


def test_transfer_to_a_doctor_and_silence(client: TestClient, team: Team) -> None:
    """One-click transfer to Bob; a silence hides the case; an emergency rule cannot be silenced."""
    api_login(client, "alice")
    case_id = first_case(client)
    moved = client.post(
        f"/api/v1/cases/{case_id}/transfer", json={"to_user_id": team.ids["bob"], "note": "yours"}
    )
    assert moved.json()["assignee_name"] == "Bob"
    assert (
        client.post(
            f"/api/v1/cases/{case_id}/transfer", json={"to_user_id": team.ids["carol"]}
        ).status_code
        == 403
    )
    ends = (team.clock() + timedelta(hours=3)).isoformat()
    made = client.post(
        "/api/v1/silences",
        json={
            "station_id": "st-001",
            "subject_id": SUBJECT,
            "ends_at": ends,
            "reason": "in hospital",
        },
    )
    assert made.status_code == 201, made.text
    assert client.get("/api/v1/cases").json()["total"] == 0
    assert client.get("/api/v1/cases", params={"include_held": True}).json()["items"][0][
        "silenced_until"
    ]
    team.store.ingest([alert("news2.high", severity=Severity.EMERGENCY)])
    refused = client.post(
        "/api/v1/silences",
        json={"station_id": "st-001", "rule_id": "news2.high", "ends_at": ends, "reason": "x"},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "silence_emergency"
    assert client.post(f"/api/v1/silences/{made.json()['id']}/end").status_code == 204
    assert client.get("/api/v1/silences").json() == []


def test_saved_cohort_filter(client: TestClient, team: Team) -> None:
    """Save 'diabetic and no check-in for 3 days' and use it by id."""
    api_login(client, "alice")
    body = {
        "name": "diabetic, 3 days",
        "shared": True,
        "query": {"condition": "diabetes", "no_checkin_days": 3},
    }
    made = client.post("/api/v1/filters", json=body)
    assert made.status_code == 201, made.text
    fid = made.json()["id"]
    assert client.get("/api/v1/cases", params={"filter_id": fid}).json()["total"] == 0
    team.clock.advance(days=3, minutes=1)
    assert client.get("/api/v1/cases", params={"filter_id": fid}).json()["total"] == 1
    body["query"] = {"condition": "asthma"}
    other = client.post("/api/v1/filters", json=body).json()["id"]
    assert client.get("/api/v1/cases", params={"filter_id": other}).json()["total"] == 0
    assert client.delete(f"/api/v1/filters/{fid}").status_code == 204
    assert client.get("/api/v1/cases", params={"filter_id": fid}).status_code == 404


def test_station_stats_and_logout(client: TestClient) -> None:
    """Alice reads her station's figures; after logout the session is gone."""
    api_login(client, "alice")
    stats = client.get("/api/v1/stations/st-001/stats").json()
    assert stats["open_by_severity"]["urgent"] == 1
    assert client.get("/api/v1/stations").json() == ["st-001"]
    assert client.delete("/api/v1/session").status_code == 204
    assert client.get("/api/v1/cases").status_code == 401


def test_openapi_spec_lists_the_api_only(client: TestClient) -> None:
    """The spec documents /api/v1 and no HTML pages nor health routes."""
    api_login(client, "alice")
    spec = client.get("/api/openapi.json").json()
    assert all(path.startswith("/api/v1/") for path in spec["paths"])
    assert "/api/v1/cases/{case_id}/resolve" in spec["paths"]
