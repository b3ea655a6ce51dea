"""Errors the alert service raises on purpose.

The tree (each leaf also subclasses the builtin it resembles; data lives in attributes,
never only in the message)::

    CarepulseError
    └── AlertsError                                   root of the alert service
        ├── InvalidTransition(AlertsError, ValueError)    the lifecycle forbids this event now
        │                                                 (.state, .event)
        ├── SilenceRefused(AlertsError, ValueError)       a silence breaks a rule (.reason)
        ├── NotFound(AlertsError, LookupError)            no such case/resident/user (.what, .key)
        ├── Forbidden(AlertsError, PermissionError)       role or station does not allow it
        ├── Conflict(AlertsError, ValueError)             unique name taken, stale version (.what)
        ├── ImportProblem(AlertsError, ValueError)        a residents file has a bad row (.line)
        ├── AppendOnlyError(AlertsError, RuntimeError)    history or audit row changed
        └── RemoteAlertError(AlertsError, ValueError)     a Kafka message is not a valid alert
                                                          (.partition, .offset; cause: wire error)
"""

from __future__ import annotations

from carepulse.errors import CarepulseError


class AlertsError(CarepulseError):
    """Root of the alert service's own errors."""


class InvalidTransition(AlertsError, ValueError):
    """The case lifecycle does not allow ``event`` in ``state`` (our caller's mistake)."""

    def __init__(self, state: str, event: str, hint: str = "") -> None:
        msg = f"a case that is {state!r} cannot take {event!r}"
        if hint:
            msg = f"{msg}: {hint}"
        super().__init__(msg)
        self.state = state
        self.event = event


class SilenceRefused(AlertsError, ValueError):
    """A silence cannot be created as asked; ``reason`` is a short machine-readable code."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotFound(AlertsError, LookupError):
    """No ``what`` with ``key`` exists (or the user may not know that it does)."""

    def __init__(self, *, what: str, key: object) -> None:
        super().__init__(f"no {what} {key!r}")
        self.what = what
        self.key = key


class Forbidden(AlertsError, PermissionError):
    """The signed-in user's role or station does not allow this action."""


class Conflict(AlertsError, ValueError):
    """The request clashes with stored state (a taken username, a case changed meanwhile)."""

    def __init__(self, message: str, *, what: str) -> None:
        super().__init__(message)
        self.what = what


class ImportProblem(AlertsError, ValueError):
    """A residents file has a bad record; ``line`` is 1-based (0 when the file is unreadable)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class AppendOnlyError(AlertsError, RuntimeError):
    """Case history and the audit log are append-only; ``table`` names the one touched."""

    def __init__(self, table: str) -> None:
        super().__init__(f"{table} is append-only: add a new row instead of changing or deleting")
        self.table = table


class RemoteAlertError(AlertsError, ValueError):
    """A message on the alerts topic is not a valid alert (the producer's fault)."""

    def __init__(self, partition: int, offset: int, message: str) -> None:
        super().__init__(f"alerts message at partition {partition} offset {offset}: {message}")
        self.partition = partition
        self.offset = offset
