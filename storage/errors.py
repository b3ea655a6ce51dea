"""Errors of the storage layer (InfluxDB schema, writer, set-up, queries, reports).

Every error derives from ``StorageError``, which derives from carepulse's root. Leaves
also subclass the builtin they resemble and carry their data as attributes, so callers
never parse a message::

    CarepulseError
    └── StorageError
        ├── PointError(StorageError, ValueError)            our own value cannot become a point
        │                                                   (local fault; .field)
        ├── InfluxStopError(StorageError, RuntimeError)     InfluxDB refuses us for a reason
        │   │                                               retrying cannot fix (.status .bucket)
        │   ├── InfluxAuthError                             401/403: wrong or under-privileged token
        │   └── InfluxNotFoundError                         404: wrong org or bucket name
        ├── InfluxRejectedError(StorageError, ValueError)   400/413/422: InfluxDB refused the data
        │                                                   itself (.status .detail); the batch is
        │                                                   counted as failed, the writer goes on
        ├── WriteAttemptError(StorageError, OSError)        one write request failed (.status is
        │                                                   None without a response, .retry_after);
        │                                                   the writer decides, callers never see it
        ├── WriterClosedError(StorageError, RuntimeError)   write() after close()
        ├── ReportError(StorageError, LookupError)          nothing to report on (.subject .days)
        └── CaseStoreError(StorageError, OSError)           the alert service's case store cannot
                                                            be read for the report (.where)

``InfluxStopError`` stops the writer: the points stay in its buffer (nothing is dropped),
the next ``put()``/``flush()`` raises the same error, and the message says which setting
to fix. Transient failures (429, 503, other 5xx, connection errors, timeouts) are never
raised: the writer retries them with backoff and the caller waits (backpressure).
"""

from __future__ import annotations

from carepulse.errors import CarepulseError


class StorageError(CarepulseError):
    """Root of the storage layer's own errors."""


class PointError(StorageError, ValueError):
    """A value cannot be written as an InfluxDB point; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InfluxStopError(StorageError, RuntimeError):
    """InfluxDB refused the request for a reason retrying cannot fix.

    Attributes:
        status: the HTTP status (401, 403, 404).
        bucket: the bucket the request was for ("" for non-bucket requests).
        detail: InfluxDB's own message.
    """

    def __init__(self, message: str, *, status: int, bucket: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.bucket = bucket
        self.detail = detail


class InfluxAuthError(InfluxStopError):
    """401/403: the token is wrong, revoked, or may not write/read this bucket."""


class InfluxNotFoundError(InfluxStopError):
    """404: the organisation or bucket does not exist (or the token cannot see it)."""


class InfluxRejectedError(StorageError, ValueError):
    """InfluxDB refused the data itself (bad line protocol, field type conflict, too large)."""

    def __init__(self, message: str, *, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class WriteAttemptError(StorageError, OSError):
    """One write request failed; the writer turns it into a retry or a stop error.

    Attributes:
        status: the HTTP status, or ``None`` when no response came (refused, reset, timeout).
        retry_after: the ``Retry-After`` header as sent, if any.
        detail: InfluxDB's message or the connection error's text.
    """

    def __init__(self, detail: str, *, status: int | None, retry_after: str | None = None) -> None:
        super().__init__(f"write failed ({status or 'no response'}): {detail}")
        self.status = status
        self.retry_after = retry_after
        self.detail = detail


class WriterClosedError(StorageError, RuntimeError):
    """The writer was closed; open a new one."""


class ReportError(StorageError, LookupError):
    """There is no data to report on for ``subject`` (or the station) over ``days``."""

    def __init__(self, message: str, *, subject: str = "", days: int = 0) -> None:
        super().__init__(message)
        self.subject = subject
        self.days = days


class CaseStoreError(StorageError, OSError):
    """The alert case store (time to acknowledge) cannot be read; ``where`` says which one.

    ``where`` is the database URL without its password.
    """

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(message)
        self.where = where


def auth_advice(status: int, bucket: str, org: str, detail: str) -> InfluxAuthError:
    """The error for a 401/403, with what to fix."""
    message = (
        f"InfluxDB answered {status} ({detail or 'unauthorized'}) for bucket {bucket!r} in org "
        f"{org!r}: the token is wrong, revoked, or lacks write/read permission on that bucket. "
        "Set CAREPULSE_INFLUX_TOKEN to a token with access to it (`scripts/stack env` prints "
        "the local stack's operator token)."
    )
    return InfluxAuthError(message, status=status, bucket=bucket, detail=detail)


def not_found_advice(status: int, bucket: str, org: str, detail: str) -> InfluxNotFoundError:
    """The error for a 404, with what to fix."""
    message = (
        f"InfluxDB answered {status} ({detail or 'not found'}): org {org!r} or bucket "
        f"{bucket!r} does not exist. Check CAREPULSE_INFLUX_ORG and the bucket settings "
        "(CAREPULSE_INFLUX_BUCKET, CAREPULSE_METRICS_BUCKET), or create the buckets with "
        "`carepulse storage init`."
    )
    return InfluxNotFoundError(message, status=status, bucket=bucket, detail=detail)
