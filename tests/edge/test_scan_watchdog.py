"""The BLE scanner watchdog's decision: restart only when adverts are expected and absent."""

from __future__ import annotations

import pytest

from edge.scan_watchdog import ScanWatchdog, adverts_expected

LIMIT = 60.0


@pytest.mark.parametrize(
    ("connected", "expected"),
    [
        ([True, True, True], False),
        ([True, False, True], True),
        ([False], True),
        ([], False),
    ],
)
def test_adverts_are_expected_while_a_gatt_device_is_not_connected(
    connected: list[bool], expected: bool
) -> None:
    """A disconnected GATT device advertises to be found; connected ones and none do not."""
    assert adverts_expected(connected) is expected


def test_with_every_device_connected_the_scanner_is_never_restarted() -> None:
    """Hours of silence while nothing is expected: never due."""
    watchdog = ScanWatchdog(LIMIT)
    watchdog.started(0.0)
    assert not any(watchdog.due(float(t), expected=False) for t in range(0, 6 * 3600, 5))


def test_silence_while_adverts_are_expected_is_due_at_the_limit() -> None:
    """A device not connected and nothing heard since the start: due after the limit."""
    watchdog = ScanWatchdog(LIMIT)
    watchdog.started(100.0)
    assert not watchdog.due(100.0, expected=True)
    assert not watchdog.due(100.0 + LIMIT - 0.1, expected=True)
    assert watchdog.due(100.0 + LIMIT, expected=True)


def test_an_advert_puts_the_restart_off() -> None:
    """Each advert starts the quiet time again."""
    watchdog = ScanWatchdog(LIMIT)
    watchdog.started(0.0)
    assert not watchdog.due(0.0, expected=True)
    watchdog.heard(50.0)
    assert not watchdog.due(100.0, expected=True)
    assert watchdog.due(110.0, expected=True)


def test_expectation_counts_from_the_first_check_that_sees_it() -> None:
    """The first check that sees a device not connected starts its quiet time."""
    watchdog = ScanWatchdog(LIMIT)
    watchdog.started(0.0)
    assert not watchdog.due(30.0, expected=True)
    assert not watchdog.due(30.0 + LIMIT - 1, expected=True)
    assert watchdog.due(30.0 + LIMIT, expected=True)


def test_a_device_dropping_after_a_long_quiet_gets_the_full_limit() -> None:
    """After an hour of everyone connected (no advert), a disconnect is not a stalled scanner
    at once: the quiet time counts from when adverts became expected."""
    watchdog = ScanWatchdog(LIMIT)
    watchdog.started(0.0)
    assert not watchdog.due(3600.0, expected=False)
    assert not watchdog.due(3605.0, expected=True)
    assert not watchdog.due(3605.0 + LIMIT - 1, expected=True)
    assert watchdog.due(3605.0 + LIMIT, expected=True)


def test_reconnecting_everyone_clears_the_expectation() -> None:
    """Expected, then everyone connects, then a drop again: the clock starts anew."""
    watchdog = ScanWatchdog(LIMIT)
    watchdog.started(0.0)
    assert not watchdog.due(10.0, expected=True)
    assert not watchdog.due(40.0, expected=False)
    assert not watchdog.due(100.0, expected=True)
    assert not watchdog.due(150.0, expected=True)
    assert watchdog.due(160.0, expected=True)


def test_a_restarted_scanner_gets_the_full_limit_again() -> None:
    """After a restart at the limit, the next one is due a full limit later."""
    watchdog = ScanWatchdog(LIMIT)
    watchdog.started(0.0)
    assert not watchdog.due(0.0, expected=True)
    assert watchdog.due(LIMIT, expected=True)
    watchdog.started(LIMIT + 1)
    assert not watchdog.due(2 * LIMIT, expected=True)
    assert watchdog.due(2 * LIMIT + 1, expected=True)


@pytest.mark.parametrize("limit", [0.0, -1.0, float("nan")])
def test_a_limit_that_is_not_positive_is_refused(limit: float) -> None:
    """A zero, negative or NaN limit raises ValueError naming the value."""
    with pytest.raises(ValueError, match="must be > 0 s"):
        ScanWatchdog(limit)
