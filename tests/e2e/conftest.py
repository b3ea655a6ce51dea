"""End-to-end tests use the integration tests' stack fixtures (they skip, or fail under
CAREPULSE_REQUIRE_STACK=1, when a server is missing)."""

from tests.integration.conftest import influxdb, kafka, mqtt, stack, unique

__all__ = ["influxdb", "kafka", "mqtt", "stack", "unique"]
