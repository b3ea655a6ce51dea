"""Backoff delays double from the base up to the cap, with full jitter."""

from __future__ import annotations

import random

import pytest

from edge.backoff import Backoff


def test_ceiling_doubles_then_caps() -> None:
    """Attempts 0, 1, 2, ... allow base, 2 base, 4 base, ... up to the cap."""
    backoff = Backoff(base_s=0.5, cap_s=4.0)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    """A device failing for days does not overflow the arithmetic."""
    assert Backoff(base_s=1.0, cap_s=30.0).ceiling(10_000) == 30.0


def test_delay_is_within_zero_and_the_ceiling() -> None:
    """Jittered delays spread over [0, ceiling]."""
    rng = random.Random(7)
    backoff = Backoff(base_s=1.0, cap_s=8.0)
    delays = [backoff.delay(3, rng) for _ in range(1000)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 1.0
    assert max(delays) > 7.0


def test_negative_attempt_is_refused() -> None:
    """Attempts count from zero."""
    with pytest.raises(ValueError, match="attempt"):
        Backoff().ceiling(-1)
