"""Helpers for the storage integration tests: a unique pair of buckets per test, cleaned up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from influxdb_client.service.buckets_service import BucketsService
from influxdb_client.service.tasks_service import TasksService

from carepulse.settings import StackSettings
from storage.config import StorageSettings
from storage.setup import StorageSetup, task_name
from storage.writer import open_client


def storage_settings(stack: StackSettings, unique: str, **overrides: Any) -> StorageSettings:
    """Settings for the stack's InfluxDB with buckets named after ``unique``."""
    values: dict[str, Any] = {
        "influx_url": stack.influx_url,
        "influx_org": stack.influx_org,
        "influx_token": stack.influx_token,
        "influx_bucket": f"test_readings_{unique}",
        "metrics_bucket": f"test_metrics_{unique}",
        "write_flush_interval_s": 0.2,
    }
    values.update(overrides)
    return StorageSettings(**values)


@asynccontextmanager
async def fresh_buckets(settings: StorageSettings) -> AsyncIterator[StorageSettings]:
    """Run ``storage init`` for ``settings``; delete its buckets and task afterwards."""
    async with open_client(settings) as client:
        setup = StorageSetup(client, settings)
        await setup.run()
    try:
        yield settings
    finally:
        await delete_buckets(settings)


async def delete_buckets(settings: StorageSettings) -> None:
    """Delete the buckets and the downsampling task of ``settings`` (if present)."""
    async with open_client(settings) as client:
        setup = StorageSetup(client, settings)
        buckets: Any = BucketsService(client.api_client)
        tasks: Any = TasksService(client.api_client)
        for name in (settings.influx_bucket, settings.metrics_bucket):
            bucket = await setup.find_bucket(name)
            if bucket is not None:
                await buckets.delete_buckets_id_async(bucket.id)
        task = await setup.find_task(task_name(settings))
        if task is not None:
            await tasks.delete_tasks_id_async(task.id)


async def count_points(settings: StorageSettings, bucket: str, flux_filter: str) -> list[Any]:
    """Records of ``bucket`` (all time) matching ``flux_filter``."""
    async with open_client(settings) as client:
        tables = await client.query_api().query(
            f'from(bucket: "{bucket}") |> range(start: 0) |> filter(fn: (r) => {flux_filter})'
        )
    return [record for table in tables for record in table.records]
