"""Errors of the simulators.

Every error the simulators raise on purpose derives from ``SimulatorError``, which
derives from carepulse's root. Leaves also subclass the builtin they resemble and carry
their data as attributes::

    CarepulseError
    └── SimulatorError
        ├── AddressInUseError(SimulatorError, ValueError)      two virtual devices on one
        │                                                      address (local fault; .address)
        ├── DeviceNotRunningError(SimulatorError, RuntimeError) a virtual device was driven
        │                                                      before start() or after stop()
        │                                                      (local fault; .device)
        ├── AdvertTooLongError(SimulatorError, ValueError)     an advert does not fit the 31
        │                                                      bytes of a legacy advertising PDU
        │                                                      (local fault; .device .size)
        ├── NoTopicUserError(SimulatorError, ValueError)       no MQTT user may publish on a
        │                                                      topic (local fault; .topic)
        └── NoLoginError(SimulatorError, LookupError)          a message's topic belongs to a
                                                               user the run has no login for
                                                               (local fault; .user .topic)

All five are the caller's fault (a scenario or a test wired the virtual world wrongly).
What a *virtual device* does wrong on purpose (faults) never raises here: it reaches the
gateway as the real failure would, through bleak (``BleakError``, ``TimeoutError``) or
as bytes that ``edge.decoders`` rejects with ``DecodeError``.
"""

from __future__ import annotations

from carepulse.errors import CarepulseError


class SimulatorError(CarepulseError):
    """Root of the simulators' own errors."""


class AddressInUseError(SimulatorError, ValueError):
    """Another virtual device already uses ``address`` on this air; pick another one."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(
            f"{address} is already used by a virtual device on this air; "
            "pass another address or let the air allocate one"
        )


class DeviceNotRunningError(SimulatorError, RuntimeError):
    """``device`` was driven while not running; ``await device.start()`` first."""

    def __init__(self, device: str) -> None:
        self.device = device
        super().__init__(f"virtual device {device!r} is not running; await its start() first")


class AdvertTooLongError(SimulatorError, ValueError):
    """The advert of ``device`` has ``size`` bytes, more than a legacy PDU carries (31)."""

    def __init__(self, device: str, size: int) -> None:
        self.device = device
        self.size = size
        super().__init__(
            f"the advert of {device!r} has {size} bytes but a legacy advert carries 31; "
            "drop the local name or shorten it"
        )


class NoTopicUserError(SimulatorError, ValueError):
    """No MQTT user may publish on ``topic`` under the broker's ACL (docs/security.md)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(
            f"no MQTT user may publish on {topic!r}: a device topic is "
            "carepulse/devices/<id>/<measurement>, a proxy's <base>/<proxy>/BTtoMQTT/<address>"
        )


class NoLoginError(SimulatorError, LookupError):
    """``topic`` belongs to MQTT ``user``, and the run has no login for it."""

    def __init__(self, user: str, topic: str) -> None:
        self.user = user
        self.topic = topic
        super().__init__(
            f"no MQTT login for {user!r}, who owns {topic!r}; provision the plan's users "
            "with provision_mqtt_logins(plan)"
        )
