"""``carepulse storage init``: buckets with retention and the downsampling task, idempotently.

Everything goes through the InfluxDB v2 API (influxdb-client's async services):

* bucket ``readings`` (``CAREPULSE_INFLUX_BUCKET``): raw readings, kept
  ``readings_retention_days`` (90);
* bucket ``metrics`` (``CAREPULSE_METRICS_BUCKET``): window aggregates, the daily
  downsampled series and alert annotations, kept ``metrics_retention_days`` (730);
* task ``carepulse downsample <readings> -> <metrics> 1d``: every hour, recomputes the
  daily mean/min/max/count of every reading field for the last three local days and writes
  them as ``window`` points with ``window=1d``, ``source=task``. Because a rewritten day has
  the same series and time, late readings simply correct the day (an idempotent upsert),
  and the daily series outlives the raw readings.

Running it again changes nothing unless a setting changed: a bucket's retention is patched
to the configured value and the task's Flux is replaced when it differs. Each step is
reported as one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules
from influxdb_client.domain.patch_bucket_request import PatchBucketRequest
from influxdb_client.domain.patch_retention_rule import PatchRetentionRule
from influxdb_client.domain.post_bucket_request import PostBucketRequest
from influxdb_client.domain.task_create_request import TaskCreateRequest
from influxdb_client.domain.task_update_request import TaskUpdateRequest
from influxdb_client.service.buckets_service import BucketsService
from influxdb_client.service.organizations_service import OrganizationsService
from influxdb_client.service.tasks_service import TasksService

from storage.config import StorageSettings
from storage.errors import InfluxStopError, auth_advice, not_found_advice
from storage.points import READING, WINDOW

logger = logging.getLogger(__name__)

#: Days the downsampling task looks back on each run (late device syncs are caught up).
DOWNSAMPLE_LOOKBACK_DAYS = 3


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """A bucket and the retention it should have (0 = forever)."""

    name: str
    retention_s: int
    description: str
    #: InfluxDB's shard-group duration for new shards (0: InfluxDB's default for the
    #: retention: 1 day up to 6 months, 7 days above)
    shard_group_s: int = 0


def bucket_plans(settings: StorageSettings) -> list[BucketPlan]:
    """The buckets ``init`` makes sure of."""
    return [
        BucketPlan(
            settings.influx_bucket,
            settings.readings_retention_days * 86_400,
            "carepulse raw readings (measurement 'reading')",
            settings.readings_shard_group_days * 86_400,
        ),
        BucketPlan(
            settings.metrics_bucket,
            settings.metrics_retention_days * 86_400,
            "carepulse window aggregates and alert annotations ('window', 'alert')",
        ),
    ]


def task_name(settings: StorageSettings) -> str:
    """The downsampling task's name (unique per bucket pair)."""
    return f"carepulse downsample {settings.influx_bucket} -> {settings.metrics_bucket} 1d"


def downsample_flux(settings: StorageSettings) -> str:
    """The Flux of the daily downsampling task."""
    return f"""import "date"
import "timezone"

option location = timezone.location(name: "{settings.report_timezone}")
option task = {{name: "{task_name(settings)}", every: 1h, offset: 2m}}

data = from(bucket: "{settings.influx_bucket}")
    |> range(start: date.truncate(t: -{DOWNSAMPLE_LOOKBACK_DAYS}d, unit: 1d))
    |> filter(fn: (r) => r._measurement == "{READING}")
    |> keep(columns: ["_time", "_value", "_field", "station", "subject", "kind"])
    |> group(columns: ["station", "subject", "kind", "_field"])

daily = (tables=<-, fn, suffix) => tables
    |> aggregateWindow(every: 1d, fn: fn, createEmpty: false, timeSrc: "_start")
    |> toFloat()
    |> map(fn: (r) => ({{r with _field: r._field + suffix}}))

union(tables: [
    data |> daily(fn: mean, suffix: "_mean"),
    data |> daily(fn: min, suffix: "_min"),
    data |> daily(fn: max, suffix: "_max"),
    data |> daily(fn: count, suffix: "_count"),
])
    |> set(key: "_measurement", value: "{WINDOW}")
    |> set(key: "window", value: "1d")
    |> set(key: "source", value: "task")
    |> to(bucket: "{settings.metrics_bucket}", org: "{settings.influx_org}")
"""


def _service(cls: Any, client: InfluxDBClientAsync) -> Any:
    # influxdb-client's generated services are untyped; keep them Any in one place.
    return cls(client.api_client)


