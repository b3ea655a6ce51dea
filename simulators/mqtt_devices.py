"""MQTT devices: Wi-Fi scales and BP meters, and a BLE-to-MQTT proxy, on paho-mqtt.

They publish exactly what :mod:`simulators.scenario` planned, in the gateway's formats
(``edge.mqtt_formats``):

* a Wi-Fi device publishes ``carepulse/devices/<id>/<measurement>`` with ``{"hex": ...}``
  (the characteristic value) or, for scales, the decoded fields
  (``{"weight_kg": 70.2, "timestamp": "..."}``);
* the proxy publishes Theengs-style adverts ``<base>/<proxy>/BTtoMQTT/<address>`` with
  ``{"id", "servicedatauuid", "servicedata"}`` (Xiaomi scales) or
  ``{"id", "manufacturerdata"}`` (the Xiaomi band broadcast).

:class:`MqttPublisher` is one authenticated paho connection (QoS 1, optional TLS) shared
by every simulated MQTT device of a run -- a station's Wi-Fi devices each have their own
connection, but the broker cannot tell the difference in what arrives. paho runs its own
network thread; :meth:`MqttPublisher.publish` hands the wait for the broker's PUBACK to a
worker thread so the asyncio loop is never blocked (STYLE 10).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from simulators.errors import SimulatorError

logger = logging.getLogger(__name__)


class BrokerUnavailableError(SimulatorError, ConnectionError):
    """The MQTT broker at ``address`` refused or did not answer (``reason`` says which)."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(
            f"MQTT broker {address}: {reason}; check that Mosquitto runs (`carepulse stack "
            "status`) and that CAREPULSE_MQTT_USERNAME/PASSWORD are the stack's"
        )


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how the simulated devices connect."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    client_id: str = "carepulse-sim-devices"
    qos: int = 1


class MqttPublisher:
    """One connected paho client for the simulated MQTT devices (``async with``)."""

    def __init__(self, settings: BrokerSettings, *, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self._log = logger or globals()["logger"]
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv311,
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
        self.published = 0

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            self._refused = str(reason)
        self._connected.set()

    def _on_disconnect(self, *_args: object) -> None:
        self._connected.clear()  # paho's network thread reconnects on its own

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
        self._log.info("simulated MQTT devices connected to %s", self.address)
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
        the broker may then hold the message twice, which QoS 1 allows.
        """
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
                self.published += 1
                return
        raise BrokerUnavailableError(self.address, f"no PUBACK for {topic} within 30 s")

    def publish_nowait(self, topic: str, payload: bytes) -> paho.MQTTMessageInfo:
        """Queue one message without waiting (the load generator's fast path)."""
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
