"""The root of every error carepulse raises on purpose.

Each package has its own root that subclasses ``CarepulseError`` (``EdgeError``,
``StreamError``, ...). Leaves also subclass the builtin they resemble, so callers
that only know Python's exceptions still catch them, and carry their data as
attributes so nobody has to parse a message::

    CarepulseError
    ├── ConfigError(CarepulseError, ValueError)          bad settings; names the setting
    ├── ObservationError(CarepulseError, ValueError)     an observation breaks the wire contract
    │                                                    (.field names the field at fault)
    └── StackError(CarepulseError, RuntimeError)         the local stack could not be reached or run
"""

from __future__ import annotations


class CarepulseError(Exception):
    """Root of carepulse's own errors."""


class ConfigError(CarepulseError, ValueError):
    """A setting is missing or invalid; ``setting`` names it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class ObservationError(CarepulseError, ValueError):
    """An observation does not meet the wire contract; ``field`` names the field at fault.

    Raised for input from elsewhere (a Kafka message, a device), so the message says what
    was expected; ``field`` is a dotted path such as ``values.systolic_mmhg``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class StackError(CarepulseError, RuntimeError):
    """The local stack script failed or is missing."""
