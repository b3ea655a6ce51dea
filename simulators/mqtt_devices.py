"""MQTT devices: Wi-Fi scales and BP meters, and a BLE-to-MQTT proxy, on paho-mqtt.

They publish exactly what :mod:`simulators.scenario` planned, in the gateway's formats
(``edge.mqtt_formats``):

* a Wi-Fi device publishes ``carepulse/devices/<id>/<measurement>`` with ``{"hex": ...}``
  (the characteristic value) or, for scales, the decoded fields
  (``{"weight_kg": 70.2, "timestamp": "..."}``);
* the proxy publishes Theengs-style adverts ``<base>/<proxy>/BTtoMQTT/<address>`` with
  ``{"id", "servicedatauuid", "servicedata"}`` (Xiaomi scales) or
  ``{"id", "manufacturerdata"}`` (the Xiaomi band broadcast).

:class:`MqttPublisher` is one authenticated paho connection (QoS 1, optional TLS).
:class:`MqttDevices` gives every simulated device and the proxy a connection of its own,
logged in as its own MQTT user (:func:`provision_mqtt_logins` adds them to the local
stack's broker), so the broker's ACL holds each to its own topic as at a real station;
without logins every device shares one connection as the stack's test user. paho runs its
own network thread; :meth:`MqttPublisher.publish` hands the wait for the broker's PUBACK
to a worker thread so the asyncio loop is never blocked (STYLE 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from carepulse.stack import add_mqtt_users
from simulators.errors import NoLoginError, SimulatorError
from simulators.scenario import Plan, topic_user

logger = logging.getLogger(__name__)


class MessageTooLargeError(SimulatorError, ValueError):
    """A message of ``size`` bytes on ``topic`` is over the broker's ``limit``; not sent."""

    def __init__(self, topic: str, size: int, limit: int) -> None:
        self.topic = topic
        self.size = size
        self.limit = limit
        super().__init__(
            f"a message of {size} bytes on {topic} is over the broker's limit of {limit} "
            "bytes (Mosquitto's message_size_limit), so it was not sent: the broker would "
            "drop it (MQTT 3.1.1) or close the connection, after which it would be sent "
            "again on every reconnect (MQTT 5); send less, or raise the limit on both sides"
        )


class PublishRefusedError(SimulatorError, PermissionError):
    """The broker's PUBACK refused the message on ``topic`` with ``reason`` (MQTT 5)."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(
            f"the broker refused the message on {topic}: {reason}; a device may publish "
            "only under carepulse/devices/<its user name>/ (docs/security.md)"
        )


class BrokerUnavailableError(SimulatorError, ConnectionError):
    """The MQTT broker at ``address`` refused or did not answer (``reason`` says which)."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(
            f"MQTT broker {address}: {reason}; check that Mosquitto runs (`carepulse stack "
            "status`) and that CAREPULSE_MQTT_USERNAME/PASSWORD are the stack's"
        )


#: The broker's largest message payload: ``message_size_limit`` in the stack's and
#: ``deploy/``'s Mosquitto config (docs/security.md).
BROKER_MESSAGE_LIMIT: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how the simulated devices connect.

    ``max_payload_bytes`` is the broker's message size limit: a larger message is refused
    before it is sent (:class:`MessageTooLargeError`). ``protocol`` is the MQTT version the
    devices speak, ``"3.1.1"`` (the default, what the gateway speaks) or ``"5"``.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    client_id: str = "carepulse-sim-devices"
    qos: int = 1
    max_payload_bytes: int = BROKER_MESSAGE_LIMIT
    protocol: Literal["3.1.1", "5"] = "3.1.1"


