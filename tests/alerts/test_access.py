"""Access to the dashboard, route by route: sign-in, station boundaries and the audit log.

The routes are enumerated from the app itself, so a new route is covered (or makes these
tests fail until it is put on a list here) without anyone remembering to add a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from alerts.web import api, health, pages
from tests.alerts.factories import SUBJECT
from tests.alerts.web_fixtures import Team, api_login, build

#: Routes anybody may use: signing in, choosing the language, the static files and the
#: health routes (no data in them). The API's description is for signed-in users.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/session"),
    ("GET", "/lang/{code}"),
    ("GET", "/static"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}

#: Path parameters that name something belonging to one station.
STATION_SCOPED = {"case_id", "subject_id", "station_id", "silence_id", "filter_id"}

FOLLOW_UP = "2026-12-10T09:00:00+08:00"
#: A valid body for every station-scoped write: JSON for the API, a form for the pages.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/cases/{case_id}/transfer"): {"to_user_id": 2, "note": "over to Bob"},
    ("POST", "/api/v1/cases/{case_id}/attempts"): {"result": "no_answer"},
    ("POST", "/api/v1/cases/{case_id}/notes"): {"text": "called"},
    ("POST", "/api/v1/cases/{case_id}/follow-up"): {"due": FOLLOW_UP},
    ("POST", "/api/v1/cases/{case_id}/resolve"): {"outcome": "reached"},
    ("POST", "/api/v1/cases/{case_id}/reopen"): {"reason": "not done"},
    ("POST", "/cases/{case_id}/transfer"): {"to": 2},
    ("POST", "/cases/{case_id}/attempt"): {"result": "no_answer"},
    ("POST", "/cases/{case_id}/note"): {"text": "called"},
    ("POST", "/cases/{case_id}/follow-up"): {"due": "2026-12-10T09:00"},
    ("POST", "/cases/{case_id}/resolve"): {"outcome": "reached"},
    ("POST", "/cases/{case_id}/reopen"): {"reason": "not done"},
    ("POST", "/cases/{case_id}/silence"): {"until": "2026-12-10T09:00", "reason": "in hospital"},
}


def flatten(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, with included routers opened up (FastAPI nests them lazily)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from flatten(included.routes)
        else:
            yield route


def endpoints(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path template) of every route; a mount counts as GET of its prefix."""
    found: list[tuple[str, str]] = []
    for route in flatten(routes):
        if isinstance(route, APIRoute | Route):
            found += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
        elif isinstance(route, Mount):
            found.append(("GET", route.path))
    return found


#: The dashboard's own routes, known at collection time (the API and the pages).
APP_ROUTES = endpoints(
    [*api.router.routes, *api.spec_router.routes, *pages.router.routes, *health.router.routes]
)


def params(path: str) -> set[str]:
    """The names of a path template's parameters."""
    return set(re.findall(r"\{(\w+)\}", path))


@dataclass
class Scene:
    """A team, and things of station st-001 that Carol (st-002) must not reach."""

    team: Team
    client: TestClient
    values: dict[str, str]

    def path(self, template: str) -> str:
        """``template`` filled with st-001's case, resident, station, silence and filter."""
        return re.sub(r"\{(\w+)\}", lambda m: self.values[m.group(1)], template)

    def case_state(self) -> tuple[Any, ...]:
        """What a refused request must not have changed: the case, silences, filters."""
        tables = ("cases", "case_events", "silences", "saved_filters")
        with self.team.store.engine.connect() as connection:
            return tuple(
                tuple(connection.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all())  # noqa: S608  # fixed names
                for t in tables
            )


def login(client: TestClient, username: str) -> None:
    """Sign in through the API; the CSRF header then serves the API and the page forms."""
    client.cookies.clear()
    api_login(client, username)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    team = build(tmp_path)
    with TestClient(team.app, follow_redirects=False) as client:
        login(client, "alice")
        case_id = client.get("/api/v1/cases").json()["items"][0]["id"]
        # Alice owns the case, so that her control requests are hers to make.
        assert client.post(f"/api/v1/cases/{case_id}/claim").status_code == 200
        silence = client.post(
            "/api/v1/silences",
            json={
                "station_id": "st-001",
                "rule_id": "bp.follow_up",
                "ends_at": "2026-12-01T00:00:00Z",
                "reason": "away",
            },
        )
        assert silence.status_code == 201, silence.text
        saved = client.post(
            "/api/v1/filters",
            json={"name": "diabetic", "query": {"condition": "diabetes"}, "shared": True},
        )
        assert saved.status_code == 201, saved.text
        values = {
            "case_id": str(case_id),
            "subject_id": SUBJECT,
            "station_id": "st-001",
            "silence_id": str(silence.json()["id"]),
            "filter_id": str(saved.json()["id"]),
        }
        yield Scene(team, client, values)


def send(client: TestClient, method: str, template: str, path: str) -> Any:
    """The request a browser or API client would make, with its body when it needs one."""
    body = BODIES.get((method, template))
    if template.startswith("/api/") or body is None:
        return client.request(method, path, json=body)
    return client.request(method, path, data=body)


def test_the_enumeration_sees_every_route_of_the_app(tmp_path: Path) -> None:
    """The app serves exactly the API, spec, page and health routes plus its static files,
    and every route on PUBLIC is one of them."""
    app_routes = set(endpoints(list(build(tmp_path).app.routes)))
    assert app_routes == {*APP_ROUTES, ("GET", "/static")}
    assert len(APP_ROUTES) > 50
    assert PUBLIC <= app_routes


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A client with no user but a valid CSRF token (from the sign-in form), so that a
    write is refused for having no user, not for a missing token. Refused requests change
    nothing, so one app serves every route's test."""
    team = build(tmp_path_factory.mktemp("anonymous"))
    with TestClient(team.app, follow_redirects=False) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert token is not None
        client.headers["X-CSRF-Token"] = token.group(1)
        yield client


