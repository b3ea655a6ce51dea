"""Simulated MQTT devices against the stack's real Mosquitto, with its credentials."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from carepulse.settings import StackSettings
from edge import mqtt_formats
from simulators.mqtt_devices import BrokerUnavailableError, MqttPublisher, broker_settings_from
from simulators.scenario import PROXY_BASE, Link, Op, load_scenario, plan

pytestmark = pytest.mark.mosquitto

SCENARIOS = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"


@pytest.fixture
def received(mqtt: StackSettings) -> Iterator[queue.Queue[tuple[str, bytes]]]:
    messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.username_pw_set(mqtt.mqtt_username, mqtt.mqtt_password.get_secret_value())
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, m: messages.put((m.topic, bytes(m.payload)))
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(mqtt.mqtt_host, mqtt.mqtt_port)
    client.loop_start()
    client.subscribe([("carepulse/devices/+/+", 1), (f"{PROXY_BASE}/+/BTtoMQTT/+", 1)])
    assert subscribed.wait(10)
    yield messages
    client.disconnect()
    client.loop_stop()


async def test_wifi_devices_and_the_proxy_publish_in_the_gateway_formats(
    mqtt: StackSettings, received: queue.Queue[tuple[str, bytes]], unique: str
) -> None:
    """Every planned MQTT message arrives at a subscriber and parses as the gateway reads it."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    planned = plan(scenario, start=datetime(2026, 11, 20, tzinfo=ZoneInfo("Asia/Shanghai")))
    actions = [
        a for a in planned.actions if a.op is Op.SEND and a.topic is not None and not a.malformed
    ]
    wifi = [a for a in actions if a.link is Link.MQTT][:20]
    proxy = [a for a in actions if a.link is Link.PROXY][:20]
    async with MqttPublisher(broker_settings_from(mqtt, f"carepulse-sim-{unique}")) as publisher:
        for action in wifi + proxy:
            await publisher.publish(action.topic or "", action.payload)
    got = [received.get(timeout=10) for _ in range(40)]
    assert sorted(got) == sorted((a.topic or "", a.payload) for a in wifi + proxy)
    for topic, payload in got:
        parsed = mqtt_formats.parse(topic, payload)
        assert parsed.device_id
    advert = json.loads(next(p for t, p in got if "BTtoMQTT" in t))
    assert {"id"} <= set(advert)


async def test_wrong_credentials_are_refused_with_advice(mqtt: StackSettings, unique: str) -> None:
    """A publisher with a wrong password fails with BrokerUnavailableError, not a hang."""
    settings = broker_settings_from(mqtt, f"carepulse-sim-{unique}")
    wrong = type(settings)(
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password="nope",
        client_id=settings.client_id,
    )
    with pytest.raises(BrokerUnavailableError):
        async with MqttPublisher(wrong):
            pass
