"""The settings base: environment variables with the ``CAREPULSE_`` prefix.

Every service builds one settings object in its ``main`` and passes it down; nothing
reads the environment at import time. Values come, in order of precedence, from
keyword arguments, the process environment, and the local stack's env file
(``stack.env`` in the state folder, written by ``scripts/stack up``), so tests and the
CLI find the local stack with no set-up while a real deployment's environment wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from carepulse.topics import Topics

ENV_PREFIX = "CAREPULSE_"


def state_dir() -> Path:
    """The stack's state folder: ``$CAREPULSE_STATE_DIR``, else ``$XDG_STATE_HOME/carepulse``."""
    explicit = os.environ.get("CAREPULSE_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "carepulse"


def stack_env_file() -> Path:
    """Where ``scripts/stack up`` writes how to reach the local servers."""
    return state_dir() / "stack.env"


class CarepulseSettings(BaseSettings):
    """Base of every carepulse settings class (env prefix ``CAREPULSE_``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    loglevel: str = Field(default="INFO", description="Log level of the command's root logger.")

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Settings from the environment, falling back to the local stack's env file."""
        return cls(_env_file=stack_env_file(), **overrides)


class KafkaSettings(CarepulseSettings):
    """How to reach Kafka and name the pipeline's topics."""

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="host:port[,host:port]")
    topic_prefix: str = Field(default="", description="Prefix of every topic name.")
    partitions: int = Field(default=4, ge=1, description="Partitions of the pipeline's topics.")

    @property
    def topics(self) -> Topics:
        """The pipeline's topic names under ``topic_prefix``."""
        return Topics.with_prefix(self.topic_prefix)


class InfluxSettings(CarepulseSettings):
    """How to reach InfluxDB 2 through its v2 API."""

    influx_url: str = "http://127.0.0.1:8086"
    influx_org: str = "carepulse"
    influx_bucket: str = "readings"
    influx_token: SecretStr = SecretStr("")


class MqttSettings(CarepulseSettings):
    """How to reach the MQTT broker."""

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_tls_port: int = 8883
    mqtt_username: str = ""
    mqtt_password: SecretStr = SecretStr("")
    mqtt_ca_file: Path | None = None


class StackSettings(KafkaSettings, InfluxSettings, MqttSettings):
    """Everything ``scripts/stack up`` writes to its env file."""
