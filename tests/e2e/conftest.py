"""Fixtures of the end-to-end tests: the local stack's servers, each required.

The e2e tests use Mosquitto, Kafka and InfluxDB together; the fixtures are the integration
tests' own (a missing server fails under ``make test`` and skips, with the command to
start it, when run by hand).
"""

from __future__ import annotations

import pytest

from carepulse.settings import StackSettings
from tests.integration.conftest import influxdb, kafka, mqtt, stack, unique

__all__ = ["influxdb", "kafka", "mqtt", "stack", "unique"]


@pytest.fixture
def e2e_stack(mqtt: StackSettings, kafka: StackSettings, influxdb: StackSettings) -> StackSettings:
    """The stack, with all three servers reachable."""
    return mqtt
