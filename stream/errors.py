"""Errors the stream worker raises on purpose.

Every error subclasses ``StreamError``, which subclasses carepulse's root. Leaves also
subclass the builtin they resemble and carry their data as attributes, so callers
never parse a message::

    CarepulseError
    └── StreamError
        ├── RuleConfigError(StreamError, ValueError)   a rules file or a per-resident override
        │                                               is invalid (.rule names the rule or table,
        │                                               .key the key at fault)
        └── AssessInputError(StreamError, ValueError)  input to ``carepulse assess`` / the rules
                                                        is invalid (.key names the input key)

Both leaves are *Remote* in the sense of STYLE rule 16: the fault is in a file or a
message someone else wrote, so the message says what was expected.
"""

from __future__ import annotations

from carepulse.errors import CarepulseError


class StreamError(CarepulseError):
    """Root of the stream worker's own errors."""


class RuleConfigError(StreamError, ValueError):
    """A rules file or override is invalid.

    Attributes:
        rule: the rule id (``news2.high``) or table path (``tables.bmi``) at fault.
        key: the key inside it (``fire_k``), or ``""`` when the whole entry is at fault.
        reason: what was expected, without the location.
    """

    def __init__(self, rule: str, key: str, reason: str) -> None:
        super().__init__(f"{rule}: {key}: {reason}" if key else f"{rule}: {reason}")
        self.rule = rule
        self.key = key
        self.reason = reason


class AssessInputError(StreamError, ValueError):
    """An observation handed to the rules is invalid.

    Attributes:
        key: the input key at fault (``spo2_percent``, ``weights[2][0]``), or ``(input)``
            when the whole input is at fault (not JSON, not an object).
        reason: what was expected, without the key.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
