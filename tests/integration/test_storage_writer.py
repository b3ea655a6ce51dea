"""The storage writer on the stack's InfluxDB: writes, upserts, errors, an outage."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from carepulse.observation import Kind, Observation
from carepulse.settings import StackSettings
from storage.errors import InfluxAuthError, InfluxNotFoundError
from storage.points import Stats, WindowAggregate
from storage.writer import StorageWriter
from tests.storage.generator import subject
from tests.storage.support import count_points, fresh_buckets, storage_settings

pytestmark = pytest.mark.influxdb

STACK = Path(__file__).resolve().parents[2] / "scripts" / "stack"


def readings(n: int, start: datetime, station: str = "st-int") -> list[Observation]:
    return [
        Observation.create(
            station_id=station,
            subject_id=subject(i % 7),
            device_id=f"dev-{i % 7}",
            device_kind="bp_meter",
            kind="blood_pressure",
            values={"systolic_mmhg": 120 + i % 30, "diastolic_mmhg": 80.0},
            measured_at=start + timedelta(seconds=i),
            received_at=start + timedelta(seconds=i, milliseconds=300),
            source="sim",
        )
        for i in range(n)
    ]


async def test_write_then_read_back(influxdb: StackSettings, unique: str) -> None:
    """Observations written through StorageWriter come back field by field."""
    settings = storage_settings(influxdb, unique)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    async with fresh_buckets(settings):
        async with StorageWriter.connect(settings) as storage:
            await storage.write_observations(readings(1000, start))
        assert storage.readings.metrics().written == 1000
        records = await count_points(
            settings, settings.influx_bucket, 'r._field == "systolic_mmhg"'
        )
        assert len(records) == 1000
        first = min(records, key=lambda r: r.get_time())
        assert first.get_time() == start
        assert first.values["kind"] == "blood_pressure"


async def test_same_point_twice_is_one_row_and_window_updates_overwrite(
    influxdb: StackSettings, unique: str
) -> None:
    """A re-sent observation stays one row; a re-emitted window's last value wins."""
    settings = storage_settings(influxdb, unique)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    batch = readings(50, start)
    window = WindowAggregate(
        "st-int", subject(1), Kind.BLOOD_PRESSURE, "1h", start, {"systolic_mmhg": Stats.of([130])}
    )
    updated = WindowAggregate(
        "st-int",
        subject(1),
        Kind.BLOOD_PRESSURE,
        "1h",
        start,
        {"systolic_mmhg": Stats.of([130, 140])},
    )
    async with fresh_buckets(settings):
        async with StorageWriter.connect(settings) as storage:
            await storage.write_observations(batch)
            await storage.flush()
            await storage.write_observations(batch)  # re-sent after a gateway restart
            await storage.write_windows([window])
            await storage.write_windows([updated])
        rows = await count_points(settings, settings.influx_bucket, 'r._field == "systolic_mmhg"')
        assert len(rows) == 50
        means = await count_points(
            settings,
            settings.metrics_bucket,
            'r._measurement == "window" and r._field == "systolic_mmhg_mean"',
        )
        assert [r.get_value() for r in means] == [135.0]
        counts = await count_points(
            settings, settings.metrics_bucket, 'r._field == "systolic_mmhg_count"'
        )
        assert [r.get_value() for r in counts] == [2.0]


async def test_wrong_token_stops_with_advice(influxdb: StackSettings, unique: str) -> None:
    """A token InfluxDB does not know gives InfluxAuthError naming the setting to fix."""
    settings = storage_settings(influxdb, unique)
    async with fresh_buckets(settings):
        wrong = settings.model_copy(update={"influx_token": SecretStr("not-a-token")})
        with pytest.raises(InfluxAuthError, match="CAREPULSE_INFLUX_TOKEN") as caught:
            async with StorageWriter.connect(wrong) as storage:
                await storage.write_observations(readings(5, datetime.now(UTC)))
        assert caught.value.status == 401
        assert caught.value.bucket == settings.influx_bucket


async def test_missing_bucket_stops_with_advice(influxdb: StackSettings, unique: str) -> None:
    """A bucket that does not exist gives InfluxNotFoundError pointing at storage init."""
    settings = storage_settings(influxdb, unique, influx_bucket=f"no_such_bucket_{unique}")
    with pytest.raises(InfluxNotFoundError, match="carepulse storage init") as caught:
        async with StorageWriter.connect(settings) as storage:
            await storage.write_observations(readings(5, datetime.now(UTC)))
    assert caught.value.status == 404


def _stack(*args: str) -> None:
    subprocess.run([str(STACK), *args], check=True, capture_output=True, timeout=180)


async def test_outage_blocks_and_loses_nothing(influxdb: StackSettings, unique: str) -> None:
    """InfluxDB down for ~20 s: the writer retries, its caller waits, every point arrives."""
    settings = storage_settings(
        influxdb,
        unique,
        write_batch_size=500,
        write_buffer_points=2000,
        write_retry_base_s=0.2,
        write_retry_cap_s=2.0,
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    batch = readings(6000, start)
    async with fresh_buckets(settings):
        async with StorageWriter.connect(settings) as storage:
            await storage.write_observations(batch[:1000])
            await storage.flush()
            await asyncio.to_thread(_stack, "down", "influxdb")
            try:
                began = time.monotonic()
                producer = asyncio.create_task(storage.write_observations(batch[1000:]))
                await asyncio.sleep(20)
                # the buffer bound (2000) stops the producer: it cannot have finished
                assert not producer.done()
                assert storage.readings.metrics().buffer_depth <= 2000
                assert storage.readings.metrics().retries > 0
            finally:
                await asyncio.to_thread(_stack, "up", "influxdb")
            await asyncio.wait_for(producer, 120)
            await asyncio.wait_for(storage.flush(), 120)
            outage = time.monotonic() - began
        metrics = storage.readings.metrics()
        assert (metrics.written, metrics.failed, metrics.buffer_depth) == (6000, 0, 0)
        rows = await count_points(settings, settings.influx_bucket, 'r._field == "systolic_mmhg"')
        assert len(rows) == 6000
        assert outage >= 20
