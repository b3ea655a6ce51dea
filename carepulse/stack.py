"""``carepulse stack``: start, stop and inspect the local Mosquitto, Kafka and InfluxDB.

The work is done by ``scripts/stack`` (bash, so ``make`` can call it before any Python
environment exists); this command finds the script in the checkout and passes its exit
status through.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from carepulse.errors import StackError

SERVICES = ("mosquitto", "kafka", "influxdb", "postgres")


def stack_script() -> Path:
    """The checkout's ``scripts/stack``; carepulse runs the stack from a source checkout."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "stack"
    if not script.is_file():
        msg = (
            f"{script} not found: the local stack is run from a carepulse source checkout "
            "(git clone, then `make stack-up`)"
        )
        raise StackError(msg)
    return script


def run_stack(*args: str) -> int:
    """Run ``scripts/stack ARGS`` with this terminal; return its exit status."""
    bash = shutil.which("bash")
    if bash is None:
        msg = "bash not found; the stack script needs bash"
        raise StackError(msg)
    completed = subprocess.run([bash, str(stack_script()), *args], check=False)  # noqa: S603
    return completed.returncode


#: The roles ``scripts/stack mqtt-user`` knows (docs/security.md).
MQTT_ROLES = ("device", "proxy", "gateway")


def add_mqtt_users(role: str, names: Sequence[str]) -> dict[str, str]:
    """Add (or keep) MQTT users of ``role`` on the local stack's broker; name -> password.

    The same code path as an operator's ``scripts/stack mqtt-user ROLE NAME...``: one
    reload of Mosquitto for all of them, returning once they can log in. Adding a user
    that exists keeps its password, so concurrent runs of one scenario share its users.
    """
    if role not in MQTT_ROLES:
        msg = f"MQTT role must be one of {', '.join(MQTT_ROLES)}, not {role!r}"
        raise ValueError(msg)
    unique = list(dict.fromkeys(names))
    if not unique:
        return {}
    bash = shutil.which("bash")
    if bash is None:
        msg = "bash not found; the stack script needs bash"
        raise StackError(msg)
    completed = subprocess.run(  # noqa: S603  # our own script, names checked by it
        [bash, str(stack_script()), "mqtt-user", role, *unique],
        capture_output=True,
        text=True,
        check=False,
    )
    passwords = completed.stdout.split()
    if completed.returncode != 0 or len(passwords) != len(unique):
        msg = (
            f"could not add the MQTT {role} users {', '.join(unique)} to the local stack's "
            f"broker: {completed.stderr.strip() or 'no passwords printed'} (is the stack "
            "up? `carepulse stack status`)"
        )
        raise StackError(msg)
    return dict(zip(unique, passwords, strict=True))


def _exit_with(*args: str) -> None:
    try:
        code = run_stack(*args)
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


service_argument = click.argument("services", nargs=-1, type=click.Choice(SERVICES))


@click.group()
def stack() -> None:
    """Run the local stack: Mosquitto, Kafka (KRaft), InfluxDB and PostgreSQL on 127.0.0.1.

    Downloads and builds are cached in ~/.cache/carepulse; data, logs and generated
    credentials live in ~/.local/state/carepulse (CAREPULSE_CACHE_DIR and
    CAREPULSE_STATE_DIR move them).
    """


@stack.command()
@service_argument
def up(services: tuple[str, ...]) -> None:
    """Install what is missing, start SERVICES (default all) and wait until healthy."""
    _exit_with("up", *services)


@stack.command()
@click.option("--wipe", is_flag=True, help="Also delete all stack data and credentials.")
@service_argument
def down(wipe: bool, services: tuple[str, ...]) -> None:
    """Stop SERVICES (default all)."""
    _exit_with("down", *(["--wipe"] if wipe else []), *services)


@stack.command()
@service_argument
def status(services: tuple[str, ...]) -> None:
    """Show each service's address, pid and health; exit 1 if any is not healthy."""
    _exit_with("status", *services)


@stack.command()
def env() -> None:
    """Print the env file with the stack's addresses and credentials."""
    _exit_with("env")
