"""``carepulse worker``: run the stream worker (ingest, metrics, risk, watchdog, sink).

Settings come from ``CAREPULSE_*`` variables (and the local stack's env file); options
override the few that are handy on the command line. Faust runs its own event loop
(``faust.Worker``), so unlike the other commands this one does not call ``asyncio.run``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError

from carepulse.errors import ConfigError
from stream.config import StreamSettings


def settings_problem(exc: ValidationError | SettingsError) -> str:
    """One line per bad setting, named by its environment variable."""
    if isinstance(exc, SettingsError):
        return f"{exc}: a map setting takes JSON, e.g. '{{\"scale\": 72}}'"
    lines = []
    for error in exc.errors():
        field, *rest = [str(part) for part in error["loc"]] or ["?"]
        where = f"CAREPULSE_{field.upper()}" + "".join(f"[{part}]" for part in rest)
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def run(settings: StreamSettings) -> None:
    """Build the app and run a Faust worker until it is stopped (SIGTERM, Ctrl-C)."""
    import faust

    from stream.app import create_app, tune_gc

    tune_gc(settings)
    parts = create_app(settings)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    level = {"warning": "warn", "critical": "crit"}.get(level, level)
    worker = faust.Worker(parts.app, loglevel=level, redirect_stdouts=False)
    worker.execute_from_commandline()


@click.command()
@click.option("--app-id", help="Faust app id (env CAREPULSE_APP_ID).")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rules TOML.",
)
@click.option(
    "--residents",
    "residents_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Per-resident TOML.",
)
@click.option(
    "--datadir", type=click.Path(file_okay=False, path_type=Path), help="Faust data directory."
)
@click.option("--no-sink", is_flag=True, help="Do not run the InfluxDB sink in this worker.")
def worker(
    app_id: str | None,
    rules_file: Path | None,
    residents_file: Path | None,
    datadir: Path | None,
    no_sink: bool,
) -> None:
    """Run the stream worker: readings in; metrics, InfluxDB points and alerts out."""
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "app_id": app_id,
            "rules_file": rules_file,
            "residents_file": residents_file,
            "datadir": datadir,
        }.items()
        if v is not None
    }
    if no_sink:
        overrides["sink_enabled"] = False
    try:
        settings = StreamSettings.load(**overrides)
        settings.check_store()
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=f"CAREPULSE_{exc.setting.upper()}") from exc
    except (ValidationError, SettingsError) as exc:
        raise click.UsageError(settings_problem(exc)) from exc
    run(settings)
