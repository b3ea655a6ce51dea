"""The MQTT source: QoS 1 subscriptions whose messages are acknowledged only once stored.

paho-mqtt runs its network loop in its own thread; messages reach asyncio only through
``loop.call_soon_threadsafe`` onto a queue. The client uses manual acknowledgements and a
persistent session (``clean_session=False`` with a stable client id), so:

* a message is acknowledged (PUBACK) only after the handler returned, i.e. after the
  reading is committed to the outbox — a gateway killed in between gets it again;
* while the gateway is down, Mosquitto queues its QoS 1 messages (the stack's broker is
  configured with a large queue and persistence) and delivers them on reconnect.

paho reconnects by itself with a capped backoff; the source logs once when the broker is
lost and once when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttMessage:
    """One received message (converted from paho's type at the boundary)."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool


#: Stores one message; returns normally once it is safe to acknowledge.
MessageHandler = Callable[[MqttMessage], Awaitable[None]]


def message_from_paho(message: paho.MQTTMessage) -> MqttMessage:
    """Copy what the gateway needs out of paho's mutable message object."""
    return MqttMessage(
        topic=message.topic,
        payload=bytes(message.payload),
        qos=message.qos,
        mid=message.mid,
        retain=bool(message.retain),
    )


@dataclass(frozen=True, slots=True)
class MqttConnection:
    """Where and how to connect."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    tls: bool = False
    client_id: str = "carepulse-gateway"
    keepalive_s: int = 30


class MqttSource:
    """Subscribes to ``subscriptions`` and feeds every message to ``handle``."""

    def __init__(
        self,
        connection: MqttConnection,
        subscriptions: list[str],
        handle: MessageHandler,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.connection = connection
        self.subscriptions = subscriptions
        self.handle = handle
        self.connected = asyncio.Event()
        self.received = 0
        self.failed = 0
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self._lost = False

    async def run(self) -> None:
        """Receive until cancelled."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[MqttMessage] = asyncio.Queue()
        client = self._client(loop, queue)
        client.connect_async(
            self.connection.host, self.connection.port, keepalive=self.connection.keepalive_s
        )
        client.loop_start()
        try:
            while True:
                message = await queue.get()
                self.received += 1
                try:
                    await self.handle(message)
                except Exception:
                    # Not acknowledged: the broker delivers it again after a reconnect.
                    self.failed += 1
                    self._log.exception("mqtt: could not store message on %s", message.topic)
                    continue
                if message.qos > 0:
                    client.ack(message.mid, message.qos)
        finally:
            client.disconnect()
            client.loop_stop()

    def _client(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[MqttMessage]
    ) -> paho.Client:
        conn = self.connection
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=conn.client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
            manual_ack=True,
        )
        if conn.username:
            client.username_pw_set(conn.username, conn.password)
        if conn.tls:
            client.tls_set(
                ca_certs=str(conn.ca_file) if conn.ca_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)

        def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                self._log.error("mqtt: broker refused the connection: %s", reason)
                return
            c.subscribe([(topic, 1) for topic in self.subscriptions])
            if self._lost:
                self._log.info("mqtt: reconnected to %s:%d", conn.host, conn.port)
            self._lost = False
            loop.call_soon_threadsafe(self.connected.set)

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            loop.call_soon_threadsafe(self.connected.clear)
            if not self._lost:
                self._log.warning("mqtt: lost the broker (%s); reconnecting", reason)
            self._lost = True

        def on_message(_c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, message_from_paho(message))

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client
