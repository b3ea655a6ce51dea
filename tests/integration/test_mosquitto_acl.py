"""Per-device MQTT users and the ACL of the stack's Mosquitto (docs/security.md).

Users are provisioned with ``scripts/stack mqtt-user ROLE NAME``, as an operator would.
What is *not* delivered is asserted by order, not by waiting: Mosquitto handles one
client's packets in order and delivers to a subscriber in the order it accepted them, so
when a marker published after the forbidden message arrives first, the forbidden one was
dropped.
"""

from __future__ import annotations

import queue
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from carepulse.settings import StackSettings

pytestmark = pytest.mark.mosquitto

STACK = Path(__file__).resolve().parents[2] / "scripts" / "stack"
TIMEOUT_S = 10.0
# MQTT 5 PUBACK reason "Not authorized" (0x87).
NOT_AUTHORISED = 135


def mqtt_user(*args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/stack mqtt-user ARGS``."""
    return subprocess.run(  # the project's own script
        ["bash", str(STACK), "mqtt-user", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


#: provision(role, name) -> the new user's password.
Provision = Callable[[str, str], str]


@pytest.fixture
def provision(mqtt: StackSettings) -> Iterator[Provision]:
    """Adds users as an operator would; removes them again after the test."""
    added: list[str] = []

    def add(role: str, name: str) -> str:
        result = mqtt_user(role, name)
        assert result.returncode == 0, result.stderr
        added.append(name)
        return result.stdout.strip()

    yield add
    for name in dict.fromkeys(added):
        result = mqtt_user("--remove", name)
        assert result.returncode == 0 or "no MQTT user" in result.stderr, result.stderr


@dataclass
class Client:
    """A connected paho client that records what it receives and its acknowledgements."""

    client: paho.Client
    messages: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)
    acks: queue.Queue[ReasonCode | list[ReasonCode]] = field(default_factory=queue.Queue)

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code."""
        self.client.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT_S)
        ack = self.acks.get(timeout=TIMEOUT_S)
        assert isinstance(ack, ReasonCode)
        return ack

    def subscribe(self, topic: str) -> list[ReasonCode]:
        """Subscribe at QoS 1 and return the SUBACK's reason codes."""
        self.client.subscribe(topic, qos=1)
        ack = self.acks.get(timeout=TIMEOUT_S)
        assert isinstance(ack, list)
        return ack

    def received(self) -> tuple[str, bytes]:
        """The next message delivered to this client."""
        return self.messages.get(timeout=TIMEOUT_S)


#: connect(user, password, protocol=...) -> a connected Client.
Connect = Callable[..., Client]


@pytest.fixture
def connect(mqtt: StackSettings) -> Iterator[Connect]:
    """Connects users; disconnects them all afterwards."""
    clients: list[paho.Client] = []

    def _connect(
        user: str, password: str, *, protocol: MQTTProtocolVersion = paho.MQTTv311
    ) -> Client:
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=protocol)
        client.username_pw_set(user, password)
        # The callbacks hold the queues, not the wrapper: no reference cycle keeps paho's
        # sockets alive until the interpreter exits.
        wrapped = Client(client)
        messages, acks = wrapped.messages, wrapped.acks
        connack: queue.Queue[ReasonCode] = queue.Queue()
        client.on_connect = lambda _c, _u, _f, reason, _p: connack.put(reason)
        client.on_message = lambda _c, _u, m: messages.put((m.topic, bytes(m.payload)))
        client.on_publish = lambda _c, _u, _mid, reason, _p: acks.put(reason)
        client.on_subscribe = lambda _c, _u, _mid, reasons, _p: acks.put(reasons)
        client.connect(mqtt.mqtt_host, mqtt.mqtt_port, keepalive=30)
        client.loop_start()
        clients.append(client)
        reason = connack.get(timeout=TIMEOUT_S)
        assert not reason.is_failure, f"{user} refused: {reason}"
        return wrapped

    yield _connect
    for client in clients:
        client.disconnect()
        client.loop_stop()


