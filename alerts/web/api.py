"""The JSON API (``/api/v1``): everything the pages do, with an OpenAPI spec.

Sign in with ``POST /api/v1/session`` (JSON); send the returned ``csrf_token`` as the
``X-CSRF-Token`` header on every write, with the session cookie.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from alerts import lifecycle as lc
from alerts.store import CaseStore, QueueQuery, Role
from alerts.web.app import (
    CsrfDep,
    ViewerDep,
    WebConfig,
    audit_context,
    csrf_token,
    event_response,
    sign_in,
)
from alerts.web.schemas import (
    AttemptIn,
    AuditOut,
    CaseDetailOut,
    CaseOut,
    ErrorOut,
    FilterIn,
    FilterOut,
    LoginIn,
    NoteIn,
    QueryIn,
    QueueOut,
    ReopenIn,
    ResidentDetailOut,
    ResidentOut,
    ResolveIn,
    ScheduleIn,
    SessionOut,
    SilenceIn,
    SilenceOut,
    StationStatsOut,
    TransferIn,
    UserActiveIn,
    UserIn,
    UserOut,
    _dc,
)
from carepulse.alert import Category, Severity

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "The body is not valid JSON."},
    401: {"model": ErrorOut, "description": "Not signed in."},
    403: {"model": ErrorOut, "description": "Role or station does not allow it, or no CSRF token."},
    404: {"model": ErrorOut, "description": "No such record (or not visible to you)."},
    409: {"model": ErrorOut, "description": "The case's state does not allow this action."},
    415: {"model": ErrorOut, "description": "Wrong content type."},
    422: {"model": ErrorOut, "description": "Invalid input."},
}

#: The API's OpenAPI description, for signed-in users (any role): it holds no data, but an
#: anonymous visitor has no need of a map of the API.
spec_router = APIRouter(prefix="/api", include_in_schema=False)


@spec_router.get("/openapi.json")
async def openapi(request: Request, viewer: ViewerDep) -> JSONResponse:
    """The OpenAPI description of ``/api/v1``."""
    return JSONResponse(request.app.openapi())


#: Database ids: positive and within a 32-bit signed integer (SQLite and PostgreSQL agree).
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
StationId = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)


def _store(request: Request) -> CaseStore:
    store: CaseStore = request.app.state.store
    return store


def _config(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.config
    return config


# ------------------------------------------------------------------------------ session


@router.post("/session", response_model=SessionOut, tags=["session"])
def login(body: LoginIn, request: Request) -> SessionOut:
    """Sign in; returns the user and the CSRF token for writes."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(415, "send the credentials as application/json")
    store = _store(request)
    viewer = store.authenticate(
        body.username, body.password, address=audit_context(request, None).address
    )
    if viewer is None:
        raise HTTPException(401, "wrong username or password")
    token = sign_in(request, viewer)
    return SessionOut(user=UserOut.of(store.user(viewer.user_id)), csrf_token=token)


@router.get("/session", response_model=SessionOut, tags=["session"])
def whoami(viewer: ViewerDep, request: Request) -> SessionOut:
    """The signed-in user and the session's CSRF token."""
    info = _store(request).user(viewer.user_id)
    return SessionOut(user=UserOut.of(info), csrf_token=csrf_token(request))


@router.delete("/session", status_code=204, dependencies=[CsrfDep], tags=["session"])
def logout(viewer: ViewerDep, request: Request) -> Response:
    """Sign out."""
    _store(request).audit(audit_context(request, viewer), "logout", "user", str(viewer.user_id))
    request.session.clear()
    return Response(status_code=204)


# -------------------------------------------------------------------------------- cases


