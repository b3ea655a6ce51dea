"""Errors of the edge gateway.

Every error the gateway raises on purpose derives from ``EdgeError``, which derives
from carepulse's root. Leaves also subclass the builtin they resemble and carry their
data as attributes, so nobody has to parse a message::

    CarepulseError
    └── EdgeError
        ├── DecodeError(EdgeError, ValueError)   a device sent bytes we cannot decode
        │                                        (remote fault; .characteristic .field .payload)
        ├── EncodeError(EdgeError, ValueError)   our value does not fit its wire format
        │                                        (local fault; .characteristic .field)
        ├── OutboxFullError(EdgeError, OSError)  the durable outbox reached its size bound
        │                                        (Kafka unreachable for long; .depth .max_bytes)
        ├── RegistryError(EdgeError, ValueError) the device registry file is invalid
        │                                        (local configuration; .key names the entry)
        └── MqttFormatError(EdgeError, ValueError) an MQTT message is not a measurement
                                                 (remote fault; .topic .reason)

``DecodeError`` is the device's fault: log the payload and drop or dead-letter the frame.
``EncodeError`` is ours (a simulator or control-point writer built an impossible value).
"""

from __future__ import annotations

from carepulse.errors import CarepulseError


class EdgeError(CarepulseError):
    """Root of the edge gateway's own errors."""


class DecodeError(EdgeError, ValueError):
    """A payload from a device is truncated or holds an invalid field.

    ``characteristic`` is the snake_case name of what was being decoded,
    ``field`` the field at fault and ``payload`` the bytes as received.
    """

    def __init__(self, characteristic: str, field: str, payload: bytes, reason: str) -> None:
        self.characteristic = characteristic
        self.field = field
        self.payload = bytes(payload)
        self.reason = reason
        super().__init__(
            f"{characteristic}: field {field!r}: {reason} (payload {self.payload.hex() or 'empty'})"
        )


class EncodeError(EdgeError, ValueError):
    """A value cannot be put on the wire in the characteristic's format.

    ``characteristic`` and ``field`` name the value; the message gives the allowed range.
    """

    def __init__(self, characteristic: str, field: str, reason: str) -> None:
        self.characteristic = characteristic
        self.field = field
        self.reason = reason
        super().__init__(f"{characteristic}: cannot encode {field!r}: {reason}")


class OutboxFullError(EdgeError, OSError):
    """The outbox reached ``max_bytes``; nothing of the refused batch was stored.

    The caller keeps the reading where it came from (the device's record store, an
    unacknowledged MQTT message) and tries again once the uplink has drained some.
    """

    def __init__(self, message: str, *, depth: int, max_bytes: int) -> None:
        super().__init__(message)
        self.depth = depth
        self.max_bytes = max_bytes


class RegistryError(EdgeError, ValueError):
    """The device registry is invalid; ``key`` names the entry (``devices[2].transport``)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"registry {key}: {reason}")
        self.key = key
        self.reason = reason


class MqttFormatError(EdgeError, ValueError):
    """An MQTT message is not in a format the gateway reads; ``reason`` says why."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"MQTT {topic}: {reason}")
        self.topic = topic
        self.reason = reason