@dataclass(frozen=True)
class Station:
    """Two devices and a gateway, provisioned for one test."""

    device_a: str
    password_a: str
    device_b: str
    password_b: str
    gateway: str
    gateway_password: str

    def topic(self, device: str) -> str:
        """A measurement topic of ``device``."""
        return f"carepulse/devices/{device}/weight_measurement"


@pytest.fixture
def station(provision: Provision, unique: str) -> Station:
    a, b, gw = f"dev-a-{unique}", f"dev-b-{unique}", f"gw-{unique}"
    return Station(
        a, provision("device", a), b, provision("device", b), gw, provision("gateway", gw)
    )


def test_device_publishes_on_its_own_topic(connect: Connect, station: Station) -> None:
    """A device user's reading on its own topic reaches the gateway user's subscription."""
    gateway = connect(station.gateway, station.gateway_password)
    assert [r.value for r in gateway.subscribe("carepulse/devices/#")] == [1]
    device = connect(station.device_a, station.password_a)
    assert device.publish(station.topic(station.device_a), b'{"weight_kg": 70.5}').value == 0
    assert gateway.received() == (station.topic(station.device_a), b'{"weight_kg": 70.5}')


@pytest.mark.parametrize("protocol", [paho.MQTTv311, paho.MQTTv5], ids=["mqtt3.1.1", "mqtt5"])
def test_device_cannot_publish_as_another_device(
    connect: Connect, station: Station, protocol: int
) -> None:
    """A device publishing on another device's topic is dropped before the gateway.

    Under MQTT 3.1.1 Mosquitto acknowledges and drops the message silently (the protocol
    has no way to say no); under MQTT 5 its PUBACK says "Not authorized".
    """
    gateway = connect(station.gateway, station.gateway_password)
    gateway.subscribe("carepulse/devices/#")
    device = connect(station.device_a, station.password_a, protocol=protocol)
    spoofed = device.publish(station.topic(station.device_b), b'{"weight_kg": 150.0}')
    assert spoofed.value == (0 if protocol == paho.MQTTv311 else NOT_AUTHORISED)
    assert device.publish(station.topic(station.device_a), b"marker").value == 0
    assert gateway.received() == (station.topic(station.device_a), b"marker")


def test_device_cannot_write_outside_the_device_topics(connect: Connect, station: Station) -> None:
    """A device user may not publish proxy adverts or anything else outside its topic."""
    gateway = connect(station.gateway, station.gateway_password)
    gateway.subscribe("#")
    device = connect(station.device_a, station.password_a, protocol=paho.MQTTv5)
    for topic in (f"sim/{station.device_a}/BTtoMQTT/AABBCCDDEEFF", "carepulse/devices/x"):
        assert device.publish(topic, b"{}").value == NOT_AUTHORISED
    device.publish(station.topic(station.device_a), b"marker")
    assert gateway.received() == (station.topic(station.device_a), b"marker")


def test_device_does_not_receive_other_devices_readings(connect: Connect, station: Station) -> None:
    """A device subscribed to every device topic gets only its own messages."""
    device_a = connect(station.device_a, station.password_a)
    device_a.subscribe("carepulse/devices/#")
    device_b = connect(station.device_b, station.password_b)
    assert device_b.publish(station.topic(station.device_b), b'{"weight_kg": 61.0}').value == 0
    device_a.publish(station.topic(station.device_a), b"marker")
    assert device_a.received() == (station.topic(station.device_a), b"marker")


def test_gateway_user_cannot_publish_readings(connect: Connect, station: Station) -> None:
    """The gateway user only reads: its publish on a device topic is refused."""
    device = connect(station.device_a, station.password_a)
    device.subscribe(station.topic(station.device_a))
    gateway = connect(station.gateway, station.gateway_password, protocol=paho.MQTTv5)
    assert gateway.publish(station.topic(station.device_a), b"forged").value == NOT_AUTHORISED
    device.publish(station.topic(station.device_a), b"marker")
    assert device.received() == (station.topic(station.device_a), b"marker")


