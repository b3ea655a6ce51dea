"""An MQTT message the gateway fails on is dead-lettered and acknowledged, not left to return.

Left unacknowledged, such a message would come back after every reconnect and hold one of
the broker's in-flight slots for the gateway's client. The failure is injected through the
real seam: an ``Ingest`` whose ``fields`` raises, as a bug in the mapping would.
"""

from __future__ import annotations

import json
from pathlib import Path

from carepulse.topics import Topics
from edge.config import GatewaySettings
from edge.gateway import open_gateway
from edge.ingest import Ingest, Outcome
from edge.mqtt import MqttMessage
from edge.registry import load_registry

SECRET = "a-station-secret-of-32-bytes!!!!"
REGISTRY = load_registry(
    '[station]\nid = "st-001"\n\n[[devices]]\nid = "wifi-scale-1"\nkind = "scale"\n'
    'transport = "mqtt"\nresident = "R0042"\n'
)


class BrokenIngest(Ingest):
    """Fails on every decoded-field message, as a bug would."""

    def fields(self, *_args: object, **_kwargs: object) -> Outcome:
        msg = "a bug in the mapping"
        raise RuntimeError(msg)


async def test_a_failure_while_ingesting_becomes_a_dead_letter(tmp_path: Path) -> None:
    """The message goes to readings.rejected with the reason and is counted."""
    settings = GatewaySettings.load(station_secret=SECRET, gateway_state_dir=tmp_path)
    gateway = open_gateway(settings, REGISTRY)
    gateway.ingest = BrokenIngest(REGISTRY, SECRET.encode(), Topics.with_prefix(""))
    payload = b'{"weight_kg": 70.5}'
    topic = "carepulse/devices/wifi-scale-1/weight_measurement"
    await gateway.handle_mqtt(MqttMessage(topic, payload, qos=1, mid=7, retain=False))
    [entry] = gateway.outbox.peek()
    assert entry.message.topic == "readings.rejected"
    letter = json.loads(entry.message.value)
    assert letter["reason"] == "the gateway failed on this message (RuntimeError); see its log"
    assert (letter["device_id"], letter["raw_hex"]) == (topic, payload.hex())
    assert gateway.ingest.counters["rejected:gateway_error"] == 1
    gateway.outbox.close()
    gateway.held.close()
