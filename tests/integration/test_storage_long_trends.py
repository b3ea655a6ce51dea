"""Trends past the raw retention read the daily series, on the stack's InfluxDB.

Raw readings expire after ``readings_retention_days`` (90); the downsampling task keeps
a daily series in the metrics bucket (730 days). A resident report over more than 90 days
must take its means and summaries from that series, and its dots from what raw data is
left.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from influxdb_client.service.tasks_service import TasksService

from carepulse.observation import Kind
from carepulse.settings import StackSettings
from storage.errors import ReportError
from storage.points import Stats, WindowAggregate
from storage.queries import StorageQueries
from storage.report import resident_report, station_report
from storage.setup import StorageSetup, task_name
from storage.writer import StorageWriter, open_client
from tests.storage.generator import ZONE, simulate_station, subject
from tests.storage.support import fresh_buckets, storage_settings

pytestmark = pytest.mark.influxdb

#: Days of the long report; the old daily series covers days 100 to 199 before the end.
LONG = 200


def _old_days(station_id: str, subject: str, end: datetime) -> list[WindowAggregate]:
    """What the task wrote for a resident long ago: one BP day each, local midnight."""
    today = end.astimezone(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    for back in range(100, LONG):
        systolic = 150.0 - (LONG - back) * 0.1  # falls over the period
        days.append(
            WindowAggregate(
                station_id,
                subject,
                Kind.BLOOD_PRESSURE,
                "1d",
                (today - timedelta(days=back)).astimezone(UTC),
                {
                    "systolic_mmhg": Stats(2, systolic, systolic - 4, systolic + 4),
                    "diastolic_mmhg": Stats(2, 90.0, 88.0, 92.0),
                    "pulse_rate_bpm": Stats(2, 70.0, 68.0, 72.0),
                },
                source="task",
            )
        )
    return days


async def _run_task(client: Any, setup: StorageSetup, name: str) -> None:
    task = await setup.find_task(name)
    assert task is not None
    tasks: Any = TasksService(client.api_client)
    run = await tasks.post_tasks_id_runs_async(task.id)
    for _ in range(120):
        state = await tasks.get_tasks_id_runs_id_async(task.id, run.id)
        if state.status in ("success", "failed", "canceled"):
            break
        await asyncio.sleep(0.5)
    assert state.status == "success"


async def test_long_trends_read_the_daily_series(influxdb: StackSettings, unique: str) -> None:
    """Past 90 days: dots from the raw bucket, means and summaries from the daily series."""
    settings = storage_settings(influxdb, unique)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    station = simulate_station(residents=2, days=10, end=end, seed=21)
    person = station.residents[0].subject_id
    gone = subject(99)  # measured only long ago: no raw readings left
    async with fresh_buckets(settings):
        async with StorageWriter.connect(settings) as storage:
            await storage.write_observations(station.observations)
            await storage.write_windows(_old_days(station.station_id, person, end))
            await storage.write_windows(_old_days(station.station_id, gone, end))
        async with open_client(settings) as client:
            ran = datetime.now(UTC)
            await _run_task(client, StorageSetup(client, settings), task_name(settings))
            queries = StorageQueries(client, settings)
            assert queries.raw_covers(90)
            assert not queries.raw_covers(91)

            raw, means = await queries.resident_trend(person, Kind.BLOOD_PRESSURE, LONG, stop=end)
            mine = [
                o
                for o in station.observations
                if o.subject_id == person and o.kind == Kind.BLOOD_PRESSURE
            ]
            assert len([s for s in raw if s.field == "systolic_mmhg"]) == len(mine)
            systolic_means = [s for s in means if s.field == "systolic_mmhg"]
            old = [s for s in systolic_means if s.time < end - timedelta(days=90)]
            recent = [s for s in systolic_means if s.time > end - timedelta(days=4)]
            assert len(old) == LONG - 100
            assert recent  # the task's days from the raw readings
            assert all(s.time.astimezone(ZONE).hour == 0 for s in systolic_means)

            # Within the retention the raw readings are the only source.
            _, short_means = await queries.resident_trend(person, Kind.BLOOD_PRESSURE, 30, stop=end)
            assert all(s.time > end - timedelta(days=31) for s in short_means)

            # The task looks back to local midnight three days before its run.
            since = (ran - timedelta(days=3)).astimezone(ZONE)
            since = since.replace(hour=0, minute=0, second=0, microsecond=0)
            daily = await queries.resident_daily(person, Kind.BLOOD_PRESSURE, LONG, stop=end)
            assert {d.field for d in daily} == {"systolic_mmhg", "diastolic_mmhg", "pulse_rate_bpm"}
            recent_readings = sum(1 for o in mine if o.measured_at >= since)
            assert sum(d.count for d in daily if d.field == "systolic_mmhg") == (
                2 * (LONG - 100) + recent_readings
            )

            # A resident whose readings have all expired is found in the daily series only.
            assert await queries.resident_kinds(gone, 30, stop=end) == []
            assert await queries.resident_kinds(gone, LONG, stop=end) == [Kind.BLOOD_PRESSURE]
            page = await resident_report(queries, gone, LONG, stop=end, lang="en")
            assert "the dots show the last 90 days of readings" in page
            assert "Your average blood pressure over the last 200 days was" in page
            assert "(200 readings)" in page
            person_page = await resident_report(queries, person, LONG, stop=end, lang="en")
            assert person_page.count("data:image/png;base64,") >= 1
            with pytest.raises(ReportError, match="use --days 90 or fewer"):
                await station_report(queries, station.station_id, LONG, stop=end)
