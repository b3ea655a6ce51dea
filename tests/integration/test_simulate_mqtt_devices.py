"""Simulated MQTT devices against the stack's real Mosquitto: as themselves, or shared."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from carepulse.errors import StackError
from carepulse.settings import StackSettings
from carepulse.stack import add_mqtt_users
from edge import mqtt_formats
from simulators.mqtt_devices import (
    BROKER_MESSAGE_LIMIT,
    BrokerSettings,
    BrokerUnavailableError,
    MessageTooLargeError,
    MqttDevices,
    MqttLogins,
    MqttPublisher,
    PublishRefusedError,
    broker_settings_from,
    provision_mqtt_logins,
)
from simulators.scenario import PROXY_BASE, Link, Op, load_scenario, plan
from tests.integration.test_mosquitto_acl import mqtt_user

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


async def test_each_device_logs_in_as_itself_and_is_held_to_its_topic(
    mqtt: StackSettings, received: queue.Queue[tuple[str, bytes]], unique: str
) -> None:
    """With provisioned logins every message arrives, and a device's login is a device user:
    its publish on another device's topic is dropped by the ACL (the marker it publishes
    afterwards on its own topic is the next message a subscriber gets)."""
    planned = plan(
        load_scenario(SCENARIOS / "default.toml"),
        start=datetime(2026, 11, 20, tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    logins = provision_mqtt_logins(planned)
    actions = [
        a for a in planned.actions if a.op is Op.SEND and a.topic is not None and not a.malformed
    ]
    sample = [a for a in actions if a.link is Link.MQTT][:20]
    sample += [a for a in actions if a.link is Link.PROXY][:20]
    broker = broker_settings_from(mqtt, f"carepulse-sim-{unique}")
    async with MqttDevices(broker, logins) as devices:
        for action in sample:
            await devices.publish(action.topic or "", action.payload)
        assert devices.published == len(sample)
    got = [received.get(timeout=10) for _ in sample]
    assert sorted(got) == sorted((a.topic or "", a.payload) for a in sample)

    one, other = planned.mqtt_users()["device"][:2]
    login = type(broker)(
        host=broker.host,
        port=broker.port,
        username=one,
        password=logins.devices[one],
        client_id=f"carepulse-sim-{unique}-forger",
    )
    async with MqttPublisher(login) as forger:
        await forger.publish(f"carepulse/devices/{other}/weight_measurement", b'{"weight_kg": 1}')
        marker = (f"carepulse/devices/{one}/weight_measurement", f'"{unique}"'.encode())
        await forger.publish(*marker)
    assert received.get(timeout=10) == marker


def test_provisioning_refuses_a_bad_name_and_adds_nobody(mqtt: StackSettings, unique: str) -> None:
    """``add_mqtt_users`` raises StackError with the stack script's rule; the good name
    given with the bad one was not added either (it cannot be removed)."""
    with pytest.raises(StackError, match="NAME must be 1-64 letters"):
        add_mqtt_users("device", [f"good-{unique}", "bad/name"])
    assert "no MQTT user" in mqtt_user("--remove", f"good-{unique}").stderr
    with pytest.raises(ValueError, match="one of device, proxy, gateway"):
        add_mqtt_users("printer", [f"good-{unique}"])


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_a_message_over_the_broker_limit_is_refused_and_the_connection_kept(
    mqtt: StackSettings,
    received: queue.Queue[tuple[str, bytes]],
    unique: str,
    protocol: Literal["3.1.1", "5"],
) -> None:
    """One byte over Mosquitto's message_size_limit raises MessageTooLargeError and is not
    sent: the connection stays up (under MQTT 5 the broker would close it, and paho would
    send the message again after every reconnect) and the next message arrives."""
    settings = replace(broker_settings_from(mqtt, f"carepulse-sim-{unique}"), protocol=protocol)
    topic = f"carepulse/devices/big-{unique}/weight_measurement"
    async with MqttPublisher(settings) as publisher:
        with pytest.raises(MessageTooLargeError) as caught:
            await publisher.publish(topic, b"x" * (BROKER_MESSAGE_LIMIT + 1))
        assert caught.value.size == BROKER_MESSAGE_LIMIT + 1
        await publisher.publish(topic, b"marker")
        assert received.get(timeout=10) == (topic, b"marker")
        assert (publisher.published, publisher.disconnects) == (1, 0)


async def test_a_message_at_the_broker_limit_is_delivered(
    mqtt: StackSettings, received: queue.Queue[tuple[str, bytes]], unique: str
) -> None:
    """The limit is the broker's, not stricter: exactly 1 MiB goes through (MQTT 5)."""
    settings = replace(broker_settings_from(mqtt, f"carepulse-sim-{unique}"), protocol="5")
    topic = f"carepulse/devices/big-{unique}/weight_measurement"
    payload = b"x" * BROKER_MESSAGE_LIMIT
    async with MqttPublisher(settings) as publisher:
        await publisher.publish(topic, payload)
        assert received.get(timeout=10) == (topic, payload)
        assert publisher.disconnects == 0


async def test_under_mqtt5_a_refused_publish_is_an_error(mqtt: StackSettings, unique: str) -> None:
    """A device publishing on another device's topic over MQTT 5 gets PUBACK 135, which the
    publisher raises as PublishRefusedError instead of counting the message as sent."""
    one, other = f"dev-{unique}", f"other-{unique}"
    password = add_mqtt_users("device", [one])[one]
    try:
        login = BrokerSettings(
            host=mqtt.mqtt_host,
            port=mqtt.mqtt_port,
            username=one,
            password=password,
            client_id=f"carepulse-sim-{unique}",
            protocol="5",
        )
        async with MqttPublisher(login) as publisher:
            with pytest.raises(PublishRefusedError, match="Not authorized") as caught:
                await publisher.publish(f"carepulse/devices/{other}/weight_measurement", b"{}")
            assert caught.value.topic == f"carepulse/devices/{other}/weight_measurement"
            await publisher.publish(f"carepulse/devices/{one}/weight_measurement", b"{}")
            assert publisher.published == 1
    finally:
        assert mqtt_user("--remove", one).returncode == 0


async def test_a_device_login_the_broker_refuses_says_how_to_share_one(
    mqtt: StackSettings, unique: str
) -> None:
    """A device user the broker does not know (another broker than the stack's, say) fails
    with BrokerUnavailableError naming the user and the --mqtt-login shared way out."""
    broker = broker_settings_from(mqtt, f"carepulse-sim-{unique}")
    logins = MqttLogins("gateway-x", "unused", {f"stranger-{unique}": "not-a-password"})
    with pytest.raises(BrokerUnavailableError) as caught:
        async with MqttDevices(broker, logins):
            pass
    assert f"stranger-{unique}" in str(caught.value)
    assert "--mqtt-login shared" in str(caught.value)