def test_proxy_publishes_only_its_own_adverts(
    connect: Connect, station: Station, provision: Provision, unique: str
) -> None:
    """A proxy user may publish adverts under its own name, not under another proxy's."""
    proxy = f"proxy-{unique}"
    password = provision("proxy", proxy)
    gateway = connect(station.gateway, station.gateway_password)
    gateway.subscribe("+/+/BTtoMQTT/#")
    client = connect(proxy, password, protocol=paho.MQTTv5)
    assert client.publish(f"sim/other-{unique}/BTtoMQTT/AABB", b"{}").value == NOT_AUTHORISED
    assert client.publish(f"sim/{proxy}/BTtoMQTT/AABB", b"advert").value == 0
    assert gateway.received() == (f"sim/{proxy}/BTtoMQTT/AABB", b"advert")


def test_provisioning_is_idempotent_and_checks_its_arguments(
    connect: Connect, provision: Provision, unique: str
) -> None:
    """Adding a user twice keeps its password; bad arguments are refused with the rule;
    a removed user can no longer log in."""
    name = f"dev-{unique}"
    password = provision("device", name)
    assert provision("device", name) == password
    for args, error in (
        (["printer", name], "ROLE must be one of: device proxy gateway"),
        (["device", "a/b"], "NAME must be 1-64 letters"),
        (["device", "carepulse-test"], "is the stack's test user"),
        (["gateway", name], "is already a device user"),
        (["--remove", f"nobody-{unique}"], "no MQTT user"),
    ):
        result = mqtt_user(*args)
        assert result.returncode == 1
        assert error in result.stderr
        assert result.stdout == ""
    assert mqtt_user("--remove", name).returncode == 0
    with pytest.raises(AssertionError, match="refused"):
        connect(name, password)


def test_the_broker_takes_in_nothing_over_one_mebibyte(connect: Connect, station: Station) -> None:
    """``message_size_limit``: a 1 MiB + 1 byte message never reaches the gateway.

    Under MQTT 3.1.1 (what the gateway and the simulated devices speak) it is acknowledged
    and dropped. (Under MQTT 5, Mosquitto 2.0.11 closes the publisher's connection instead,
    and paho sends the message again on every reconnect: docs/security.md.) Up to the
    limit, the gateway's own 64 KiB check dead-letters a message.
    """
    gateway = connect(station.gateway, station.gateway_password)
    gateway.subscribe("carepulse/devices/#")
    device = connect(station.device_a, station.password_a)
    topic = station.topic(station.device_a)
    assert device.publish(topic, b"x" * (1024 * 1024 + 1)).value == 0
    assert device.publish(topic, b"x" * (1024 * 1024)).value == 0
    assert device.publish(topic, b"marker").value == 0
    assert gateway.received() == (topic, b"x" * (1024 * 1024))
    assert gateway.received() == (topic, b"marker")


def test_under_mqtt5_an_oversized_message_is_sent_again_after_every_reconnect(
    station: Station, mqtt: StackSettings
) -> None:
    """What the simulated devices' size check prevents (docs/security.md): under MQTT 5,
    Mosquitto 2.0 answers a message over ``message_size_limit`` by closing the connection
    (not with PUBACK 131), and paho sends the message again after each reconnect."""
    events: queue.Queue[str] = queue.Queue()
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(station.device_a, station.password_a)
    client.on_connect = lambda *_a: events.put("connect")
    client.on_disconnect = lambda *_a: events.put("disconnect")
    client.on_publish = lambda *_a: events.put("puback")
    client.reconnect_delay_set(min_delay=1, max_delay=1)
    client.connect(mqtt.mqtt_host, mqtt.mqtt_port, keepalive=30)
    client.loop_start()
    try:
        assert events.get(timeout=TIMEOUT_S) == "connect"
        client.publish(station.topic(station.device_a), b"x" * (1024 * 1024 + 1), qos=1)
        seen = [events.get(timeout=TIMEOUT_S) for _ in range(4)]
    finally:
        client.disconnect()
        client.loop_stop()
    assert seen == ["disconnect", "connect", "disconnect", "connect"]
