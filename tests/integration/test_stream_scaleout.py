"""Two real workers share the readings partitions; windows stay exact across the rebalance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carepulse.settings import StackSettings
from stream.scaleout import Run, backlog, rebalance

pytestmark = [pytest.mark.kafka, pytest.mark.influxdb]


async def test_a_second_worker_joins_mid_stream_and_every_window_is_exact(
    kafka: StackSettings, influxdb: StackSettings, unique: str, tmp_path: Path
) -> None:
    """Worker B joins while readings flow: both hold partitions, no reading is lost or doubled."""
    residents, per_resident = 40, 20
    hour = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    observations = backlog(residents, per_resident, hour)
    run = Run(f"scale{unique}", kafka, tmp_path)
    result = await rebalance(run, residents, per_resident, observations, hour)
    assert result["windows_wrong"] == {}
    assert result["windows_exact"] == residents
