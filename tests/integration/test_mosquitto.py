"""Mosquitto from the local stack: authenticated publish/subscribe, TLS, anonymous refused."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.client import MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion

from carepulse.settings import StackSettings

pytestmark = pytest.mark.mosquitto

TIMEOUT_S = 10.0
# paho 2 reports MQTT 3.1.1's CONNACK code 5 as the MQTT 5 reason "Not authorized" (135).
NOT_AUTHORISED = 135


@dataclass
class Connected:
    client: mqtt.Client
    messages: queue.Queue[MQTTMessage]


def connect(
    settings: StackSettings,
    *,
    username: str | None,
    password: str | None,
    tls: bool = False,
    ca_file: str | None = None,
) -> tuple[mqtt.Client, int]:
    """Connect and return the client with the CONNACK reason code (0 = accepted)."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if username is not None:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    connack: queue.Queue[int] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: connack.put(reason.value)
    port = settings.mqtt_tls_port if tls else settings.mqtt_port
    client.connect(settings.mqtt_host, port, keepalive=30)
    client.loop_start()
    try:
        code = connack.get(timeout=TIMEOUT_S)
    except queue.Empty:
        client.loop_stop()
        pytest.fail("no CONNACK from Mosquitto")
    return client, code


@pytest.fixture
def subscriber(mqtt: StackSettings, unique: str) -> Iterator[tuple[Connected, str]]:
    topic = f"carepulse/test/{unique}"
    client, code = connect(
        mqtt, username=mqtt.mqtt_username, password=mqtt.mqtt_password.get_secret_value()
    )
    assert code == 0
    messages: queue.Queue[MQTTMessage] = queue.Queue()
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, message: messages.put(message)
    client.on_subscribe = lambda *_args: subscribed.set()
    client.subscribe(topic, qos=1)
    assert subscribed.wait(TIMEOUT_S)
    yield Connected(client, messages), topic
    client.disconnect()
    client.loop_stop()


def test_authenticated_client_round_trip(
    mqtt: StackSettings, subscriber: tuple[Connected, str]
) -> None:
    """A message published with the test user's credentials reaches a subscriber."""
    sub, topic = subscriber
    publisher, code = connect(
        mqtt, username=mqtt.mqtt_username, password=mqtt.mqtt_password.get_secret_value()
    )
    assert code == 0
    info = publisher.publish(topic, b'{"weight_kg": 70.5}', qos=1)
    info.wait_for_publish(TIMEOUT_S)
    message = sub.messages.get(timeout=TIMEOUT_S)
    assert message.topic == topic
    assert message.payload == b'{"weight_kg": 70.5}'
    publisher.disconnect()
    publisher.loop_stop()


def test_tls_listener_round_trip(mqtt: StackSettings, subscriber: tuple[Connected, str]) -> None:
    """The TLS listener accepts a client that trusts the stack's CA and delivers its message."""
    sub, topic = subscriber
    assert mqtt.mqtt_ca_file is not None
    publisher, code = connect(
        mqtt,
        username=mqtt.mqtt_username,
        password=mqtt.mqtt_password.get_secret_value(),
        tls=True,
        ca_file=str(mqtt.mqtt_ca_file),
    )
    assert code == 0
    publisher.publish(topic, b"over-tls", qos=1).wait_for_publish(TIMEOUT_S)
    assert sub.messages.get(timeout=TIMEOUT_S).payload == b"over-tls"
    publisher.disconnect()
    publisher.loop_stop()


def test_anonymous_client_is_refused(mqtt: StackSettings) -> None:
    """A client without credentials gets CONNACK 'not authorised'."""
    client, code = connect(mqtt, username=None, password=None)
    client.loop_stop()
    assert code == NOT_AUTHORISED


def test_wrong_password_is_refused(mqtt: StackSettings) -> None:
    """The password file is enforced: a wrong password is 'not authorised'."""
    client, code = connect(mqtt, username=mqtt.mqtt_username, password="not-the-password")
    client.loop_stop()
    assert code == NOT_AUTHORISED


def test_tls_refuses_a_client_that_does_not_trust_the_ca(mqtt: StackSettings) -> None:
    """The TLS listener presents the stack's own certificate, which the system CAs reject."""
    context = ssl.create_default_context()
    with (
        socket.create_connection((mqtt.mqtt_host, mqtt.mqtt_tls_port), timeout=TIMEOUT_S) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
        context.wrap_socket(raw, server_hostname="localhost"),
    ):
        pass


def test_tls_certificate_verifies_against_the_stack_ca(mqtt: StackSettings) -> None:
    """The certificate is valid for 127.0.0.1 under the CA the stack generated."""
    assert mqtt.mqtt_ca_file is not None
    context = ssl.create_default_context(cafile=str(mqtt.mqtt_ca_file))
    with (
        socket.create_connection((mqtt.mqtt_host, mqtt.mqtt_tls_port), timeout=TIMEOUT_S) as raw,
        context.wrap_socket(raw, server_hostname=mqtt.mqtt_host) as tls,
    ):
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
