"""deploy/compose.yaml is a valid Compose file matching the local stack's settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from carepulse.topics import Topics

pytestmark = pytest.mark.compose

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "deploy" / "compose.yaml"
SECRETS = {"CAREPULSE_INFLUX_PASSWORD": "a-long-password", "CAREPULSE_INFLUX_TOKEN": "a-token"}


def compose_command() -> list[str]:
    """`docker compose` if the plugin is installed, else the client `make` builds."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    built = os.environ.get("CAREPULSE_COMPOSE")
    if built and Path(built).is_file():
        return [built]
    message = "no Docker Compose client; `make compose-client` builds one (no engine needed)"
    if os.environ.get("CAREPULSE_REQUIRE_STACK") == "1":
        pytest.fail(message)
    pytest.skip(message)


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
    )


def test_compose_file_is_valid() -> None:
    """`docker compose config` accepts the file and resolves the three services."""
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert set(config["services"]) == {"mosquitto", "kafka", "kafka-topics", "influxdb"}
    influx = config["services"]["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_ORG"] == "carepulse"
    assert influx["DOCKER_INFLUXDB_INIT_BUCKET"] == "readings"
    assert config["services"]["kafka"]["image"] == "apache/kafka:3.9.1"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_requires_the_influx_secrets(missing: str) -> None:
    """Without the InfluxDB password or token compose refuses to start, naming the variable."""
    result = compose_config({k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


def test_compose_creates_the_pipeline_topics() -> None:
    """The topic-creating service names the same topics as carepulse.topics."""
    config = json.loads(compose_config(SECRETS).stdout)
    script = " ".join(config["services"]["kafka-topics"]["command"])
    match = re.search(r"for t in ([^;]*);", script)
    assert match is not None
    assert tuple(match.group(1).split()) == Topics.with_prefix("").all()
