"""The pages: sign-in form with CSRF, queue, case actions by form, language, roles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.alerts.factories import SUBJECT
from tests.alerts.web_fixtures import PASSWORDS, Team, build


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return build(tmp_path)


@pytest.fixture
def client(team: Team) -> Iterator[TestClient]:
    with TestClient(team.app, follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def form_login(client: TestClient, username: str, next_: str = "/") -> str:
    page = client.get("/login")
    token = csrf_of(page.text)
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORDS[username],
            "csrf_token": token,
            "next": next_,
        },
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text) if username != "ada" else token


def test_pages_redirect_to_login_and_back(client: TestClient) -> None:
    """An anonymous visit goes to the sign-in form and returns to where it was heading."""
    response = client.get(f"/residents/{SUBJECT}")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fresidents%2F")
    form_login(client, "alice")
    assert client.get(f"/residents/{SUBJECT}").status_code == 200


def test_login_form_needs_its_csrf_token(client: TestClient) -> None:
    """A sign-in post without the form's token is refused."""
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert response.status_code == 403


def test_wrong_password_shows_the_form_again(client: TestClient) -> None:
    """A failed sign-in says so, in the chosen language."""
    client.get("/lang/en")
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "alice", "password": "nope-nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong username or password" in response.text


def test_queue_and_case_page_in_both_languages(client: TestClient) -> None:
    """The queue shows the resident's name and severity; labels follow the language."""
    form_login(client, "alice")
    zh = client.get("/")
    assert "王秀英" in zh.text
    assert "当天处理" in zh.text
    client.get("/lang/en")
    en = client.get("/")
    assert "Urgent" in en.text
    assert "Alert queue" in en.text
    case_id = re.search(r'href="/cases/(\d+)"', en.text)
    assert case_id is not None
    page = client.get(f"/cases/{case_id.group(1)}")
    assert "Trend chart not available yet" in page.text  # the slot, clearly labelled, no fake data
    assert "tel:13800000001" in page.text


def test_form_actions_claim_note_resolve(client: TestClient) -> None:
    """Forms claim, note and resolve; the case leaves the queue; no token, no action."""
    token = form_login(client, "alice")
    case_id = re.search(r'href="/cases/(\d+)"', client.get("/").text)
    assert case_id is not None
    base = f"/cases/{case_id.group(1)}"
    assert client.post(f"{base}/claim", data={}).status_code == 403
    assert client.post(f"{base}/claim", data={"csrf_token": token}).status_code == 303
    assert (
        client.post(f"{base}/note", data={"csrf_token": token, "text": "rang daughter"}).status_code
        == 303
    )
    assert "rang daughter" in client.get(base).text
    done = client.post(f"{base}/resolve", data={"csrf_token": token, "outcome": "home_visit"})
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert "王秀英" not in client.get("/").text


def test_admin_pages_only_for_admins(client: TestClient) -> None:
    """Ada lands on users; Alice gets 404 there."""
    form_login(client, "ada")
    assert client.get("/").headers["location"] == "/admin/users"
    assert "alice" in client.get("/admin/users").text
    client.cookies.clear()
    form_login(client, "alice")
    assert client.get("/admin/users").status_code == 404


def test_station_page_and_open_redirects(client: TestClient) -> None:
    """The station page renders; a login 'next' pointing off-site is ignored."""
    form_login(client, "alice")
    assert client.get("/stations").headers["location"] == "/stations/st-001"
    assert "st-001" in client.get("/stations/st-001").text
    assert client.get("/stations/st-002").status_code == 404
    client.cookies.clear()
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORDS["alice"],
            "csrf_token": token,
            "next": "//evil.example",
        },
    )
    assert response.headers["location"] == "/"


def test_security_headers(client: TestClient) -> None:
    """Pages forbid framing and inline scripts."""
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
