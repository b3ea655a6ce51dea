"""Server-rendered pages (Jinja2) for tablets: queue, case, residents, station, admin.

Every form posts with the session's CSRF token and redirects back (post/redirect/get), so the
pages work without JavaScript; ``static/live.js`` adds live queue updates over SSE.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from alerts import lifecycle as lc
from alerts.errors import NotFound
from alerts.i18n import LANGUAGES, translate
from alerts.store import CaseStore, QueueQuery, Role, Viewer
from alerts.web.app import (
    CsrfDep,
    ViewerDep,
    WebConfig,
    audit_context,
    csrf_token,
    event_response,
    language_of,
    safe_redirect,
    sign_in,
)
from carepulse.alert import Category, Severity

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]

FormStr = Annotated[str, Form(max_length=4000)]


def _store(request: Request) -> CaseStore:
    store: CaseStore = request.app.state.store
    return store


def _config(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.config
    return config


def render(
    request: Request, template: str, viewer: Viewer | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page with the shared context: translator, language, user, CSRF token, time helpers."""
    language = language_of(request)
    config = _config(request)
    tz = ZoneInfo(config.timezone)
    now = _store(request).clock()

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    def local(value: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def ago(value: datetime | None) -> str:
        if value is None:
            return ""
        minutes = int((now - value).total_seconds() // 60)
        if minutes < 1:
            return t("common.just_now")
        if minutes < 60:
            return t("common.ago_minutes", n=minutes)
        if minutes < 48 * 60:
            return t("common.ago_hours", n=minutes // 60)
        return t("common.ago_days", n=minutes // (24 * 60))

    base = {
        "t": t,
        "lang": language,
        "other_lang": next(code for code in LANGUAGES if code != language),
        "viewer": viewer,
        "csrf": csrf_token(request),
        "local": local,
        "ago": ago,
        "now": now,
        "quiet": config.quiet is not None and config.quiet.contains(now),
        "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "Role": Role,
    }
    base.update(context)
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(request, template, base, status_code=status)
    return response


def _back(target: str | None, fallback: str = "/") -> RedirectResponse:
    return RedirectResponse(safe_redirect(target or fallback), status_code=303)


# ------------------------------------------------------------------------------- sign-in


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form."""
    return render(request, "login.html", None, next=safe_redirect(next), failed=False)


@router.post("/login", dependencies=[CsrfDep])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password, start a session, go where the user was heading."""
    address = audit_context(request, None).address
    viewer = _store(request).authenticate(username, password, address=address)
    if viewer is None:
        return render(
            request, "login.html", None, status=401, next=safe_redirect(next), failed=True
        )
    sign_in(request, viewer)
    if viewer.role is Role.ADMIN and safe_redirect(next) == "/":
        return RedirectResponse("/admin/users", status_code=303)
    return _back(next)


@router.post("/logout", dependencies=[CsrfDep])
def logout(request: Request, viewer: ViewerDep) -> Response:
    """End the session."""
    _store(request).audit(audit_context(request, viewer), "logout", "user", str(viewer.user_id))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def set_language(request: Request, code: str, next: str = "/") -> Response:
    """Switch between Chinese and English."""
    if code in LANGUAGES:
        request.session["lang"] = code
    return _back(next)


# --------------------------------------------------------------------------------- queue


def _query_from(params: Mapping[str, Any], viewer: Viewer, category: Category) -> QueueQuery:
    def flag(name: str) -> bool:
        return str(params.get(name, "")).lower() in ("1", "on", "true", "yes")

    def many(name: str) -> list[str]:
        value = params.get(name)
        if value is None:
            return []
        return [v for v in (value if isinstance(value, list) else [value]) if v]

    severities = tuple(Severity(v) for v in many("severity") if v in {s.value for s in Severity})
    states = tuple(lc.CaseState(v) for v in many("state") if v in {s.value for s in lc.CaseState})
    days_raw = str(params.get("no_checkin_days", "")).strip()
    days = int(days_raw) if days_raw.isdigit() and int(days_raw) <= 3650 else None
    try:
        page = max(0, min(1000, int(str(params.get("page", "0")))))
    except ValueError:
        page = 0
    station = str(params.get("station", "")).strip()[:64] or None
    return QueueQuery(
        category=category,
        states=states or QueueQuery().states,
        severities=severities,
        station_id=station if viewer.role is Role.SUPERVISOR else None,
        rule_prefix=str(params.get("rule", "")).strip()[:128],
        condition=str(params.get("condition", "")).strip()[:64],
        no_checkin_days=days,
        mine_only=flag("mine"),
        overdue_only=flag("overdue"),
        include_held=flag("held"),
        limit=50 * (page + 1),
    )


def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            existing = params[key]
            params[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            params[key] = value
    return params


def _saved_params(query: QueueQuery) -> str:
    pairs: list[tuple[str, str]] = [("severity", s.value) for s in query.severities]
    pairs += [("state", s.value) for s in query.states if query.states != QueueQuery().states]
    for key, value in (
        ("condition", query.condition),
        ("no_checkin_days", "" if query.no_checkin_days is None else str(query.no_checkin_days)),
        ("rule", query.rule_prefix),
        ("station", query.station_id or ""),
        ("mine", "1" if query.mine_only else ""),
        ("overdue", "1" if query.overdue_only else ""),
        ("held", "1" if query.include_held else ""),
    ):
        if value:
            pairs.append((key, value))
    return urlencode(pairs)


def _queue_page(
    request: Request, viewer: Viewer, category: Category, template: str
) -> HTMLResponse:
    params = _params(request)
    store = _store(request)
    filters = store.filters(viewer) if viewer.clinical else []
    chosen = str(params.get("filter", ""))
    if chosen.isdigit():
        for fid, _, saved, _ in filters:
            if fid == int(chosen):
                params = {**_params_of(saved), "filter": chosen}
    query = _query_from(params, viewer, category)
    page = store.queue(
        viewer, query, by=audit_context(request, viewer) if template != "_rows.html" else None
    )
    return render(
        request,
        template,
        viewer,
        page=page,
        query=query,
        params=params,
        category=category,
        filters=[(fid, name, _saved_params(q), mine) for fid, name, q, mine in filters],
        stations=store.stations(viewer),
        severities=list(Severity),
        states=list(lc.CaseState),
        rows_url=(
            ("/technical/rows" if category is Category.TECHNICAL else "/queue/rows")
            + (f"?{request.url.query}" if request.url.query else "")
        ),
        more=page.total > len(page.items),
        next_page=urlencode(
            {**{k: v for k, v in params.items() if k != "page"}, "page": str(_page_of(params) + 1)},
            doseq=True,
        ),
    )


def _page_of(params: Mapping[str, Any]) -> int:
    raw = str(params.get("page", "0"))
    return int(raw) if raw.isdigit() else 0


def _params_of(query: QueueQuery) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in [tuple(p.split("=", 1)) for p in _saved_params(query).split("&") if p]:
        from urllib.parse import unquote_plus

        value = unquote_plus(value)
        if key in out:
            existing = out[key]
            out[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[key] = value
    return out


def _home(viewer: Viewer) -> Response | None:
    if viewer.role is Role.ADMIN:
        return RedirectResponse("/admin/users", status_code=303)
    return None


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, viewer: ViewerDep) -> Response:
    """The clinical queue."""
    return _home(viewer) or _queue_page(request, viewer, Category.CLINICAL, "queue.html")


@router.get("/queue/rows", response_class=HTMLResponse)
def queue_rows(request: Request, viewer: ViewerDep) -> Response:
    """The queue's rows only (refreshed live)."""
    return _queue_page(request, viewer, Category.CLINICAL, "_rows.html")


@router.get("/technical", response_class=HTMLResponse)
def technical(request: Request, viewer: ViewerDep) -> Response:
    """Device issues, kept out of the clinical queue."""
    return _home(viewer) or _queue_page(request, viewer, Category.TECHNICAL, "queue.html")


@router.get("/technical/rows", response_class=HTMLResponse)
def technical_rows(request: Request, viewer: ViewerDep) -> Response:
    """The technical list's rows only."""
    return _queue_page(request, viewer, Category.TECHNICAL, "_rows.html")


@router.get("/events")
def events(request: Request, viewer: ViewerDep) -> StreamingResponse:
    """Live updates for the pages (server-sent events)."""
    return event_response(request, viewer)


@router.post("/filters", dependencies=[CsrfDep])
def save_filter(
    request: Request,
    viewer: ViewerDep,
    name: Annotated[str, Form(min_length=1, max_length=128)],
    query: Annotated[str, Form(max_length=2000)] = "",
    shared: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the current filters as a cohort."""
    from urllib.parse import parse_qs

    parsed = {k: (v if len(v) > 1 else v[0]) for k, v in parse_qs(query).items()}
    saved = _query_from(parsed, viewer, Category.CLINICAL)
    fid = _store(request).save_filter(
        viewer, name, saved, shared=bool(shared), by=audit_context(request, viewer)
    )
    return RedirectResponse(f"/?filter={fid}", status_code=303)


@router.post("/filters/{filter_id}/delete", dependencies=[CsrfDep])
def delete_filter(request: Request, viewer: ViewerDep, filter_id: Id) -> Response:
    """Delete a saved cohort filter."""
    _store(request).delete_filter(viewer, filter_id, by=audit_context(request, viewer))
    return RedirectResponse("/", status_code=303)


# --------------------------------------------------------------------------------- cases


def _trend(request: Request, subject_id: str) -> list[dict[str, Any]] | None:
    source = request.app.state.trend
    if source is None:
        return None
    now = _store(request).clock()
    try:
        points = source(subject_id, now - timedelta(days=14), now)
    except Exception:
        logger.exception("trend query failed for one resident; showing the case without it")
        return None
    series: dict[str, list[tuple[datetime, float]]] = {}
    for at, name, value in points:
        series.setdefault(name, []).append((at, value))
    return [
        _svg_series(name, values, now - timedelta(days=14), now) for name, values in series.items()
    ]


def _svg_series(
    name: str, values: list[tuple[datetime, float]], start: datetime, stop: datetime
) -> dict[str, Any]:
    low = min(v for _, v in values)
    high = max(v for _, v in values)
    span = (high - low) or 1.0
    width, height = 600.0, 80.0
    total = (stop - start).total_seconds() or 1.0
    xs = [width * (at - start).total_seconds() / total for at, _ in values]
    ys = [height - height * (v - low) / span for _, v in values]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return {"name": name, "points": points, "low": low, "high": high, "last": values[-1][1]}


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, viewer: ViewerDep, case_id: Id) -> Response:
    """One case: the reason, rule and source, readings, trend, actions, history."""
    store = _store(request)
    detail = store.case_detail(viewer, case_id, by=audit_context(request, viewer))
    colleagues = [
        u
        for u in store.users(viewer, station_id=detail.item.station_id)
        if u.id != detail.item.assignee_id
    ]
    config = _config(request)
    now = store.clock()
    return render(
        request,
        "case.html",
        viewer,
        d=detail,
        c=detail.item,
        readings=_readings(detail.evidence),
        colleagues=colleagues,
        outcomes=lc.HUMAN_OUTCOMES,
        attempts=list(lc.AttemptResult),
        trend=_trend(request, detail.item.subject_id),
        trend_enabled=request.app.state.trend is not None,
        can_silence=detail.item.severity != Severity.EMERGENCY.value,
        contact_ok=lc.contact_allowed(Severity(detail.item.severity), now, config.quiet),
        default_due=(now + timedelta(days=config.referral_follow_up_days))
        .astimezone(ZoneInfo(config.timezone))
        .strftime("%Y-%m-%d"),
        default_silence=(now + timedelta(days=1))
        .astimezone(ZoneInfo(config.timezone))
        .strftime("%Y-%m-%dT%H:%M"),
    )


def _readings(evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    readings = evidence.get("readings")
    out = []
    for reading in readings if isinstance(readings, list) else []:
        if isinstance(reading, Mapping):
            values = reading.get("values")
            out.append(
                {
                    "kind": str(reading.get("kind", "")),
                    "measured_at": str(reading.get("measured_at", "")),
                    "values": dict(values) if isinstance(values, Mapping) else {},
                }
            )
    return out


def _local_datetime(request: Request, value: str, *, end_of_day: bool = False) -> datetime:
    """A date or datetime-local form value in the stations' zone, as UTC."""
    tz = ZoneInfo(_config(request).timezone)
    value = value.strip()
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=tz)
            parsed = day.replace(hour=9) if not end_of_day else day.replace(hour=23, minute=59)
        else:
            parsed = datetime.fromisoformat(value)
            parsed = parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed
    except ValueError as exc:
        msg = f"not a date: {value!r}"
        raise ValueError(msg) from exc
    return parsed.astimezone(UTC)


def _act(
    request: Request, viewer: Viewer, case_id: Id, event: lc.Event, back: str | None
) -> Response:
    _store(request).act(viewer, case_id, event, by=audit_context(request, viewer))
    return _back(back, f"/cases/{case_id}")


def _now(request: Request) -> datetime:
    return _store(request).clock()


@router.post("/cases/{case_id}/claim", dependencies=[CsrfDep])
def claim(request: Request, viewer: ViewerDep, case_id: Id, back: FormStr = "") -> Response:
    """Claim from the queue or the case page."""
    return _act(
        request,
        viewer,
        case_id,
        lc.Claim(_now(request), viewer.user_id),
        back or f"/cases/{case_id}",
    )


@router.post("/cases/{case_id}/unclaim", dependencies=[CsrfDep])
def unclaim(request: Request, viewer: ViewerDep, case_id: Id) -> Response:
    """Give back to the queue."""
    return _act(request, viewer, case_id, lc.Unclaim(_now(request), viewer.user_id), "/")


@router.post("/cases/{case_id}/transfer", dependencies=[CsrfDep])
def transfer(
    request: Request,
    viewer: ViewerDep,
    case_id: Id,
    to: Annotated[int, Form(ge=1, le=2_147_483_647)],
    note: FormStr = "",
) -> Response:
    """One-click transfer."""
    return _act(
        request, viewer, case_id, lc.Transfer(_now(request), viewer.user_id, to, note), None
    )


@router.post("/cases/{case_id}/attempt", dependencies=[CsrfDep])
def attempt(
    request: Request,
    viewer: ViewerDep,
    case_id: Id,
    result: Annotated[lc.AttemptResult, Form()],
    note: FormStr = "",
) -> Response:
    """Log a call or visit."""
    return _act(
        request, viewer, case_id, lc.Attempt(_now(request), viewer.user_id, result, note), None
    )


@router.post("/cases/{case_id}/note", dependencies=[CsrfDep])
def note(
    request: Request,
    viewer: ViewerDep,
    case_id: Id,
    text: Annotated[str, Form(min_length=1, max_length=4000)],
) -> Response:
    """Add a note."""
    return _act(request, viewer, case_id, lc.Note(_now(request), viewer.user_id, text), None)


@router.post("/cases/{case_id}/follow-up", dependencies=[CsrfDep])
def schedule(
    request: Request,
    viewer: ViewerDep,
    case_id: Id,
    due: Annotated[str, Form(max_length=32)],
    note: FormStr = "",
) -> Response:
    """Schedule a follow-up date."""
    event = lc.Schedule(_now(request), viewer.user_id, _local_datetime(request, due), note)
    return _act(request, viewer, case_id, event, None)


@router.post("/cases/{case_id}/resolve", dependencies=[CsrfDep])
def resolve(
    request: Request,
    viewer: ViewerDep,
    case_id: Id,
    outcome: Annotated[str, Form(max_length=32)],
    note: FormStr = "",
    due: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Close with an outcome (referred: keep for the referral follow-up); back to the queue."""
    if outcome not in {o.value for o in lc.HUMAN_OUTCOMES}:
        msg = f"choose an outcome: {', '.join(o.value for o in lc.HUMAN_OUTCOMES)}"
        raise ValueError(msg)
    now = _now(request)
    chosen = lc.Outcome(outcome)
    due_at = None
    if chosen is lc.Outcome.REFERRED:
        due_at = (
            _local_datetime(request, due)
            if due
            else now + timedelta(days=_config(request).referral_follow_up_days)
        )
    return _act(
        request, viewer, case_id, lc.Resolve(now, viewer.user_id, chosen, note, due_at), "/"
    )


@router.post("/cases/{case_id}/reopen", dependencies=[CsrfDep])
def reopen(
    request: Request,
    viewer: ViewerDep,
    case_id: Id,
    reason: Annotated[str, Form(min_length=1, max_length=4000)],
) -> Response:
    """Re-open a closed case."""
    return _act(request, viewer, case_id, lc.Reopen(_now(request), viewer.user_id, reason), None)


@router.post("/cases/{case_id}/silence", dependencies=[CsrfDep])
def silence_case(
    request: Request,
    viewer: ViewerDep,
    case_id: Id,
    until: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(min_length=1, max_length=4000)],
    scope: Annotated[str, Form(max_length=16)] = "case",
) -> Response:
    """Silence this resident's case (scope=case) or all the resident's cases (scope=resident)."""
    store = _store(request)
    detail = store.case_detail(viewer, case_id)
    store.add_silence(
        viewer,
        station_id=detail.item.station_id,
        subject_id=detail.item.subject_id,
        rule_id=detail.item.rule_id if scope == "case" else None,
        ends_at=_local_datetime(request, until, end_of_day=True),
        reason=reason,
        by=audit_context(request, viewer),
    )
    return RedirectResponse("/", status_code=303)


# ----------------------------------------------------------------------------- residents


@router.get("/residents", response_class=HTMLResponse)
def residents(request: Request, viewer: ViewerDep, condition: str = "") -> Response:
    """Residents of the station(s)."""
    rows = _store(request).residents(
        viewer, condition=condition[:64], by=audit_context(request, viewer)
    )
    return render(request, "residents.html", viewer, residents=rows, condition=condition[:64])


@router.get("/residents/{subject_id}", response_class=HTMLResponse)
def resident(request: Request, viewer: ViewerDep, subject_id: str) -> Response:
    """A resident's profile and cases."""
    info, cases = _store(request).resident(
        viewer, subject_id[:32], by=audit_context(request, viewer)
    )
    return render(request, "resident.html", viewer, r=info, cases=cases)


# ------------------------------------------------------------------------------ stations


@router.get("/stations", response_class=HTMLResponse)
def stations(request: Request, viewer: ViewerDep) -> Response:
    """The viewer's station, or the list for supervisors."""
    names = _store(request).stations(viewer)
    if len(names) == 1:
        return RedirectResponse(f"/stations/{names[0]}", status_code=303)
    return render(request, "stations.html", viewer, stations=names)


@router.get("/stations/{station_id}", response_class=HTMLResponse)
def station(request: Request, viewer: ViewerDep, station_id: str) -> Response:
    """Participation, time to acknowledge, false-alarm rate per rule, open cases by severity."""
    stats = _store(request).station_stats(
        viewer, station_id[:64], by=audit_context(request, viewer)
    )
    return render(
        request, "station.html", viewer, s=stats, stations=_store(request).stations(viewer)
    )


# ------------------------------------------------------------------------------ silences


@router.get("/silences", response_class=HTMLResponse)
def silences(request: Request, viewer: ViewerDep) -> Response:
    """Active silences."""
    return render(request, "silences.html", viewer, silences=_store(request).silences(viewer))


@router.post("/silences/{silence_id}/end", dependencies=[CsrfDep])
def end_silence(request: Request, viewer: ViewerDep, silence_id: Id) -> Response:
    """End a silence now."""
    _store(request).end_silence(viewer, silence_id, by=audit_context(request, viewer))
    return RedirectResponse("/silences", status_code=303)


# --------------------------------------------------------------------------------- admin


def _admin_only(viewer: Viewer) -> None:
    if viewer.role is not Role.ADMIN:
        raise NotFound(what="page", key="admin")


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, viewer: ViewerDep) -> Response:
    """Users (administrators)."""
    _admin_only(viewer)
    return render(
        request, "users.html", viewer, users=_store(request).users(viewer), roles=list(Role)
    )


@router.post("/admin/users", dependencies=[CsrfDep])
def add_user(
    request: Request,
    viewer: ViewerDep,
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")],
    password: Annotated[str, Form(min_length=8, max_length=256)],
    role: Annotated[Role, Form()],
    station_id: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Add a user."""
    _admin_only(viewer)
    _store(request).add_user(
        username,
        password,
        role,
        station_id or None,
        display_name,
        by=audit_context(request, viewer),
    )
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/active", dependencies=[CsrfDep])
def user_active(
    request: Request,
    viewer: ViewerDep,
    user_id: Id,
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Enable or disable a user."""
    _store(request).set_user_active(
        viewer, user_id, active == "1", by=audit_context(request, viewer)
    )
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/rules", response_class=HTMLResponse)
def rules(request: Request, viewer: ViewerDep) -> Response:
    """Timings per severity and rule, the inhibition rules, the rules seen so far."""
    if viewer.role not in (Role.ADMIN, Role.SUPERVISOR):
        raise NotFound(what="page", key="rules")
    store = _store(request)
    return render(
        request,
        "rules.html",
        viewer,
        policy=store.policy,
        severities=list(Severity),
        inhibit=store.inhibit_rules,
        seen=store.rules_seen(),
        quiet_hours=_config(request).quiet,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    viewer: ViewerDep,
    before: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> Response:
    """The audit log (supervisors and administrators)."""
    rows = _store(request).audit_entries(viewer, limit=200, before=before)
    return render(request, "audit.html", viewer, rows=rows)
