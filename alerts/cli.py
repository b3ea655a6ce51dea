"""``carepulse alerts``: run the service, work the queue, add users, import residents.

``serve`` runs the Kafka consumer, the timers (escalation, acknowledgement timeout,
follow-ups, silence expiry) and the web app in one process. ``list``, ``claim`` and
``resolve`` talk to a running service through its JSON API (``--url``, sign-in with
``--user`` and the password from ``$CAREPULSE_ALERTS_PASSWORD`` or a prompt).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import httpx

from alerts.config import AlertsSettings
from alerts.errors import AlertsError
from alerts.lifecycle import HUMAN_OUTCOMES
from alerts.store import CaseStore, Role

logger = logging.getLogger(__name__)

PASSWORD_ENV = "CAREPULSE_ALERTS_PASSWORD"  # noqa: S105 - the name of a variable, not a password


def build_store(settings: AlertsSettings) -> CaseStore:
    """The case store the settings describe, with its schema in place."""
    store = CaseStore(
        CaseStore.engine_for(settings.database_url),
        policy=settings.policy(),
        quiet=settings.quiet_hours(),
    )
    store.create_schema()
    return store


def find_trend_source() -> Any:
    """``storage.queries.trend`` when the storage package provides it, else ``None``."""
    try:
        module = importlib.import_module("storage.queries")
    except ImportError:
        return None
    trend = getattr(module, "trend", None)
    return trend if callable(trend) else None


async def timer_loop(store: CaseStore, interval_s: float, stop: asyncio.Event) -> None:
    """Apply due timers and expire silences every ``interval_s`` seconds."""
    failing = False
    while not stop.is_set():
        try:
            applied = await asyncio.to_thread(store.run_timers)
            await asyncio.to_thread(store.expire_silences)
            if applied:
                logger.info("timers: %d escalations, re-opens or follow-ups", applied)
            if failing:
                logger.info("timers work again")
                failing = False
        except Exception:
            if not failing:
                logger.exception("timers failed; retrying every %.0f s", interval_s)
            failing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


async def run(settings: AlertsSettings, *, consume: bool = True) -> None:
    """The whole service: consumer, timers and web app until the web server stops."""
    import uvicorn

    from alerts.consumer import AlertConsumer
    from alerts.web import WebConfig, create_app

    store = build_store(settings)
    trend = find_trend_source()
    consumer = (
        AlertConsumer(
            store,
            bootstrap=settings.kafka_bootstrap,
            topic=settings.topics.alerts,
            group=settings.consumer_group,
        )
        if consume
        else None
    )
    app = create_app(
        store,
        WebConfig(
            secret_key=settings.secret_key(),
            session_max_age_s=settings.session_max_age_s,
            secure_cookies=settings.secure_cookies,
            quiet=settings.quiet_hours(),
            referral_follow_up_days=settings.referral_follow_up_days,
            timezone=settings.timezone,
        ),
        trend=trend,
        consumer=consumer.health if consumer is not None else None,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.listen_host,
            port=settings.listen_port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
        )
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(timer_loop(store, settings.timer_interval_s, stop))]
    if consumer is not None:
        tasks.append(asyncio.create_task(consumer.run(stop)))
    logger.info(
        "alert service on http://%s:%d (store: %s)",
        settings.listen_host,
        settings.listen_port,
        settings.database_url.split("@")[-1],
    )
    try:
        await server.serve()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        store.engine.dispose()


# ---------------------------------------------------------------------------------- click


@click.group()
def alerts() -> None:
    """The social-worker alert queue: service, queue from the terminal, users, residents."""


@alerts.command()
@click.option("--host", default=None, help="Listen address (env CAREPULSE_LISTEN_HOST; 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env CAREPULSE_LISTEN_PORT; 8400).")
@click.option("--no-consumer", is_flag=True, help="Serve the web app without reading Kafka.")
def serve(host: str | None, port: int | None, no_consumer: bool) -> None:
    """Run the Kafka consumer, the timers and the web app together."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["listen_host"] = host
    if port is not None:
        overrides["listen_port"] = port
    settings = AlertsSettings.load(**overrides)
    asyncio.run(run(settings, consume=not no_consumer))