@pytest.mark.parametrize(
    ("method", "template"), APP_ROUTES, ids=[f"{m} {t}" for m, t in APP_ROUTES]
)
def test_every_route_refuses_an_anonymous_request(
    anonymous: TestClient, method: str, template: str
) -> None:
    """Without a session, pages redirect to the sign-in form and the API answers 401."""
    values = {"case_id": "1", "subject_id": SUBJECT, "station_id": "st-001"}
    path = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), template)
    response = send(anonymous, method, template, path)
    if (method, template) in PUBLIC:
        assert response.status_code < 500
        return
    if template.startswith("/api/"):
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "not_signed_in"
    else:
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login?next=")


def test_public_routes_hold_no_personal_data(tmp_path: Path) -> None:
    """What anonymous users may fetch carries no resident name or phone number."""
    team = build(tmp_path)
    with TestClient(team.app) as client:
        for path in ("/login", "/healthz", "/readyz", "/static/app.css"):
            text = client.get(path).text
            assert "王秀英" not in text
            assert "13800000001" not in text


CROSS_STATION = [
    (m, t) for m, t in APP_ROUTES if params(t) & STATION_SCOPED and not t.startswith("/admin")
]


def test_every_station_scoped_write_has_a_body_here() -> None:
    """A new station-scoped write route must get a valid body in BODIES to be tested."""
    writes = {(m, t) for m, t in CROSS_STATION if m == "POST" and not t.endswith(("/claim",
              "/unclaim", "/end", "/delete"))}  # fmt: skip
    assert writes == set(BODIES)


@pytest.mark.parametrize(
    ("method", "template"), CROSS_STATION, ids=[f"{m} {t}" for m, t in CROSS_STATION]
)
def test_another_stations_things_are_refused(scene: Scene, method: str, template: str) -> None:
    """Carol (st-002) is refused every case, resident, station, silence and filter of st-001.

    The refusal changes nothing, is audited as denied, and is not for want of a valid
    request: Alice (st-001) sending the same request is let through.
    """
    client, path = scene.client, scene.path(template)
    before = scene.case_state()
    login(client, "carol")
    refused = send(client, method, template, path)
    assert refused.status_code in (403, 404), f"{method} {path}: {refused.status_code}"
    assert scene.case_state() == before
    login(client, "alice")
    allowed = send(client, method, template, path)
    assert allowed.status_code not in (401, 403, 404, 422), f"{path}: {allowed.text[:300]}"


def test_refused_lookups_are_audited_as_denied(scene: Scene) -> None:
    """Carol's attempt to open st-001's case leaves a 'denied' row with her name."""
    case_id = scene.values["case_id"]
    login(scene.client, "carol")
    assert scene.client.get(f"/api/v1/cases/{case_id}").status_code == 404
    login(scene.client, "sam")
    rows = scene.client.get("/api/v1/audit").json()
    denied = [r for r in rows if r["username"] == "carol" and r["outcome"] == "denied"]
    assert [(r["entity_type"], r["entity_id"]) for r in denied] == [("case", case_id)]


@pytest.mark.parametrize("through", ["api", "pages"])
def test_the_audit_log_records_every_access_of_a_session(tmp_path: Path, through: str) -> None:
    """List, view, claim, note and resolve each leave a row: who, what, which case, when."""
    team = build(tmp_path)
    steps: list[tuple[str, str, dict[str, Any] | None]] = (
        [
            ("GET", "/api/v1/cases", None),
            ("GET", "/api/v1/cases/{id}", None),
            ("POST", "/api/v1/cases/{id}/claim", None),
            ("POST", "/api/v1/cases/{id}/notes", {"text": "called, no answer"}),
            ("POST", "/api/v1/cases/{id}/resolve", {"outcome": "reached"}),
        ]
        if through == "api"
        else [
            ("GET", "/", None),
            ("GET", "/cases/{id}", None),
            ("POST", "/cases/{id}/claim", {}),
            ("POST", "/cases/{id}/note", {"text": "called, no answer"}),
            ("POST", "/cases/{id}/resolve", {"outcome": "reached"}),
        ]
    )
    with TestClient(team.app, follow_redirects=False) as client:
        with team.store.engine.connect() as connection:
            found = connection.exec_driver_sql("SELECT id FROM cases WHERE station_id = 'st-001'")
            case_id = str(found.scalar_one())
        login(client, "alice")
        times = [team.store.clock()]
        for method, template, body in steps:
            times.append(team.clock.advance(minutes=1))
            path = template.replace("{id}", case_id)
            if through == "api":
                response = client.request(method, path, json=body)
            else:
                response = client.request(method, path, data=body)
            assert response.status_code in (200, 303), f"{path}: {response.text[:300]}"
        login(client, "sam")
        rows = [r for r in client.get("/api/v1/audit").json() if r["username"] == "alice"]
    got = [(r["action"], r["entity_type"], r["entity_id"], r["at"]) for r in reversed(rows)]
    at = [t.isoformat().replace("+00:00", "Z") for t in times]
    assert got == [
        ("login", "user", str(team.ids["alice"]), at[0]),
        ("view_queue", "queue", "", at[1]),
        ("view_case", "case", case_id, at[2]),
        ("claim", "case", case_id, at[3]),
        ("note", "case", case_id, at[4]),
        ("resolve", "case", case_id, at[5]),
    ]
