"""The simulated devices' MQTT size limit: the broker's, refused before anything is sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulators.mqtt_devices import (
    BROKER_MESSAGE_LIMIT,
    BrokerSettings,
    MessageTooLargeError,
    MqttPublisher,
)

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "carepulse/devices/wifi-scale-001/weight_measurement"


@pytest.mark.parametrize("config", ["deploy/mosquitto/mosquitto.conf", "scripts/stack"])
def test_the_limit_is_the_brokers_message_size_limit(config: str) -> None:
    """The stack's and the production broker's ``message_size_limit`` equal the constant."""
    found = re.findall(r"^message_size_limit (\d+)$", (ROOT / config).read_text(), re.MULTILINE)
    assert found == [str(BROKER_MESSAGE_LIMIT)]


async def test_an_oversized_message_is_refused_before_connecting() -> None:
    """publish and publish_nowait raise MessageTooLargeError with the sizes; no broker is
    needed because nothing is sent (the publisher was never connected)."""
    publisher = MqttPublisher(BrokerSettings(max_payload_bytes=100))
    with pytest.raises(MessageTooLargeError) as caught:
        await publisher.publish(TOPIC, b"x" * 101)
    assert (caught.value.topic, caught.value.size, caught.value.limit) == (TOPIC, 101, 100)
    assert "not sent" in str(caught.value)
    with pytest.raises(MessageTooLargeError):
        publisher.publish_nowait(TOPIC, b"x" * 101)
    assert publisher.published == 0
