"""``carepulse gateway``: run a station's gateway, and place held readings."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import click

from edge.config import GatewaySettings
from edge.errors import RegistryError
from edge.gateway import open_gateway, run_gateway
from edge.registry import Registry, load_registry

config_option = click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The station's device registry (TOML).",
)


@click.group(invoke_without_command=True)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The station's device registry (TOML); runs the gateway.",
)
@click.pass_context
def gateway(ctx: click.Context, config: Path | None) -> None:
    """Run the station gateway: BLE/MQTT devices in, Kafka out (see docs/gateway.md)."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        msg = "give --config FILE (the station's device registry)"
        raise click.UsageError(msg)
    settings = GatewaySettings.load()
    _check_registry(config)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_gateway(settings, config))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@gateway.group()
def held() -> None:
    """Readings a shared device sent that nobody can be sure is whose."""


@held.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def held_list(config: Path, as_json: bool) -> None:
    """List held readings, oldest first."""
    registry = _check_registry(config)
    gw = open_gateway(GatewaySettings.load(), registry)
    for entry in gw.held.list():
        held = entry.held
        row = {
            "id": entry.id,
            "device_id": held.device_id,
            "received_at": held.received_at.isoformat(),
            "kind": held.reading.kind.value,
            "values": dict(held.reading.values),
            "reason": held.reason,
        }
        click.echo(
            json.dumps(row)
            if as_json
            else f"{row['id']:>5}  {row['received_at']}  "
            f"{row['device_id']}  {row['values']}  ({row['reason']})"
        )


@held.command("assign")
@config_option
@click.argument("entry_id", type=int)
@click.argument("resident")
def held_assign(config: Path, entry_id: int, resident: str) -> None:
    """Give held reading ENTRY_ID to RESIDENT (the station's resident id)."""
    registry = _check_registry(config)
    gw = open_gateway(GatewaySettings.load(), registry)
    entries = {e.id: e for e in gw.held.list()}
    if entry_id not in entries:
        msg = f"no held reading {entry_id} (see `carepulse gateway held list`)"
        raise click.ClickException(msg)
    held = entries[entry_id].held
    device = registry.lookup(held.device_id)
    if device is None:
        msg = f"device {held.device_id} is no longer in the registry"
        raise click.ClickException(msg)
    outcome = gw.ingest.assign(device, resident, held.reading, held.received_at, held.source)
    gw.store(outcome)
    gw.held.remove(entry_id)
    click.echo(f"held reading {entry_id} assigned; queued for Kafka")


def _check_registry(config: Path) -> Registry:
    try:
        return load_registry(config.read_text())
    except RegistryError as exc:
        msg = f"{config}: {exc}"
        raise click.ClickException(msg) from exc
