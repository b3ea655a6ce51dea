"""What to do when a write fails, and how long to wait (pure).

A failed write is described by its HTTP status (``None`` for a connection error or a
timeout) and InfluxDB's ``Retry-After`` header, if any. :func:`decide` maps the status
to one of four outcomes; :func:`retry_delay` gives the wait before the next attempt:
exponential backoff with full jitter, never shorter than what ``Retry-After`` asks.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Final


class Decision(Enum):
    """The writer's reaction to a failed request."""

    #: transient (429, 5xx, connection refused, timeout): wait and send the same batch again
    RETRY = "retry"
    #: 401/403: the token is wrong; stop and say so
    STOP_AUTH = "stop_auth"
    #: 404: the org or bucket does not exist; stop and say so
    STOP_NOT_FOUND = "stop_not_found"
    #: other 4xx (bad line protocol, field type conflict, too large): count as failed, go on
    REJECT = "reject"


#: Statuses worth retrying: rate limited, server error, proxy/gateway trouble, overloaded.
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


def decide(status: int | None) -> Decision:
    """The outcome of a failed request with HTTP ``status`` (``None``: no response)."""
    if status is None or status in RETRY_STATUSES:
        return Decision.RETRY
    if status in (401, 403):
        return Decision.STOP_AUTH
    if status == 404:
        return Decision.STOP_NOT_FOUND
    if 400 <= status < 500:
        return Decision.REJECT
    return Decision.RETRY


def backoff_ceiling(attempt: int, base_s: float, cap_s: float) -> float:
    """The largest delay before retry number ``attempt`` (0-based): ``base * 2**attempt``."""
    if attempt < 0:
        msg = f"attempt must be >= 0, got {attempt}"
        raise ValueError(msg)
    return min(cap_s, base_s * 2.0 ** min(attempt, 64))


def retry_after_seconds(header: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date), or ``None``."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def retry_delay(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Full-jitter backoff for ``attempt``, but at least ``retry_after_s`` when given."""
    jittered = (rng or _RNG).uniform(0.0, backoff_ceiling(attempt, base_s, cap_s))
    if retry_after_s is not None:
        return max(jittered, retry_after_s)
    return jittered


_RNG = random.Random()  # noqa: S311  # jitter, not cryptography
