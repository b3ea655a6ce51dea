"""``carepulse storage init|status`` and ``carepulse report resident|station``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from storage.analysis import AckRow
from storage.config import StorageSettings
from storage.errors import StorageError
from storage.i18n import DEFAULT_LANGUAGE, LANGUAGES

T = TypeVar("T")


def _settings() -> StorageSettings:
    return StorageSettings.load()


def _run(work: Callable[[StorageSettings], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` with the settings; a storage error becomes a one-line message, exit 1."""
    settings = _settings()
    try:
        return asyncio.run(work(settings))
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def storage() -> None:
    """InfluxDB buckets, retention and downsampling."""


@storage.command()
def init() -> None:
    """Create the buckets with retention and the downsampling task (idempotent)."""
    for line in _run(run_init):
        click.echo(line)


@storage.command()
def status() -> None:
    """Show the buckets' retention and the downsampling task."""
    for line in _run(run_status):
        click.echo(line)


async def run_init(settings: StorageSettings) -> list[str]:
    """What ``storage init`` does."""
    from storage.setup import StorageSetup
    from storage.writer import open_client

    async with open_client(settings) as client:
        return await StorageSetup(client, settings).run()


async def run_status(settings: StorageSettings) -> list[str]:
    """What ``storage status`` does."""
    from storage.setup import StorageSetup
    from storage.writer import open_client

    async with open_client(settings) as client:
        return await StorageSetup(client, settings).status()


@click.group()
def report() -> None:
    """Health reports as HTML files with embedded figures."""


_days = click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
_output = click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout."
)
_lang = click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=DEFAULT_LANGUAGE,
    show_default=True,
    help="Language of the report (Chinese or English).",
)


@report.command()
@click.argument("subject")
@_days
@_lang
@_output
def resident(subject: str, days: int, lang: str, output: Path | None) -> None:
    """A resident's report; SUBJECT is the resident's pseudonym (32 hex characters).

    Storage only knows pseudonyms; the alert service will look residents up by name.
    """

    async def work(settings: StorageSettings) -> str:
        from storage.queries import StorageQueries
        from storage.report import resident_report
        from storage.writer import open_client

        async with open_client(settings) as client:
            return await resident_report(
                StorageQueries(client, settings), subject.lower(), days, lang=lang
            )

    _emit(_run(work), output)


@report.command()
@click.option("--station", default=None, help="Station id (default: the only one with data).")
@click.option("--enrolled", type=click.IntRange(1), default=None, help="Residents registered.")
@click.option(
    "--alert-db",
    default=None,
    metavar="URL",
    help="The alert service's case store, for time to acknowledge (default: "
    "CAREPULSE_DATABASE_URL, the alert service's own setting). Read only.",
)
@click.option(
    "--no-alert-db", is_flag=True, help="Leave time to acknowledge out (do not read the store)."
)
@_days
@_lang
@_output
def station(
    station: str | None,
    enrolled: int | None,
    alert_db: str | None,
    no_alert_db: bool,
    days: int,
    lang: str,
    output: Path | None,
) -> None:
    """A station's evaluation report: coverage, participation, behaviour change, alerts.

    Time to acknowledge comes from the alert service's case store (counts and minutes per
    rule and severity only). Without --alert-db, a store that cannot be read is noted in
    the report and on stderr; with it, that is an error.
    """

    async def work(settings: StorageSettings) -> str:
        from storage.queries import StorageQueries
        from storage.report import station_report
        from storage.writer import open_client

        end = datetime.now(UTC)
        async with open_client(settings) as client:
            queries = StorageQueries(client, settings)
            chosen = station
            if chosen is None:
                found = await queries.stations(days, stop=end)
                if len(found) != 1:
                    listed = ", ".join(found) or "none"
                    msg = f"pass --station; stations with readings in {days} days: {listed}"
                    raise click.UsageError(msg)
                chosen = found[0]
            acks, problem = (
                (None, None)
                if no_alert_db
                else await _acknowledgements(alert_db, chosen, end - timedelta(days=days), end)
            )
            return await station_report(
                queries,
                chosen,
                days,
                stop=end,
                enrolled=enrolled,
                acknowledgements=acks,
                ack_problem=problem,
                lang=lang,
            )

    _emit(_run(work), output)


async def _acknowledgements(
    alert_db: str | None, station: str, since: datetime, until: datetime
) -> tuple[list[AckRow] | None, str | None]:
    """Rows from the case store, or ``(None, why not)`` when the default store is unreadable."""
    from storage.casestore import acknowledgements, default_database_url
    from storage.errors import CaseStoreError

    url = alert_db or default_database_url()
    try:
        rows = await asyncio.to_thread(acknowledgements, url, station, since, until)
    except CaseStoreError as exc:
        if alert_db is not None:
            raise
        click.echo(f"warning: time to acknowledge left out: {exc}", err=True)
        return None, str(exc)
    return rows, None


def _emit(html: str, output: Path | None) -> None:
    if output is None:
        click.echo(html)
    else:
        output.write_text(html, encoding="utf-8")
        click.echo(f"wrote {output} ({len(html) // 1024} KiB)", err=True)
