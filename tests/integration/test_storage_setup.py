"""`carepulse storage init` on the stack's InfluxDB: idempotent, retention, downsampling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from influxdb_client.service.tasks_service import TasksService

from carepulse.settings import StackSettings
from storage.setup import StorageSetup, retention_of, shard_group_of, task_name
from storage.writer import StorageWriter, open_client
from tests.storage.generator import simulate_station
from tests.storage.support import count_points, delete_buckets, storage_settings

pytestmark = pytest.mark.influxdb


async def test_init_is_idempotent_and_sets_retention(influxdb: StackSettings, unique: str) -> None:
    """A second init changes nothing; a changed retention is patched; the API shows it."""
    settings = storage_settings(influxdb, unique, readings_retention_days=90)
    try:
        async with open_client(settings) as client:
            first = await StorageSetup(client, settings).run()
            second = await StorageSetup(client, settings).run()
            assert all(": created" in line for line in first)
            assert all("exists" in line for line in second)
            readings = await StorageSetup(client, settings).find_bucket(settings.influx_bucket)
            metrics = await StorageSetup(client, settings).find_bucket(settings.metrics_bucket)
            assert retention_of(readings) == 90 * 86_400
            assert retention_of(metrics) == 730 * 86_400
            assert shard_group_of(readings) == 7 * 86_400  # a fifth of the disk of 1-day shards
            assert first[0].endswith("retention 90 days, shard groups 7 days")

            daily = settings.model_copy(update={"readings_shard_group_days": 1})
            changed = await StorageSetup(client, daily).run()
            assert changed[0].endswith("shard groups changed from 7 days to 1 day (for new shards)")
            readings = await StorageSetup(client, settings).find_bucket(settings.influx_bucket)
            assert shard_group_of(readings) == 86_400
            await StorageSetup(client, settings).run()

            shorter = settings.model_copy(update={"readings_retention_days": 30})
            third = await StorageSetup(client, shorter).run()
            assert third[0].endswith("retention changed from 90 days to 30 days")
            readings = await StorageSetup(client, settings).find_bucket(settings.influx_bucket)
            assert retention_of(readings) == 30 * 86_400
            status = await StorageSetup(client, shorter).status()
            assert status[-1].endswith(": active")
    finally:
        await delete_buckets(settings)


async def test_downsampling_task_writes_daily_windows(influxdb: StackSettings, unique: str) -> None:
    """A run of the task writes one 1d window per resident, kind and local day."""
    settings = storage_settings(influxdb, unique)
    station = simulate_station(residents=3, days=3, seed=5)
    try:
        async with open_client(settings) as client:
            setup = StorageSetup(client, settings)
            await setup.run()
            async with StorageWriter.connect(settings) as storage:
                await storage.write_observations(station.observations)
            task = await setup.find_task(task_name(settings))
            assert task is not None
            tasks: Any = TasksService(client.api_client)
            run = await tasks.post_tasks_id_runs_async(task.id)
            for _ in range(60):
                state = await tasks.get_tasks_id_runs_id_async(task.id, run.id)
                if state.status in ("success", "failed", "canceled"):
                    break
                await asyncio.sleep(0.5)
            assert state.status == "success"
        windows = await count_points(
            settings,
            settings.metrics_bucket,
            'r._measurement == "window" and r.window == "1d" and r._field == "systolic_mmhg_mean"',
        )
        bp = [o for o in station.observations if o.kind == "blood_pressure"]
        days = {(o.subject_id, (o.measured_at + timedelta(hours=8)).date()) for o in bp}
        assert len(windows) == len(days)
        assert {r.values["source"] for r in windows} == {"task"}
        assert "device_kind" not in windows[0].values
        # windows start at local (UTC+8) midnight
        assert all(r.get_time().astimezone(UTC).hour == 16 for r in windows)
        assert max(r.get_time() for r in windows) <= datetime.now(UTC)
    finally:
        await delete_buckets(settings)
