"""Integration tests talk to the real servers of the local stack (scripts/stack).

`make test` starts the stack and sets CAREPULSE_REQUIRE_STACK=1, so there a missing
server fails the run. Run by hand without the stack, these tests skip and say how to
start it (`make stack-up`).
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from carepulse.settings import StackSettings, stack_env_file

START_HINT = "run `make stack-up` (or `carepulse stack up`) to start the local stack"


def _unavailable(reason: str) -> None:
    message = f"{reason}; {START_HINT}"
    if os.environ.get("CAREPULSE_REQUIRE_STACK") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def stack() -> StackSettings:
    """The local stack's addresses and credentials, from its env file."""
    if not stack_env_file().exists():
        _unavailable(f"no stack env file at {stack_env_file()}")
    return StackSettings.load()


@pytest.fixture(scope="session")
def mqtt(stack: StackSettings) -> StackSettings:
    if not _reachable(stack.mqtt_host, stack.mqtt_port):
        _unavailable(f"Mosquitto is not listening on {stack.mqtt_host}:{stack.mqtt_port}")
    return stack


@pytest.fixture(scope="session")
def kafka(stack: StackSettings) -> StackSettings:
    host, _, port = stack.kafka_bootstrap.split(",")[0].rpartition(":")
    if not _reachable(host, int(port)):
        _unavailable(f"Kafka is not listening on {stack.kafka_bootstrap}")
    return stack


@pytest.fixture(scope="session")
def influxdb(stack: StackSettings) -> StackSettings:
    address = stack.influx_url.split("//", 1)[-1].rstrip("/")
    host, _, port = address.rpartition(":")
    if not _reachable(host, int(port)):
        _unavailable(f"InfluxDB is not listening on {stack.influx_url}")
    return stack


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topics, groups and measurements of one test."""
    return uuid.uuid4().hex[:12]
