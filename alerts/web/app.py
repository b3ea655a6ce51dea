"""The web app: FastAPI with the JSON API (``/api/v1``), the pages, sessions, CSRF and live updates.

Collaborators come through :func:`create_app` (the store, the settings it needs, an optional
trend source); nothing is read from the environment here.

Sessions are signed cookies (Starlette's ``SessionMiddleware``, itsdangerous) holding the
user id, a CSRF token, the language and the time of the last request; a session idle for
longer than ``session_max_age_s`` is signed out. Every write (POST) needs the CSRF token:
in the ``X-CSRF-Token`` header (API) or the ``csrf_token`` form field (pages). The one
exception is the JSON login, which needs ``Content-Type: application/json`` (a cross-site
form cannot send that without a CORS preflight, which this app never allows).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from alerts.errors import Conflict, Forbidden, InvalidTransition, NotFound, SilenceRefused
from alerts.health import ConsumerHealth
from alerts.i18n import pick_language, translate
from alerts.lifecycle import QuietHours
from alerts.store import AuditContext, CaseStore, Viewer

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class TrendSource(Protocol):
    """Readings of one resident over time, for the case page's chart (from InfluxDB)."""

    def __call__(
        self, subject_id: str, start: datetime, stop: datetime
    ) -> Sequence[tuple[datetime, str, float]]:
        """(time, field, value) points, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the web app needs from the settings."""

    secret_key: str
    session_max_age_s: int = 8 * 3600
    secure_cookies: bool = False
    quiet: QuietHours | None = None
    referral_follow_up_days: int = 14
    live_poll_s: float = 1.0
    timezone: str = "Asia/Shanghai"


class AuthError(Exception):
    """Not signed in (pages redirect to the login form, the API answers 401)."""


class CsrfError(Exception):
    """A write without the session's CSRF token."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a write whose token does not match the session's (constant-time compare)."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected, given):
        raise CsrfError


def current_viewer(request: Request) -> Viewer:
    """The signed-in, still active user; idle sessions expire."""
    app_state = request.app.state
    user_id = request.session.get("uid")
    seen = request.session.get("seen")
    if not isinstance(user_id, int) or not isinstance(seen, int | float):
        raise AuthError
    if time.time() - seen > app_state.config.session_max_age_s:
        request.session.clear()
        raise AuthError
    store: CaseStore = app_state.store
    viewer = store.viewer(user_id)
    if viewer is None:
        request.session.clear()
        raise AuthError
    request.session["seen"] = int(time.time())
    return viewer


def sign_in(request: Request, viewer: Viewer) -> str:
    """Start a fresh session for ``viewer`` (new CSRF token: no session fixation)."""
    language = request.session.get("lang")
    request.session.clear()
    request.session.update(uid=viewer.user_id, seen=int(time.time()))
    if language:
        request.session["lang"] = language
    return csrf_token(request)


def audit_context(request: Request, viewer: Viewer | None) -> AuditContext:
    """Who and from where, for the audit log."""
    address = request.client.host if request.client else ""
    return AuditContext(viewer, address)


def language_of(request: Request) -> str:
    """The page language: the session's choice, else the browser's, else Chinese."""
    chosen = request.session.get("lang")
    return pick_language(
        chosen if isinstance(chosen, str) else None, request.headers.get("accept-language")
    )


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
CsrfDep = Depends(check_csrf)


def create_app(
    store: CaseStore,
    config: WebConfig,
    *,
    trend: TrendSource | None = None,
    consumer: Callable[[], ConsumerHealth] | None = None,
) -> FastAPI:
    """The whole web app around ``store``.

    ``consumer`` reports the Kafka consumer's health to ``/readyz`` (``None``: the service
    does not consume). The OpenAPI description is at ``/api/openapi.json`` for signed-in
    users only, and there is no Swagger UI page (docs/alerts.md says why).
    """
    from alerts.web import api, health, pages

    app = FastAPI(
        title="carepulse alerts",
        version="1",
        summary="The social-worker queue: cases, actions, silences, residents, station figures.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.store = store
    app.state.config = config
    app.state.trend = trend
    app.state.consumer = consumer
    app.state.database_ok = True
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key,
        session_cookie="carepulse_session",
        max_age=config.session_max_age_s,
        same_site="lax",
        https_only=config.secure_cookies,
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(api.spec_router)
    app.include_router(pages.router)
    app.include_router(health.router)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        if request.url.path.startswith(("/api/", "/cases", "/residents", "/")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def _wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def _error(request: Request, status: int, code: str, detail: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"code": code, "detail": detail}, status_code=status)
        language = language_of(request)
        key = {401: "error.forbidden", 403: "error.forbidden", 404: "error.not_found"}.get(
            status, "error.invalid"
        )
        if code == "csrf":
            key = "error.csrf"
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "t": _translator(language),
                "lang": language,
                "message": translate(key, language),
                "detail": detail,
                "viewer": None,
            },
            status_code=status,
        )

    @app.exception_handler(AuthError)
    async def _auth(request: Request, _exc: AuthError) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"code": "not_signed_in", "detail": "sign in first"}, status_code=401
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_safe_next(target)}", status_code=303)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, _exc: CsrfError) -> Response:
        return _error(request, 403, "csrf", "missing or wrong CSRF token; reload the page")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, "not_found", str(exc))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, "forbidden", str(exc))

    @app.exception_handler(InvalidTransition)
    async def _invalid(request: Request, exc: InvalidTransition) -> Response:
        return _error(request, 409, "invalid_transition", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> Response:
        return _error(request, 409, "conflict", str(exc))

    @app.exception_handler(SilenceRefused)
    async def _silence(request: Request, exc: SilenceRefused) -> Response:
        return _error(request, 422, f"silence_{exc.reason}", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"code": "invalid", "detail": _first_error(exc)}, status_code=422)
        return _error(request, 422, "invalid", _first_error(exc))

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError) -> Response:
        return _error(request, 422, "invalid", str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, "http", str(exc.detail))

    return app


def _first_error(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"


def _safe_next(target: str) -> str:
    """Only local paths may follow a login (no open redirect)."""
    from urllib.parse import quote

    return quote(target if target.startswith("/") and not target.startswith("//") else "/", safe="")


def safe_redirect(target: str | None) -> str:
    """A local path to go to after a form, or the queue."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _translator(language: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    return t


async def change_stream(request: Request, viewer: Viewer) -> AsyncIterator[str]:
    """Server-sent events: one ``change`` event whenever the viewer's cases change."""
    store: CaseStore = request.app.state.store
    config: WebConfig = request.app.state.config
    last = await asyncio.to_thread(store.latest_change, viewer)
    yield f"retry: 3000\nevent: hello\ndata: {last}\n\n"
    idle = 0.0
    while not await request.is_disconnected():
        await asyncio.sleep(config.live_poll_s)
        newest = await asyncio.to_thread(store.changes_since, viewer, last)
        if newest != last:
            last = newest
            idle = 0.0
            yield f"event: change\ndata: {last}\n\n"
        else:
            idle += config.live_poll_s
            if idle >= 15:
                idle = 0.0
                yield ": keep-alive\n\n"


def event_response(request: Request, viewer: Viewer) -> StreamingResponse:
    """The SSE response for :func:`change_stream`."""
    return StreamingResponse(
        change_stream(request, viewer),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CsrfDep",
    "HTMLResponse",
    "TrendSource",
    "ViewerDep",
    "WebConfig",
    "audit_context",
    "create_app",
    "csrf_token",
    "current_viewer",
    "event_response",
    "language_of",
    "safe_redirect",
    "sign_in",
]
