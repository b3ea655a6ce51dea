"""``carepulse simulate``: run a scenario through the gateway, or generate load.

::

    carepulse simulate --scenario simulators/scenarios/default.toml --duration 300 --json
    carepulse simulate --load --devices 1000 --rate 20000 --duration 10 --json

A scenario run starts the virtual BLE devices and the real gateway in this process, the
MQTT devices on the stack's Mosquitto (each logged in as its own MQTT user, the gateway as
the station's gateway user: ``--mqtt-login own``), and writes next to the summary
(``--out DIR``) the gateway's registry, the stream's residents file and the ground truth
(``truth.json``).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from carepulse.errors import StackError
from carepulse.settings import StackSettings
from simulators.load import load_kafka
from simulators.mqtt_devices import MqttLogins, broker_settings_from, provision_mqtt_logins
from simulators.runner import anchor_start, gateway_settings, run_scenario
from simulators.scenario import Plan, ScenarioError, load_scenario, plan
from simulators.truth import ground_truth

#: Simulated seconds per wall second when neither --speed nor --duration is given.
DEFAULT_SPEED = 1440.0


@click.command()
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scenario file (TOML), e.g. simulators/scenarios/default.toml.",
)
@click.option("--speed", type=float, help="Simulated seconds per wall second (default 1440).")
@click.option(
    "--duration",
    type=float,
    help="Wall seconds: fits the scenario into them (or, with --speed, stops after them).",
)
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for registry.toml, residents.toml and truth.json (default: a temp folder).",
)
@click.option("--no-gateway", is_flag=True, help="Devices only (a gateway runs elsewhere).")
@click.option("--topic-prefix", default=None, help="Kafka topic prefix (default: settings).")
@click.option(
    "--mqtt-login",
    type=click.Choice(["own", "shared"]),
    default="own",
    show_default=True,
    help="own: each MQTT device, the proxy and the gateway log in as their own user, "
    "added to the local stack's broker; shared: all as CAREPULSE_MQTT_USERNAME.",
)
@click.option("--load", "load", is_flag=True, help="Generate load instead of a scenario.")
@click.option("--devices", type=int, default=1000, show_default=True, help="Load: devices.")
@click.option("--rate", type=float, default=20000.0, show_default=True, help="Load: total/s.")
@click.option(
    "--into",
    type=click.Choice(["kafka"]),
    default="kafka",
    show_default=True,
    help="Load: straight into Kafka (the path through a gateway is not built yet).",
)
def simulate(
    scenario_file: Path | None,
    speed: float | None,
    duration: float | None,
    seed: int | None,
    as_json: bool,
    out: Path | None,
    no_gateway: bool,
    topic_prefix: str | None,
    mqtt_login: str,
    load: bool,
    devices: int,
    rate: float,
    into: str,
) -> None:
    """Run a resident scenario through the gateway, or drive load into Kafka."""
    settings = StackSettings.load()
    if load:
        result = _load(settings, devices, rate, duration or 10.0, into, topic_prefix)
        _print(result, as_json)
        return
    if scenario_file is None:
        msg = "give --scenario FILE, or --load"
        raise click.UsageError(msg)
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    period_s = scenario.days * 86400.0
    if speed is None:
        speed = period_s / duration if duration else DEFAULT_SPEED
    days = min(scenario.days, speed * duration / 86400.0) if duration else scenario.days
    start = anchor_start(scenario, days, speed, datetime.now(UTC))
    planned = plan(scenario, start=start, seed=seed, days=days)
    truth = ground_truth(planned)
    folder = out or Path(tempfile.mkdtemp(prefix="carepulse-sim-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "registry.toml").write_text(planned.registry_toml(), encoding="utf-8")
    (folder / "residents.toml").write_text(planned.residents_toml(), encoding="utf-8")
    (folder / "truth.json").write_text(
        json.dumps(truth.as_dict(speed=speed), indent=2), encoding="utf-8"
    )
    prefix = settings.topic_prefix if topic_prefix is None else topic_prefix
    logins = _logins(planned) if mqtt_login == "own" else None
    gateway = (
        None
        if no_gateway
        else gateway_settings(planned, folder, topic_prefix=prefix, logins=logins)
    )
    broker = broker_settings_from(settings, f"carepulse-sim-devices-{int(time.time())}")
    summary = asyncio.run(
        run_scenario(
            planned,
            speed=speed,
            broker=broker,
            gateway=gateway,
            state_dir=folder,
            logins=logins,
            drain_timeout_s=60.0,
        )
    )
    result = summary.as_dict()
    result["mqtt_users"] = (
        {"gateway": logins.gateway_user, "devices": sorted(logins.devices)}
        if logins is not None
        else {"shared": broker.username}
    )
    result["files"] = {
        name: str(folder / name) for name in ("registry.toml", "residents.toml", "truth.json")
    }
    result["expected"] = {
        "observations": truth.counts.total_observations(),
        "alerts": len(truth.alerts),
        "rejected_gateway": sum(truth.counts.rejected_gateway.values()),
        "rejected_stream": sum(truth.counts.rejected_stream.values()),
    }
    _print(result, as_json)


def _logins(planned: Plan) -> MqttLogins:
    try:
        return provision_mqtt_logins(planned)
    except StackError as exc:
        msg = (
            f"{exc}; to log every simulated device in as CAREPULSE_MQTT_USERNAME instead "
            "(a broker the local stack does not run), pass --mqtt-login shared"
        )
        raise click.ClickException(msg) from exc


def _load(
    settings: StackSettings,
    devices: int,
    rate: float,
    duration: float,
    into: str,
    topic_prefix: str | None,
) -> dict[str, Any]:
    prefix = settings.topic_prefix if topic_prefix is None else topic_prefix
    report = asyncio.run(
        load_kafka(
            bootstrap=settings.kafka_bootstrap,
            topic=f"{prefix}readings",
            devices=devices,
            rate=rate,
            duration_s=duration,
        )
    )
    return report.as_dict()


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        click.echo(f"{key}: {value}")
