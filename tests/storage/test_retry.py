"""Retry decisions and delays are pure functions of the failure."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from storage.retry import Decision, backoff_ceiling, decide, retry_after_seconds, retry_delay


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        (None, Decision.RETRY),
        (429, Decision.RETRY),
        (500, Decision.RETRY),
        (503, Decision.RETRY),
        (504, Decision.RETRY),
        (401, Decision.STOP_AUTH),
        (403, Decision.STOP_AUTH),
        (404, Decision.STOP_NOT_FOUND),
        (400, Decision.REJECT),
        (413, Decision.REJECT),
        (422, Decision.REJECT),
    ],
)
def test_decision_by_status(status: int | None, decision: Decision) -> None:
    """Transient failures are retried, token and name errors stop, bad data is rejected."""
    assert decide(status) is decision


def test_backoff_doubles_up_to_the_cap() -> None:
    """The ceiling is base * 2**attempt, capped."""
    assert [backoff_ceiling(n, 0.5, 4.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_ceiling(10_000, 0.5, 30.0) == 30.0
    with pytest.raises(ValueError, match="attempt"):
        backoff_ceiling(-1, 0.5, 1.0)


def test_jitter_stays_within_the_ceiling_and_honours_retry_after() -> None:
    """Full jitter is uniform in [0, ceiling]; Retry-After is a lower bound."""
    rng = random.Random(3)
    delays = [retry_delay(3, base_s=0.5, cap_s=30, rng=rng) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100
    assert retry_delay(0, base_s=0.5, cap_s=30, retry_after_s=7.0, rng=rng) == 7.0


def test_retry_after_in_seconds_or_http_date() -> None:
    """Retry-After is delta-seconds or an HTTP date; anything else is ignored."""
    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds("Fri, 27 Nov 2026 12:00:10 GMT", now) == 10.0
    assert retry_after_seconds("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
