"""The one ``carepulse`` command.

Each package adds its subcommand as a line in ``COMMANDS`` once the command works;
the module behind it is imported only when that subcommand runs, so ``carepulse
decode`` never loads Kafka or Bluetooth libraries.
"""

from __future__ import annotations

import importlib
import json
import platform
from importlib import metadata

import click

from carepulse import __version__
from carepulse.log import setup_logging

#: subcommand -> "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "alerts": "alerts.cli:alerts",
    "assess": "stream.assess_cli:assess",
    "bench": "carepulse.bench:bench",
    "demo": "simulators.demo:demo",
    "decode": "edge.decode_cli:decode",
    "gateway": "edge.gateway_cli:gateway",
    "report": "storage.cli:report",
    "simulate": "simulators.cli:simulate",
    "stack": "carepulse.stack:stack",
    "storage": "storage.cli:storage",
    "version": "carepulse.cli:version",
    "worker": "stream.worker_cli:worker",
}

#: Libraries whose versions ``carepulse version --all`` reports.
COMPONENTS = (
    "bleak",
    "bumble",
    "paho-mqtt",
    "aiokafka",
    "faust-streaming",
    "influxdb-client",
    "pydantic",
    "numpy",
)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            msg = f"{target} is not a click command"
            raise TypeError(msg)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    envvar="CAREPULSE_LOGLEVEL",
    default="INFO",
    show_default=True,
    help="DEBUG, INFO, WARNING or ERROR (env CAREPULSE_LOGLEVEL).",
)
def main(log_level: str) -> None:
    """carepulse: community health monitoring from devices to the social-worker queue."""
    try:
        setup_logging(log_level)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-level") from exc


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Also list Python and the main libraries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def version(show_all: bool, as_json: bool) -> None:
    """Print carepulse's version."""
    versions = {"carepulse": __version__}
    if show_all:
        versions["python"] = platform.python_version()
        for name in COMPONENTS:
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                versions[name] = "not installed"
    if as_json:
        click.echo(json.dumps(versions))
    else:
        for name, value in versions.items():
            click.echo(f"{name} {value}")