@alerts.group()
def users() -> None:
    """Manage sign-in accounts (directly in the case store)."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.ADMIN.value,
    show_default=True,
)
@click.option("--station", default=None, help="Station of a social worker or doctor.")
@click.option("--display-name", default="", help="Name shown to colleagues.")
@click.option(
    "--password-env",
    default=PASSWORD_ENV,
    show_default=True,
    help="Take the password from this variable (else prompt).",
)
def users_add(
    username: str, role: str, station: str | None, display_name: str, password_env: str
) -> None:
    """Add a user; the first one is usually the administrator (bootstrap)."""
    password = os.environ.get(password_env) or click.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    store = build_store(AlertsSettings.load())
    try:
        info = store.add_user(username, password, Role(role), station, display_name)
    except (AlertsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.engine.dispose()
    click.echo(
        f"added {info.username} ({info.role}{', ' + info.station_id if info.station_id else ''})"
    )


@alerts.group()
def residents() -> None:
    """Resident profiles (name, phone, conditions, consent), keyed by pseudonym."""


@residents.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "toml"]), default=None, help="Default: by suffix."
)
@click.option("--station", default=None, help="Station for rows that do not name one.")
@click.option(
    "--station-secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Pseudonymise resident_id columns with this station secret.",
)
def residents_import(
    file: Path, fmt: str | None, station: str | None, station_secret_file: Path | None
) -> None:
    """Import or update residents from a CSV or TOML file (docs/alerts.md shows the columns)."""
    from alerts.residents import parse_residents

    chosen = fmt or ("toml" if file.suffix.lower() == ".toml" else "csv")
    secret = station_secret_file.read_bytes().strip() if station_secret_file else None
    try:
        records = parse_residents(
            file.read_text(encoding="utf-8-sig"),
            chosen,
            default_station=station,
            station_secret=secret,
        )
    except (AlertsError, ValueError) as exc:
        msg = f"{file}: {exc}"
        raise click.ClickException(msg) from exc
    store = build_store(AlertsSettings.load())
    try:
        count = store.import_residents(records)
    finally:
        store.engine.dispose()
    click.echo(f"imported {count} residents")


# ------------------------------------------------------------------- JSON API client side


class ApiClient:
    """A signed-in session against a running alert service."""

    def __init__(
        self, url: str, user: str, password: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=10.0, transport=transport)
        try:
            response = self.http.post(
                "/api/v1/session", json={"username": user, "password": password}
            )
        except httpx.HTTPError as exc:
            msg = f"cannot reach the alert service at {url}: {exc}"
            raise click.ClickException(msg) from exc
        _check(response)
        self.http.headers["X-CSRF-Token"] = response.json()["csrf_token"]

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(
            path, params={k: v for k, v in params.items() if v not in (None, False)}
        )
        _check(response)
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(path, json=body or {})
        _check(response)
        return response.json()


def _check(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    msg = f"{response.status_code}: {detail}"
    raise click.ClickException(msg)


def _client(ctx: click.Context) -> ApiClient:
    obj = ctx.obj
    password = os.environ.get(PASSWORD_ENV) or click.prompt(
        f"password for {obj['user']}", hide_input=True
    )
    client: ApiClient = obj.get("client") or ApiClient(obj["url"], obj["user"], password)
    return client


def _api_options(f: Any) -> Any:
    f = click.option("--user", "-u", required=True, help="Your username.")(f)
    f = click.option(
        "--url",
        default="http://127.0.0.1:8400",
        show_default=True,
        envvar="CAREPULSE_ALERTS_URL",
        help="The alert service (env CAREPULSE_ALERTS_URL).",
    )(f)
    return f


@alerts.command("list")
@_api_options
@click.option("--severity", multiple=True, help="emergency, urgent, follow-up, engagement.")
@click.option("--mine", is_flag=True, help="Only cases you own.")
@click.option(
    "--technical", is_flag=True, help="The device-issue list instead of the clinical queue."
)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_context
def list_cases(
    ctx: click.Context,
    url: str,
    user: str,
    severity: Sequence[str],
    mine: bool,
    technical: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Print the queue: overdue first, then severity, then age."""
    ctx.ensure_object(dict)
    ctx.obj.update(url=url, user=user)
    page = _client(ctx).get(
        "/api/v1/cases",
        severity=list(severity) or None,
        mine=mine,
        category="technical" if technical else "clinical",
        limit=limit,
    )
    if as_json:
        click.echo(json.dumps(page, ensure_ascii=False))
        return
    for item in page["items"]:
        flag = "OVERDUE " if item["overdue"] else ""
        who = item["resident_name"] or item["subject_id"][:8]
        opened = datetime.fromisoformat(item["opened_at"]).strftime("%m-%d %H:%M")
        click.echo(
            f"{item['id']:>6}  {flag}{item['severity']:<10} {item['state']:<11} {opened}  {who}  "
            f"{item['rule_id']}  x{item['repeat_count']}  {item['assignee_name'] or '-'}"
        )
    click.echo(f"{len(page['items'])} of {page['total']} cases", err=True)


@alerts.command()
@_api_options
@click.argument("case_id", type=int)
@click.pass_context
def claim(ctx: click.Context, url: str, user: str, case_id: int) -> None:
    """Claim a case."""
    ctx.ensure_object(dict)
    ctx.obj.update(url=url, user=user)
    item = _client(ctx).post(f"/api/v1/cases/{case_id}/claim")
    click.echo(f"case {item['id']} is {item['state']} by {item['assignee_name']}")


@alerts.command()
@_api_options
@click.argument("case_id", type=int)
@click.option("--outcome", required=True, type=click.Choice([o.value for o in HUMAN_OUTCOMES]))
@click.option("--note", default="", help="What happened.")
@click.pass_context
def resolve(ctx: click.Context, url: str, user: str, case_id: int, outcome: str, note: str) -> None:
    """Resolve a case with an outcome ('referred' keeps it for the referral follow-up)."""
    ctx.ensure_object(dict)
    ctx.obj.update(url=url, user=user)
    item = _client(ctx).post(f"/api/v1/cases/{case_id}/resolve", {"outcome": outcome, "note": note})
    due = f", follow-up due {item['due_at'][:10]}" if item.get("due_at") else ""
    click.echo(f"case {item['id']} is {item['state']}{due}")


def main() -> None:
    """``python -m alerts``: the same commands as ``carepulse alerts``."""
    from carepulse.log import setup_logging

    setup_logging()
    alerts(prog_name="python -m alerts")
    sys.exit(0)