@router.get("/cases", response_model=QueueOut, tags=["cases"])
def list_cases(
    viewer: ViewerDep,
    request: Request,
    category: Category = Category.CLINICAL,
    state: Annotated[list[lc.CaseState] | None, Query(max_length=5)] = None,
    severity: Annotated[list[Severity] | None, Query(max_length=4)] = None,
    station_id: Annotated[str | None, Query(max_length=64)] = None,
    rule_prefix: Annotated[str, Query(max_length=128)] = "",
    condition: Annotated[str, Query(max_length=64)] = "",
    no_checkin_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    mine: bool = False,
    overdue: bool = False,
    include_held: bool = False,
    filter_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> QueueOut:
    """The queue: overdue first, then severity, then age. A saved filter replaces the filters."""
    store = _store(request)
    if filter_id is not None:
        saved = {fid: q for fid, _, q, _ in store.filters(viewer)}
        if filter_id not in saved:
            raise HTTPException(404, f"no saved filter {filter_id}")
        query = QueryIn.of(saved[filter_id]).to_query(limit, offset)
    else:
        query = QueueQuery(
            category=category,
            states=tuple(state) if state else QueueQuery().states,
            severities=tuple(severity or ()),
            station_id=station_id,
            rule_prefix=rule_prefix,
            condition=condition,
            no_checkin_days=no_checkin_days,
            mine_only=mine,
            overdue_only=overdue,
            include_held=include_held,
            limit=limit,
            offset=offset,
        )
    page = store.queue(viewer, query, by=audit_context(request, viewer))
    return QueueOut(items=[CaseOut.of(i) for i in page.items], total=page.total)


@router.get("/cases/{case_id}", response_model=CaseDetailOut, tags=["cases"])
def get_case(case_id: Id, viewer: ViewerDep, request: Request) -> CaseDetailOut:
    """One case with its resident, evidence, history and the resident's other open cases."""
    detail = _store(request).case_detail(viewer, case_id, by=audit_context(request, viewer))
    return CaseDetailOut.of(detail)


def _act(request: Request, viewer: ViewerDep, case_id: Id, event: lc.Event) -> CaseOut:
    item = _store(request).act(viewer, case_id, event, by=audit_context(request, viewer))
    return CaseOut.of(item)


def _now(request: Request) -> datetime:
    return _store(request).clock()


@router.post(
    "/cases/{case_id}/claim", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def claim(case_id: Id, viewer: ViewerDep, request: Request) -> CaseOut:
    """Take the case (acknowledge it)."""
    return _act(request, viewer, case_id, lc.Claim(_now(request), viewer.user_id))


@router.post(
    "/cases/{case_id}/unclaim", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def unclaim(case_id: Id, viewer: ViewerDep, request: Request) -> CaseOut:
    """Give the case back to the queue."""
    return _act(request, viewer, case_id, lc.Unclaim(_now(request), viewer.user_id))


@router.post(
    "/cases/{case_id}/transfer", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def transfer(case_id: Id, body: TransferIn, viewer: ViewerDep, request: Request) -> CaseOut:
    """Hand the case to a colleague of its station, a doctor, or a supervisor."""
    return _act(
        request,
        viewer,
        case_id,
        lc.Transfer(_now(request), viewer.user_id, body.to_user_id, body.note),
    )


@router.post(
    "/cases/{case_id}/attempts", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def attempt(case_id: Id, body: AttemptIn, viewer: ViewerDep, request: Request) -> CaseOut:
    """Log a call or visit attempt (claims an unclaimed case for you)."""
    return _act(
        request, viewer, case_id, lc.Attempt(_now(request), viewer.user_id, body.result, body.note)
    )


@router.post(
    "/cases/{case_id}/notes", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def note(case_id: Id, body: NoteIn, viewer: ViewerDep, request: Request) -> CaseOut:
    """Add a free-text note."""
    return _act(request, viewer, case_id, lc.Note(_now(request), viewer.user_id, body.text))


@router.post(
    "/cases/{case_id}/follow-up", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def schedule(case_id: Id, body: ScheduleIn, viewer: ViewerDep, request: Request) -> CaseOut:
    """Park the case until a follow-up date."""
    return _act(
        request, viewer, case_id, lc.Schedule(_now(request), viewer.user_id, body.due, body.note)
    )


@router.post(
    "/cases/{case_id}/resolve", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def resolve(case_id: Id, body: ResolveIn, viewer: ViewerDep, request: Request) -> CaseOut:
    """Close with an outcome; 'referred' parks it for the referral follow-up instead."""
    now = _now(request)
    due = body.due
    if body.outcome == "referred" and due is None:
        due = now + timedelta(days=_config(request).referral_follow_up_days)
    outcome = lc.Outcome(body.outcome)
    return _act(request, viewer, case_id, lc.Resolve(now, viewer.user_id, outcome, body.note, due))


@router.post(
    "/cases/{case_id}/reopen", response_model=CaseOut, dependencies=[CsrfDep], tags=["actions"]
)
def reopen(case_id: Id, body: ReopenIn, viewer: ViewerDep, request: Request) -> CaseOut:
    """Re-open a closed case (its owner or a supervisor)."""
    return _act(request, viewer, case_id, lc.Reopen(_now(request), viewer.user_id, body.reason))


@router.get(
    "/events",
    tags=["cases"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def events(viewer: ViewerDep, request: Request) -> StreamingResponse:
    """Server-sent events: ``change`` whenever the viewer's cases change."""
    return event_response(request, viewer)


# ----------------------------------------------------------------------------- silences


@router.get("/silences", response_model=list[SilenceOut], tags=["silences"])
def list_silences(viewer: ViewerDep, request: Request, active: bool = True) -> list[SilenceOut]:
    """Silences of your station(s)."""
    return [SilenceOut.of(s) for s in _store(request).silences(viewer, active_only=active)]


@router.post(
    "/silences",
    response_model=SilenceOut,
    status_code=201,
    dependencies=[CsrfDep],
    tags=["silences"],
)
def add_silence(body: SilenceIn, viewer: ViewerDep, request: Request) -> SilenceOut:
    """Silence a resident's or a rule's cases until a time, with a reason (never emergencies)."""
    info = _store(request).add_silence(
        viewer,
        station_id=body.station_id,
        subject_id=body.subject_id,
        rule_id=body.rule_id,
        ends_at=body.ends_at,
        reason=body.reason,
        by=audit_context(request, viewer),
    )
    return SilenceOut.of(info)


@router.post(
    "/silences/{silence_id}/end", status_code=204, dependencies=[CsrfDep], tags=["silences"]
)
def end_silence(silence_id: Id, viewer: ViewerDep, request: Request) -> Response:
    """End a silence now."""
    _store(request).end_silence(viewer, silence_id, by=audit_context(request, viewer))
    return Response(status_code=204)


# ---------------------------------------------------------------------------- residents


@router.get("/residents", response_model=list[ResidentOut], tags=["residents"])
def list_residents(
    viewer: ViewerDep, request: Request, condition: Annotated[str, Query(max_length=64)] = ""
) -> list[ResidentOut]:
    """Residents of your station(s) (name, phone, conditions, consent)."""
    rows = _store(request).residents(viewer, condition=condition, by=audit_context(request, viewer))
    return [ResidentOut.of(r) for r in rows]


@router.get("/residents/{subject_id}", response_model=ResidentDetailOut, tags=["residents"])
def get_resident(
    subject_id: Annotated[str, Path(max_length=32)], viewer: ViewerDep, request: Request
) -> ResidentDetailOut:
    """One resident's profile and cases."""
    info, cases = _store(request).resident(viewer, subject_id, by=audit_context(request, viewer))
    return ResidentDetailOut(resident=ResidentOut.of(info), cases=[CaseOut.of(c) for c in cases])


# ------------------------------------------------------------------------------ filters


@router.get("/filters", response_model=list[FilterOut], tags=["filters"])
def list_filters(viewer: ViewerDep, request: Request) -> list[FilterOut]:
    """Your saved cohort filters and those shared with your station."""
    return [
        FilterOut(id=fid, name=name, mine=mine, query=QueryIn.of(q))
        for fid, name, q, mine in _store(request).filters(viewer)
    ]


@router.post(
    "/filters", response_model=FilterOut, status_code=201, dependencies=[CsrfDep], tags=["filters"]
)
def save_filter(body: FilterIn, viewer: ViewerDep, request: Request) -> FilterOut:
    """Save a cohort filter, e.g. condition=diabetes and no_checkin_days=3."""
    fid = _store(request).save_filter(
        viewer,
        body.name,
        body.query.to_query(),
        shared=body.shared,
        by=audit_context(request, viewer),
    )
    return FilterOut(id=fid, name=body.name.strip(), mine=True, query=body.query)


@router.delete("/filters/{filter_id}", status_code=204, dependencies=[CsrfDep], tags=["filters"])
def delete_filter(filter_id: Id, viewer: ViewerDep, request: Request) -> Response:
    """Delete one of your saved filters."""
    _store(request).delete_filter(viewer, filter_id, by=audit_context(request, viewer))
    return Response(status_code=204)


# ----------------------------------------------------------------------------- stations


@router.get("/stations", response_model=list[str], tags=["stations"])
def list_stations(viewer: ViewerDep, request: Request) -> list[str]:
    """Stations you may see."""
    return _store(request).stations(viewer)


@router.get("/stations/{station_id}/stats", response_model=StationStatsOut, tags=["stations"])
def station_stats(station_id: StationId, viewer: ViewerDep, request: Request) -> StationStatsOut:
    """Open cases by severity, time to acknowledge, on-time rate, false alarms per rule."""
    stats = _store(request).station_stats(viewer, station_id, by=audit_context(request, viewer))
    return StationStatsOut.of(stats)


# -------------------------------------------------------------------------- users, audit


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(viewer: ViewerDep, request: Request) -> list[UserOut]:
    """Admins: every user. Others: the colleagues a case can be transferred to."""
    return [UserOut.of(u) for u in _store(request).users(viewer)]


@router.post(
    "/users", response_model=UserOut, status_code=201, dependencies=[CsrfDep], tags=["users"]
)
def add_user(body: UserIn, viewer: ViewerDep, request: Request) -> UserOut:
    """Admins add a user (social workers and doctors need a station)."""
    if viewer.role is not Role.ADMIN:
        raise HTTPException(403, "only administrators add users")
    info = _store(request).add_user(
        body.username,
        body.password,
        Role(body.role),
        body.station_id,
        body.display_name,
        by=audit_context(request, viewer),
    )
    return UserOut.of(info)


@router.post("/users/{user_id}/active", status_code=204, dependencies=[CsrfDep], tags=["users"])
def set_active(user_id: Id, body: UserActiveIn, viewer: ViewerDep, request: Request) -> Response:
    """Admins enable or disable a user."""
    _store(request).set_user_active(viewer, user_id, body.active, by=audit_context(request, viewer))
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditOut], tags=["audit"])
def audit_log(
    viewer: ViewerDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    before: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> list[AuditOut]:
    """The newest audit rows (supervisors and admins)."""
    rows = _store(request).audit_entries(viewer, limit=limit, before=before)
    return [AuditOut.model_validate(_dc(r)) for r in rows]


@router.get(
    "/export/cases.csv",
    tags=["audit"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_cases(viewer: ViewerDep, request: Request) -> Response:
    """Every case as CSV, pseudonyms only (supervisors; audited)."""
    rows = _store(request).export_rows(viewer, by=audit_context(request, viewer))
    out = io.StringIO()
    fields = list(rows[0]) if rows else ["case_id"]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
    )
