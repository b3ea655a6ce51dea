"""What arrives over MQTT, and how the gateway reads it (pure).

Two kinds of publisher are understood:

* **Wi-Fi devices and anything speaking carepulse's own format**: topic
  ``carepulse/devices/<device_id>/<measurement>``, where ``<measurement>`` is a name of
  ``carepulse decode`` (``weight_measurement``, ``blood_pressure_measurement``, ...). The
  payload is a JSON object, either ``{"hex": "<the characteristic value>"}`` (decoded by
  the same decoders as BLE) or the decoded fields themselves (``{"weight_kg": 70.2,
  "timestamp": "2026-11-27T08:00:00"}``, the names and units of ``carepulse decode``).
* **BLE-to-MQTT proxies** (Theengs Gateway, OpenMQTTGateway with advert data published):
  topic ``<base>/<gateway>/BTtoMQTT/<address without colons>`` with a JSON advert
  ``{"id": "AA:BB:...", "servicedatauuid": "0x181d", "servicedata": "<hex>",
  "manufacturerdata": "<hex>", ...}``. Xiaomi scale service data (0x181D, 0x181B) and the
  Xiaomi band broadcast (manufacturer 0x0157) are decoded as if heard directly.

Anything else — bad JSON, a topic of neither shape, an advert with nothing we decode, an
oversized message — raises :class:`~edge.errors.MqttFormatError` with the reason; the
gateway dead-letters it with the raw bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from edge.decoders.base import JsonDict
from edge.decoders.xiaomi import XIAOMI_COMPANY_ID
from edge.errors import MqttFormatError
from edge.readings import measurement_names

#: Topic prefix of carepulse's own device format.
DEVICE_PREFIX: Final = "carepulse/devices/"
#: Larger messages are refused before parsing (a health reading is a few hundred bytes).
MAX_PAYLOAD_BYTES: Final = 64 * 1024

_SERVICE_DATA: Final = {"181d": "mi_scale", "181b": "mi_body_scale"}
_XIAOMI_PREFIX: Final = XIAOMI_COMPANY_ID.to_bytes(2, "little").hex()


@dataclass(frozen=True, slots=True)
class MqttPayload:
    """A measurement from MQTT: raw bytes to decode, or fields already decoded."""

    device_id: str
    name: str
    raw: bytes
    fields: JsonDict | None = None


def subscriptions(proxy_base: str | None = "+") -> list[str]:
    """The topic filters the gateway subscribes to (proxy adverts unless disabled)."""
    filters = [f"{DEVICE_PREFIX}+/+"]
    if proxy_base is not None:
        filters.append(f"{proxy_base}/+/BTtoMQTT/+")
    return filters


def parse(topic: str, payload: bytes) -> MqttPayload:
    """Read one MQTT message; refuse it with a reason when it is not a measurement."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        _bad(topic, f"message of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    data = _json_object(topic, payload)
    if topic.startswith(DEVICE_PREFIX):
        return _device_message(topic, data, payload)
    parts = topic.split("/")
    if len(parts) >= 3 and parts[-2] == "BTtoMQTT":
        return _proxy_advert(topic, data)
    _bad(topic, "topic is neither carepulse/devices/<id>/<measurement> nor a BTtoMQTT advert")


def _device_message(topic: str, data: dict[str, Any], payload: bytes) -> MqttPayload:
    parts = topic[len(DEVICE_PREFIX) :].split("/")
    if len(parts) != 2 or not all(parts):
        _bad(topic, "expected carepulse/devices/<device_id>/<measurement>")
    device_id, name = parts
    if name not in measurement_names():
        _bad(
            topic, f"unknown measurement {name!r}; one of {', '.join(sorted(measurement_names()))}"
        )
    if "hex" in data:
        if len(data) != 1 or not isinstance(data["hex"], str):
            _bad(topic, 'a raw payload is {"hex": "<characteristic value>"} and nothing else')
        return MqttPayload(device_id, name, _hex(topic, data["hex"], "hex"))
    return MqttPayload(device_id, name, payload, fields=data)


def _proxy_advert(topic: str, data: dict[str, Any]) -> MqttPayload:
    device_id = data.get("id")
    if not isinstance(device_id, str) or not device_id:
        _bad(topic, "advert has no 'id' (the device address)")
    uuid = str(data.get("servicedatauuid", "")).lower().removeprefix("0x")
    if uuid in _SERVICE_DATA and isinstance(data.get("servicedata"), str):
        return MqttPayload(
            device_id, _SERVICE_DATA[uuid], _hex(topic, data["servicedata"], "servicedata")
        )
    manufacturer = data.get("manufacturerdata")
    if isinstance(manufacturer, str) and manufacturer.lower().startswith(_XIAOMI_PREFIX):
        return MqttPayload(
            device_id, "mi_band_heart_rate", _hex(topic, manufacturer, "manufacturerdata")
        )
    _bad(topic, "advert carries no service or manufacturer data carepulse decodes")


def _json_object(topic: str, payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _bad(topic, f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        _bad(topic, f"expected a JSON object, got {type(data).__name__}")
    return data


def _hex(topic: str, text: str, key: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        _bad(topic, f"{key} is not hex")


def _bad(topic: str, reason: str) -> NoReturn:
    raise MqttFormatError(topic, reason)