class MqttPublisher:
    """One connected paho client for the simulated MQTT devices (``async with``)."""

    def __init__(self, settings: BrokerSettings, *, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5 if settings.protocol == "5" else paho.MQTTv311,
        )
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self._connected = threading.Event()
        self._refused: str | None = None
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        #: mid -> the reason of a PUBACK that refused the message (MQTT 5).
        self._refusals: dict[int, str] = {}
        self.published = 0
        #: Connections lost (including the one closed on leaving ``async with``).
        self.disconnects = 0

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            self._refused = str(reason)
        self._connected.set()

    def _on_disconnect(self, *_args: object) -> None:
        self.disconnects += 1
        self._connected.clear()  # paho's network thread reconnects on its own

    def _on_publish(self, _c: object, _u: object, mid: int, reason: object, _p: object) -> None:
        # Runs before paho marks the message published, so publish() sees the refusal.
        if getattr(reason, "is_failure", False):
            self._refusals[mid] = str(reason)

    def _check_size(self, topic: str, payload: bytes) -> None:
        if len(payload) > self.settings.max_payload_bytes:
            raise MessageTooLargeError(topic, len(payload), self.settings.max_payload_bytes)

    @property
    def address(self) -> str:
        """host:port of the broker."""
        return f"{self.settings.host}:{self.settings.port}"

    async def __aenter__(self) -> Self:
        try:
            await asyncio.to_thread(
                self._client.connect, self.settings.host, self.settings.port, 30
            )
        except OSError as exc:
            raise BrokerUnavailableError(self.address, str(exc)) from exc
        self._client.loop_start()
        if not await asyncio.to_thread(self._connected.wait, 10):
            self._client.loop_stop()
            raise BrokerUnavailableError(self.address, "no CONNACK within 10 s")
        if self._refused is not None:
            self._client.loop_stop()
            raise BrokerUnavailableError(self.address, f"connection refused ({self._refused})")
        self._log.debug(
            "simulated MQTT device(s) connected to %s as %s", self.address, self.settings.username
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    async def publish(self, topic: str, payload: bytes, *, attempts: int = 5) -> None:
        """Publish one message and wait until the broker acknowledged it (QoS 1).

        While the broker is away (a restart), wait for paho to reconnect and publish again;
        the broker may then hold the message twice, which QoS 1 allows. A message over the
        broker's size limit raises :class:`MessageTooLargeError` and is not sent: Mosquitto
        would drop it after a PUBACK (MQTT 3.1.1), or close the connection, after which paho
        sends it again on every reconnect (MQTT 5). A PUBACK that refuses the message (MQTT
        5, e.g. 135 "Not authorized" for another device's topic) raises
        :class:`PublishRefusedError`.
        """
        self._check_size(topic, payload)
        self._log.debug("mqtt %s %s", topic, payload[:200])
        for attempt in range(1, attempts + 1):
            if not self._connected.is_set():
                await asyncio.to_thread(self._connected.wait, 30)
            info = self._client.publish(topic, payload, qos=self.settings.qos)
            try:
                await asyncio.to_thread(info.wait_for_publish, 30)
            except RuntimeError as exc:  # "not currently connected"
                if attempt == attempts:
                    raise BrokerUnavailableError(self.address, str(exc)) from exc
                self._log.warning("mqtt: %s; publishing %s again after reconnecting", exc, topic)
                continue
            if info.is_published():
                refusal = self._refusals.pop(info.mid, None)
                if refusal is not None:
                    raise PublishRefusedError(topic, refusal)
                self.published += 1
                return
        raise BrokerUnavailableError(self.address, f"no PUBACK for {topic} within 30 s")

    def publish_nowait(self, topic: str, payload: bytes) -> paho.MQTTMessageInfo:
        """Queue one message without waiting (the load generator's fast path); a message
        over the size limit raises :class:`MessageTooLargeError` and is not queued."""
        self._check_size(topic, payload)
        info = self._client.publish(topic, payload, qos=self.settings.qos)
        self.published += 1
        return info


def broker_settings_from(settings: object, client_id: str) -> BrokerSettings:
    """Broker settings from a carepulse ``MqttSettings`` (stack env file or environment)."""
    password = getattr(settings, "mqtt_password", None)
    secret = password.get_secret_value() if password is not None else ""
    return BrokerSettings(
        host=str(getattr(settings, "mqtt_host", "127.0.0.1")),
        port=int(getattr(settings, "mqtt_port", 1883)),
        username=str(getattr(settings, "mqtt_username", "")) or None,
        password=secret or None,
        ca_file=getattr(settings, "mqtt_ca_file", None),
        client_id=client_id,
    )


@dataclass(frozen=True, slots=True)
class MqttLogins:
    """The MQTT users of one simulated station: the gateway's, and each device's and proxy's."""

    gateway_user: str
    gateway_password: str
    #: user name -> password, for every device and proxy that publishes.
    devices: Mapping[str, str]


#: add(role, names) -> name -> password; :func:`carepulse.stack.add_mqtt_users` by default.
AddUsers = Callable[[str, Sequence[str]], dict[str, str]]


def provision_mqtt_logins(plan: Plan, add: AddUsers = add_mqtt_users) -> MqttLogins:
    """Add the plan's MQTT users to the local stack's broker (or keep them) and log them in.

    Devices and the proxy get the roles the ACL gives them, the gateway a read-only user
    named after the station. Users are kept after the run, as a station keeps its
    devices' accounts; ``scripts/stack mqtt-user --remove NAME...`` takes them away.
    """
    devices: dict[str, str] = {}
    for role, names in plan.mqtt_users().items():
        devices.update(add(role, names))
    gateway = add("gateway", [plan.gateway_user])[plan.gateway_user]
    return MqttLogins(plan.gateway_user, gateway, devices)


class MqttDevices:
    """The simulated MQTT devices of a run, each publishing as the user its topic needs.

    With ``logins``, one connection per device and proxy, logged in as itself (so the
    broker's ACL applies); without, one shared connection with ``broker``'s credentials.
    """

    def __init__(
        self,
        broker: BrokerSettings,
        logins: MqttLogins | None = None,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.broker = broker
        self.logins = logins
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self._publishers: dict[str, MqttPublisher] = {}
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            if self.logins is None:
                self._publishers[""] = await stack.enter_async_context(
                    MqttPublisher(self.broker, logger=self._log)
                )
            else:
                for user, password in self.logins.devices.items():
                    login = replace(
                        self.broker,
                        username=user,
                        password=password,
                        client_id=f"{self.broker.client_id}-{user}",
                    )
                    try:
                        publisher = await stack.enter_async_context(
                            MqttPublisher(login, logger=self._log)
                        )
                    except BrokerUnavailableError as exc:
                        reason = (
                            f"{exc.reason} for the device user {user!r}, which was added to "
                            "the local stack's broker; for a broker the stack does not run, "
                            "log every device in with the shared credentials (carepulse "
                            "simulate --mqtt-login shared)"
                        )
                        raise BrokerUnavailableError(exc.address, reason) from exc
                    self._publishers[user] = publisher
            self._stack = stack.pop_all()
        how = "as the test user" if self.logins is None else "each as its own MQTT user"
        self._log.info(
            "%d simulated MQTT connection(s) to %s:%d, %s",
            len(self._publishers),
            self.broker.host,
            self.broker.port,
            how,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    @property
    def published(self) -> int:
        """Messages the broker acknowledged, over every connection."""
        return sum(p.published for p in self._publishers.values())

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish on ``topic`` as the user that owns it, and wait for the PUBACK."""
        if self.logins is None:
            await self._publishers[""].publish(topic, payload)
            return
        _role, user = topic_user(topic)
        publisher = self._publishers.get(user)
        if publisher is None:
            raise NoLoginError(user, topic)
        await publisher.publish(topic, payload)
