"""``carepulse worker`` refuses bad settings with a line naming the variable."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stream.worker_cli import worker


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        (
            "CAREPULSE_WATCHDOG_TIME_SCALE",
            "0.5",
            "CAREPULSE_WATCHDOG_TIME_SCALE: Input should be greater than or equal to 1",
        ),
        (
            "CAREPULSE_WATCHDOG_INTERVAL_S",
            "nan",
            "CAREPULSE_WATCHDOG_INTERVAL_S: Input should be a finite number",
        ),
        (
            "CAREPULSE_DEVICE_OFFLINE_HOURS_BY_KIND",
            '{"scale": -1}',
            "CAREPULSE_DEVICE_OFFLINE_HOURS_BY_KIND[scale]: Input should be greater than 0",
        ),
        (
            "CAREPULSE_DEVICE_OFFLINE_HOURS_BY_KIND",
            "scale=72",
            "a map setting takes JSON",
        ),
    ],
)
def test_bad_watchdog_settings_stop_the_worker_with_their_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: str
) -> None:
    """A bad value exits with status 2 and one line naming the variable, no traceback."""
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(worker, [])
    assert result.exit_code == 2
    assert shown in result.output
    assert "Traceback" not in result.output