class StorageSetup:
    """Creates or corrects the buckets and the task."""

    def __init__(self, client: InfluxDBClientAsync, settings: StorageSettings) -> None:
        self._client = client
        self._settings = settings
        self._buckets = _service(BucketsService, client)
        self._orgs = _service(OrganizationsService, client)
        self._tasks = _service(TasksService, client)

    async def org_id(self) -> str:
        """The id of the configured organisation; a clear error if it does not exist."""
        org = self._settings.influx_org
        try:
            orgs = await self._orgs.get_orgs_async(org=org)
        except InfluxDBError as exc:
            raise _stop_error(exc, "", org) from exc
        for item in orgs.orgs or []:
            if item.name == org:
                return str(item.id)
        raise not_found_advice(404, "", org, f"organization {org!r} not found")

    async def find_bucket(self, name: str) -> Any | None:
        """The bucket called ``name`` in the org, or ``None``."""
        try:
            found = await self._buckets.get_buckets_async(name=name, org=self._settings.influx_org)
        except InfluxDBError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise _stop_error(exc, name, self._settings.influx_org) from exc
        for bucket in found.buckets or []:
            if bucket.name == name:
                return bucket
        return None

    async def ensure_bucket(self, plan: BucketPlan, org_id: str) -> str:
        """Create ``plan``'s bucket or correct its retention; one line saying what happened."""
        bucket = await self.find_bucket(plan.name)
        days = _days(plan.retention_s)
        if bucket is None:
            rules = (
                [
                    BucketRetentionRules(  # type: ignore[no-untyped-call]  # untyped
                        type="expire",
                        every_seconds=plan.retention_s,
                        shard_group_duration_seconds=plan.shard_group_s or None,
                    )
                ]
                if plan.retention_s or plan.shard_group_s
                else []
            )
            request = PostBucketRequest(  # type: ignore[no-untyped-call]  # untyped
                org_id=org_id, name=plan.name, description=plan.description, retention_rules=rules
            )
            created = await self._buckets.post_buckets_async(request)
            return (
                f"bucket {plan.name}: created, retention {days}{_shards(shard_group_of(created))}"
            )
        current = retention_of(bucket)
        shards = shard_group_of(bucket)
        same_shards = not plan.shard_group_s or shards == plan.shard_group_s
        if current == plan.retention_s and same_shards:
            return f"bucket {plan.name}: exists, retention {days}{_shards(shards)}"
        patch = PatchBucketRequest(  # type: ignore[no-untyped-call]  # untyped
            retention_rules=[
                PatchRetentionRule(  # type: ignore[no-untyped-call]  # untyped
                    type="expire",
                    every_seconds=plan.retention_s,
                    shard_group_duration_seconds=plan.shard_group_s or None,
                )
            ]
        )
        await self._buckets.patch_buckets_id_async(bucket.id, patch)
        changes = []
        if current != plan.retention_s:
            changes.append(f"retention changed from {_days(current)} to {days}")
        if not same_shards:
            # InfluxDB applies it to shard groups created from now on.
            changes.append(
                f"shard groups changed from {_days(shards)} to {_days(plan.shard_group_s)} "
                "(for new shards)"
            )
        return f"bucket {plan.name}: " + "; ".join(changes)

    async def find_task(self, name: str) -> Any | None:
        """The task called ``name`` in the org, or ``None``."""
        found = await self._tasks.get_tasks_async(name=name, org=self._settings.influx_org)
        for task in found.tasks or []:
            if task.name == name:
                return task
        return None

    async def ensure_task(self, org_id: str) -> str:
        """Create the downsampling task or replace its Flux when it changed."""
        name = task_name(self._settings)
        flux = downsample_flux(self._settings)
        task = await self.find_task(name)
        if task is None:
            request = TaskCreateRequest(  # type: ignore[no-untyped-call]  # untyped
                org_id=org_id,
                flux=flux,
                status="active",
                description="daily mean/min/max/count of every reading field",
            )
            await self._tasks.post_tasks_async(request)
            return f"task {name!r}: created (every 1h, last {DOWNSAMPLE_LOOKBACK_DAYS} days)"
        if task.flux == flux and task.status == "active":
            return f"task {name!r}: exists, unchanged"
        update = TaskUpdateRequest(flux=flux, status="active")  # type: ignore[no-untyped-call]  # untyped
        await self._tasks.patch_tasks_id_async(task.id, update)
        return f"task {name!r}: updated"

    async def run(self) -> list[str]:
        """Make sure of both buckets and the task; the lines say what was done."""
        org_id = await self.org_id()
        lines = [await self.ensure_bucket(plan, org_id) for plan in bucket_plans(self._settings)]
        lines.append(await self.ensure_task(org_id))
        for line in lines:
            logger.info("%s", line)
        return lines

    async def status(self) -> list[str]:
        """One line per bucket and for the task, without changing anything."""
        lines = []
        for plan in bucket_plans(self._settings):
            bucket = await self.find_bucket(plan.name)
            if bucket is None:
                lines.append(f"bucket {plan.name}: missing (run `carepulse storage init`)")
            else:
                lines.append(
                    f"bucket {plan.name}: retention {_days(retention_of(bucket))}"
                    f"{_shards(shard_group_of(bucket))}"
                )
        task = await self.find_task(task_name(self._settings))
        if task is None:
            lines.append("downsampling task: missing (run `carepulse storage init`)")
        else:
            lines.append(f"downsampling task {task.name!r}: {task.status}")
        return lines


def retention_of(bucket: Any) -> int:
    """A bucket's retention in seconds (0 = forever), from the API's bucket object."""
    for rule in bucket.retention_rules or []:
        if rule.type == "expire":
            return int(rule.every_seconds or 0)
    return 0


def shard_group_of(bucket: Any) -> int:
    """A bucket's shard-group duration in seconds (0 when the API does not say)."""
    for rule in bucket.retention_rules or []:
        if rule.shard_group_duration_seconds:
            return int(rule.shard_group_duration_seconds)
    return 0


def _shards(seconds: int) -> str:
    return f", shard groups {_days(seconds)}" if seconds else ""


def _days(seconds: int) -> str:
    if not seconds:
        return "forever"
    days = seconds / 86_400
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def _stop_error(exc: InfluxDBError, bucket: str, org: str) -> InfluxStopError | InfluxDBError:
    status = getattr(exc, "status", None)
    detail = str(getattr(exc, "message", "") or "")
    if status in (401, 403):
        return auth_advice(status, bucket, org, detail)
    if status == 404:
        return not_found_advice(status, bucket, org, detail)
    return exc
