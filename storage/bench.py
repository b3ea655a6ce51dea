"""Benchmark and sizing on the real InfluxDB: ``python -m storage.bench [--json]``.

1. Line cost: ``influxdb_client.Point`` against :class:`storage.points.LinePoint` for the
   same reading, and gzip level 1 against 9 for a 5000-line body, in the same run.
2. Throughput: N points through one :class:`~storage.writer.BucketWriter` into a fresh
   bucket (pre-built lines), and the same from ``Observation`` objects (``to_point`` included).
3. Sizing (``--sizing``): a resident-year of readings for R residents at a realistic
   cadence into a fresh bucket with no retention; the bench then waits until InfluxDB has
   snapshotted its write-ahead log to TSM files (``storage-cache-snapshot-write-cold-duration``,
   10 minutes by default) and reads the bucket's ``storage_tsm_files_disk_bytes`` and
   ``storage_wal_size`` gauges from ``/metrics``: bytes per reading and per resident-year.

Every bucket it creates is deleted at the end. Settings come from the environment / the
local stack's env file, like every carepulse command.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import statistics
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.service.buckets_service import BucketsService

from carepulse.observation import Kind, Observation
from carepulse.pseudonym import pseudonymise
from carepulse.settings import state_dir
from storage.config import StorageSettings
from storage.points import (
    LinePoint,
    Stats,
    WindowAggregate,
    reading_line,
    to_point,
    window_to_point,
)
from storage.setup import BucketPlan, StorageSetup, shard_group_of
from storage.writer import BucketWriter, InfluxTransport, bucket_writer, open_client

_SECRET = b"bench-station-secret-not-real-000"


def _subject(n: int) -> str:
    return pseudonymise(f"bench-{n}", _SECRET)


def line_costs(count: int = 20_000) -> dict[str, float]:
    """Microseconds per line: influxdb-client ``Point``, ``LinePoint`` and ``reading_line``.

    The first two build the same blood-pressure line from its parts; the third pair
    starts from ``Observation`` objects, as the writer does: ``to_point(o).to_line()``
    against ``reading_line(o)``.
    """
    subject = _subject(1)
    at = 1_795_764_662_123
    started = time.perf_counter()
    for i in range(count):
        Point("reading").tag(  # type: ignore[no-untyped-call]  # untyped
            "device_kind", "bp_meter"
        ).tag("kind", "blood_pressure").tag("source", "ble").tag("station", "st-001").tag(
            "subject", subject
        ).field("diastolic_mmhg", 88.0).field("systolic_mmhg", 130.0 + i % 10).time(
            at + i, WritePrecision.MS
        ).to_line_protocol()
    point_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for i in range(count):
        LinePoint(
            "reading",
            (
                ("device_kind", "bp_meter"),
                ("kind", "blood_pressure"),
                ("source", "ble"),
                ("station", "st-001"),
                ("subject", subject),
            ),
            (("diastolic_mmhg", 88.0), ("systolic_mmhg", 130.0 + i % 10)),
            at + i,
        ).to_line()
    ours_us = (time.perf_counter() - started) / count * 1e6
    observations = _observations(count, datetime.now(UTC), random.Random(3))  # noqa: S311  # test data
    started = time.perf_counter()
    for observation in observations:
        to_point(observation).to_line()  # type: ignore[union-attr]  # every one has numbers
    to_point_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for observation in observations:
        reading_line(observation)
    direct_us = (time.perf_counter() - started) / count * 1e6
    return {
        "influxdb_client_point_us": round(point_us, 2),
        "linepoint_us": round(ours_us, 2),
        "ratio": round(point_us / ours_us, 1),
        "observation_to_point_to_line_us": round(to_point_us, 2),
        "observation_reading_line_us": round(direct_us, 2),
        "observation_ratio": round(to_point_us / direct_us, 1),
    }


def gzip_costs(lines: list[str]) -> dict[str, float]:
    """Microseconds per line and compressed size for gzip levels 1 and 9 (5000 lines)."""
    body = "\n".join(lines[:5000]).encode()
    out: dict[str, float] = {"body_bytes": len(body)}
    for level in (1, 9):
        started = time.perf_counter()
        for _ in range(10):
            packed = gzip.compress(body, level)
        out[f"level{level}_us_per_line"] = round(
            (time.perf_counter() - started) / 10 / 5000 * 1e6, 3
        )
        out[f"level{level}_bytes"] = len(packed)
    return out


def _observations(count: int, end: datetime, rng: random.Random) -> list[Observation]:
    return [
        Observation.create(
            station_id=f"st-{i % 10:03d}",
            subject_id=_subject(i % 1000),
            device_id=f"bp-{i % 1000}",
            device_kind="bp_meter",
            kind="blood_pressure",
            values={
                "systolic_mmhg": float(round(rng.gauss(135, 12))),
                "diastolic_mmhg": float(round(rng.gauss(85, 8))),
                "pulse_rate_bpm": float(round(rng.gauss(72, 8))),
            },
            measured_at=end - timedelta(milliseconds=count - i),
            received_at=end,
            source="sim",
        )
        for i in range(count)
    ]


async def _fresh_bucket(
    settings: StorageSettings, name: str, retention_s: int, shard_group_s: int = 0
) -> None:
    async with open_client(settings) as client:
        setup = StorageSetup(client, settings)
        await setup.ensure_bucket(
            BucketPlan(name, retention_s, "carepulse bench", shard_group_s), await setup.org_id()
        )


async def _bucket(settings: StorageSettings, name: str) -> Any:
    async with open_client(settings) as client:
        bucket = await StorageSetup(client, settings).find_bucket(name)
        if bucket is None:
            msg = f"bucket {name} vanished"
            raise RuntimeError(msg)
        return bucket


async def _delete_bucket(settings: StorageSettings, name: str) -> None:
    async with open_client(settings) as client:
        bucket = await StorageSetup(client, settings).find_bucket(name)
        if bucket is not None:
            service: Any = BucketsService(client.api_client)  # type: ignore[no-untyped-call]  # untyped
            await service.delete_buckets_id_async(bucket.id)


@dataclass(frozen=True, slots=True)
class Trial:
    """One way of writing: where lines come from and how the writer is set."""

    name: str
    max_in_flight: int = 1
    gzip_level: int = 1
    batch_size: int = 5000
    #: None: pre-built lines; else how lines are built from observations while writing
    builder: Callable[[Observation], str | None] | None = None


def _point_line(observation: Observation) -> str | None:
    point = to_point(observation)
    return None if point is None else point.to_line()


#: What the throughput section compares, in one run (``before`` is the writer as it was).
TRIALS = (
    Trial("lines, 1 in flight, gzip 1, batch 5000"),
    Trial("lines, 2 in flight, gzip 1, batch 5000", max_in_flight=2),
    Trial("lines, 3 in flight, gzip 1, batch 5000", max_in_flight=3),
    Trial("lines, 4 in flight, gzip 1, batch 5000", max_in_flight=4),
    Trial("lines, 1 in flight, gzip 0, batch 5000", gzip_level=0),
    Trial("lines, 2 in flight, gzip 0, batch 5000", max_in_flight=2, gzip_level=0),
    Trial("lines, 2 in flight, gzip 1, batch 10000", max_in_flight=2, batch_size=10_000),
    Trial("before: observations, to_point, 1 in flight", builder=_point_line),
    Trial("observations, reading_line, 1 in flight", builder=reading_line),
    Trial("after: observations, reading_line, 2 in flight", max_in_flight=2, builder=reading_line),
)


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of process ``pid`` so far (0 when unknown or not on this machine)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_pid(settings: StorageSettings) -> int | None:
    """influxd's pid when it is the local stack's (its pid file), else ``None``."""
    if not settings.influx_url.startswith(("http://127.0.0.1", "http://localhost")):
        return None
    try:
        pid = int((state_dir() / "influxdb" / "influxd.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _cpu_seconds(pid) else None


async def _run_trial(
    settings: StorageSettings,
    bucket: str,
    trial: Trial,
    lines: list[str],
    observations: list[Observation],
) -> float:
    """Seconds to write everything through one writer set as ``trial`` says."""
    async with open_client(settings) as client:
        writer = BucketWriter(
            bucket,
            InfluxTransport(client, settings.influx_org),
            org=settings.influx_org,
            batch_size=trial.batch_size,
            max_buffer=max(settings.write_buffer_points, trial.batch_size * 2),
            max_in_flight=trial.max_in_flight,
            gzip_level=trial.gzip_level,
        )
        expected = len(lines) if trial.builder is None else len(observations)
        started = time.perf_counter()
        if trial.builder is None:
            for begin in range(0, len(lines), trial.batch_size):
                await writer.put(lines[begin : begin + trial.batch_size])
        else:
            build = trial.builder
            # As StorageWriter.write_observations does: build a chunk, queue it; sending
            # goes on in the background meanwhile.
            for begin in range(0, len(observations), 1000):
                chunk = [build(o) for o in observations[begin : begin + 1000]]
                await writer.put([line for line in chunk if line is not None])
        await writer.flush()
        elapsed = time.perf_counter() - started
        await writer.aclose()
        metrics = writer.metrics()
        if metrics.written != expected:
            msg = f"wrote {metrics.written} of {expected} ({metrics})"
            raise RuntimeError(msg)
    return elapsed


async def throughput(
    settings: StorageSettings, points: int, repeats: int = 3, trials: Sequence[Trial] = TRIALS
) -> dict[str, Any]:
    """Points per second through one writer for each trial, interleaved ``repeats`` times.

    Every trial writes into a fresh bucket (no overwrites), and the trials take turns, so
    a busy neighbour on the machine slows them alike; the figures are medians.
    """
    rng = random.Random(1)  # noqa: S311  # test data, not cryptography
    end = datetime.now(UTC).replace(microsecond=0)
    observations = _observations(points, end, rng)
    lines = [line for line in map(reading_line, observations) if line is not None]
    server = _server_pid(settings)
    rates: dict[str, list[float]] = {t.name: [] for t in trials}
    client_cpu: dict[str, list[float]] = {t.name: [] for t in trials}
    server_cpu: dict[str, list[float]] = {t.name: [] for t in trials}
    for _ in range(repeats):
        for trial in trials:
            bucket = f"bench_{uuid.uuid4().hex[:8]}"
            await _fresh_bucket(settings, bucket, 86_400 * 7)
            try:
                cpu0, server0 = time.process_time(), _cpu_seconds(server)
                elapsed = await _run_trial(settings, bucket, trial, lines, observations)
                cpu1, server1 = time.process_time(), _cpu_seconds(server)
            finally:
                await _delete_bucket(settings, bucket)
            rates[trial.name].append(points / elapsed)
            client_cpu[trial.name].append((cpu1 - cpu0) / points * 1e6)
            server_cpu[trial.name].append((server1 - server0) / points * 1e6)
    out: dict[str, Any] = {
        "points": points,
        "fields_per_point": 3,
        "repeats": repeats,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "server_cpu_measured": server is not None,
        "trials": {
            name: {
                "points_per_s": round(statistics.median(values)),
                "runs": [round(v) for v in values],
                "client_cpu_us_per_point": round(statistics.median(client_cpu[name]), 2),
                "server_cpu_us_per_point": round(statistics.median(server_cpu[name]), 2)
                if server is not None
                else None,
            }
            for name, values in rates.items()
        },
        "gzip": gzip_costs(lines),
    }
    names = [t.name for t in trials]
    before = next((n for n in names if n.startswith("before")), None)
    after = next((n for n in names if n.startswith("after")), None)
    if before and after:
        out["after_over_before"] = round(
            out["trials"][after]["points_per_s"] / out["trials"][before]["points_per_s"], 2
        )
    return out


#: A resident's day: (kind, device kind, readings per day, fields with mean and spread).
_CADENCE: list[tuple[str, str, float, dict[str, tuple[float, float]]]] = [
    (
        "blood_pressure",
        "bp_meter",
        1.3,
        {"systolic_mmhg": (135, 12), "diastolic_mmhg": (85, 8), "pulse_rate_bpm": (72, 7)},
    ),
    ("weight", "scale", 0.33, {"weight_kg": (66, 0.4), "bmi": (24.5, 0.15)}),
    ("heart_rate", "band", 2.4, {"heart_rate_bpm": (74, 6)}),
    ("steps", "band", 1.0, {"steps_count": (6000, 1800)}),
    ("glucose", "glucose_meter", 0.25, {"glucose_mmol_l": (7.0, 1.0)}),
]


def resident_readings(
    residents: int, end: datetime, rng: random.Random, days: int = 365
) -> list[Observation]:
    """``days`` days of readings of ``residents`` at the cadence above, oldest day first."""
    observations: list[Observation] = []
    for n in range(residents):
        subject = _subject(n)
        for day in range(days):
            base = end - timedelta(days=days - day)
            for kind, device_kind, per_day, fields in _CADENCE:
                count = int(per_day) + (1 if rng.random() < per_day % 1 else 0)
                for _ in range(count):
                    at = base + timedelta(seconds=rng.randrange(86_400))
                    values = {
                        name: round(rng.gauss(mean, spread), 1 if mean < 100 else 0)
                        for name, (mean, spread) in fields.items()
                    }
                    observations.append(
                        Observation.create(
                            station_id="st-size",
                            subject_id=subject,
                            device_id=f"{device_kind}-{n}",
                            device_kind=device_kind,
                            kind=kind,
                            values=values,
                            measured_at=at,
                            received_at=at,
                            source="ble",
                        )
                    )
    return observations


#: The stream worker's tumbling windows (stream/metrics.py: 1 min, 1 h, 1 day).
_STREAM_WINDOWS = (("1m", 60), ("1h", 3600), ("1d", 86_400))


def aggregate_lines(observations: Sequence[Observation], zone: str) -> list[str]:
    """The ``window`` points the pipeline keeps for these readings in the metrics bucket.

    As the stream worker writes them (``stream/sink_points.py``): per resident, kind and
    window (1 min, 1 h, 1 day), ``<value>_mean/_min/_max/_count`` plus ``_std`` and
    ``_last``, at the window start; and as the downsampling task writes them: per local
    day, mean/min/max/count with ``source=task``. (The worker's local-day summary, a few
    numbers per resident and day, and alert annotations are left out: they are few.)
    """
    local = ZoneInfo(zone)
    groups: dict[tuple[str, str, str, str, datetime], list[Observation]] = defaultdict(list)
    for o in observations:
        epoch = int(o.measured_at.timestamp())
        for label, seconds in _STREAM_WINDOWS:
            start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
            groups[(o.subject_id, o.kind.value, label, "stream", start)].append(o)
        day = o.measured_at.astimezone(local).replace(hour=0, minute=0, second=0, microsecond=0)
        groups[(o.subject_id, o.kind.value, "1d", "task", day.astimezone(UTC))].append(o)
    lines = []
    for (subject, kind, label, source, start), members in groups.items():
        members.sort(key=lambda o: o.measured_at)
        stats: dict[str, Stats] = {}
        extra: dict[str, float] = {}
        for name in members[0].values:
            series = [float(o.values[name]) for o in members]  # type: ignore[arg-type]  # numbers
            stats[name] = Stats.of(series)
            if source == "stream":
                extra[f"{name}_std"] = statistics.pstdev(series)
                extra[f"{name}_last"] = series[-1]
        aggregate = WindowAggregate(
            members[0].station_id, subject, Kind(kind), label, start, stats, extra, source
        )
        lines.append(window_to_point(aggregate).to_line())
    return lines


def _gauges(settings: StorageSettings, bucket_id: str) -> dict[str, Any]:
    """One bucket's storage gauges summed over its shards ({} while InfluxDB is away).

    ``shards`` counts them; ``paths`` holds their data folders (to measure the disk when
    InfluxDB runs on this machine).
    """
    url = f"{settings.influx_url.rstrip('/')}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310  # configured URL
            text = reply.read().decode()
    except OSError:
        return {}
    totals: dict[str, Any] = {"paths": set()}
    names = (
        "storage_tsm_files_disk_bytes|storage_wal_size|storage_cache_inuse_bytes|"
        "storage_tsm_files_total|storage_shard_disk_size"
    )
    pattern = re.compile(rf"^({names})\{{([^}}]*)\}} (\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match and f'bucket="{bucket_id}"' in match.group(2):
            name = match.group(1)
            totals[name] = totals.get(name, 0.0) + float(match.group(3))
            if name == "storage_shard_disk_size":
                totals["shards"] = totals.get("shards", 0) + 1
                path = re.search(r'path="([^"]*)"', match.group(2))
                if path:
                    totals["paths"].add(path.group(1))
    return totals


def _disk_bytes(folder: Path) -> dict[str, int]:
    """Bytes allocated on disk under a bucket's folder (like ``du``), by what they hold:
    ``tsm`` (the data), ``index`` (each shard's TSI index) and ``series`` (the bucket's
    series file)."""
    parts = {"tsm": 0, "index": 0, "series": 0}
    for path in folder.rglob("*"):
        if path.is_file():
            relative = path.relative_to(folder).parts
            part = "series" if relative[0] == "_series" else "tsm"
            if part == "tsm" and "index" in relative:
                part = "index"
            parts[part] += path.stat().st_blocks * 512
    return parts


def _bucket_disk(gauges: dict[str, Any]) -> dict[str, int] | None:
    """Everything the bucket holds on this machine's disk: TSM files, TSI index, series file.

    From the shards' data folders named in the gauges (``.../data/<bucket>/autogen/<shard>``):
    the bucket folder is two levels up. ``None`` when InfluxDB runs elsewhere.
    """
    paths = [Path(p) for p in gauges.get("paths", ())]
    if not paths or not paths[0].exists():
        return None
    return _disk_bytes(paths[0].parent.parent)


def _snapshotted(gauges: dict[str, Any]) -> bool:
    tsm = float(gauges.get("storage_tsm_files_disk_bytes", 0))
    return tsm > 0 and float(gauges.get("storage_cache_inuse_bytes", 1)) == 0


def _figures(gauges: dict[str, Any], count: int) -> dict[str, Any]:
    tsm = gauges.get("storage_tsm_files_disk_bytes", 0.0)
    parts = _bucket_disk(gauges)
    disk = sum(parts.values()) if parts else None
    return {
        "shards": gauges.get("shards", 0),
        "tsm_files": int(gauges.get("storage_tsm_files_total", 0)),
        "tsm_bytes": int(tsm),
        "disk_bytes": disk,
        "disk_parts": parts,
        "tsm_bytes_per_point": round(tsm / count, 2) if tsm else None,
        "disk_bytes_per_point": round(disk / count, 2) if disk else None,
    }


async def _write(settings: StorageSettings, bucket: str, lines: list[str]) -> float:
    async with open_client(settings) as client:
        writer = bucket_writer(settings, bucket, InfluxTransport(client, settings.influx_org))
        started = time.perf_counter()
        await writer.put(lines)
        await writer.flush()
        elapsed = time.perf_counter() - started
        await writer.aclose()
        if writer.metrics().written != len(lines):
            msg = f"wrote {writer.metrics().written} of {len(lines)} ({writer.metrics()})"
            raise RuntimeError(msg)
    return elapsed


async def sizing(
    settings: StorageSettings,
    residents: int,
    wait_s: float,
    days: int = 85,
    retention_days: int | None = None,
    settle_s: float = 0.0,
    station: int = 500,
    shard_group_days: int | None = None,
) -> dict[str, Any]:
    """Bytes on disk per reading, per resident-year and for a station of ``station``, measured.

    Writes ``days`` days of ``residents``' readings into a raw bucket made as ``storage
    init`` makes the readings bucket (``retention_days``, default the configured 90, so
    InfluxDB picks the same shard-group duration), and their window aggregates into a
    bucket made like the metrics bucket (``metrics_retention_days``). Then waits until
    InfluxDB has snapshotted both to TSM files (``storage-cache-snapshot-write-cold-duration``,
    10 minutes by default), and ``settle_s`` more for compactions, and reads the buckets'
    gauges and, when InfluxDB runs on this machine, their folders on disk.
    """
    rng = random.Random(2)  # noqa: S311  # test data, not cryptography
    retention = settings.readings_retention_days if retention_days is None else retention_days
    tag = uuid.uuid4().hex[:8]
    raw_bucket, agg_bucket = f"bench_size_raw_{tag}", f"bench_size_agg_{tag}"
    end = datetime.now(UTC).replace(microsecond=0)
    observations = resident_readings(residents, end, rng, days)
    raw_lines = [line for line in map(reading_line, observations) if line is not None]
    agg_lines = aggregate_lines(observations, settings.report_timezone)
    readings, aggregates = len(raw_lines), len(agg_lines)
    shard_group = (
        settings.readings_shard_group_days if shard_group_days is None else shard_group_days
    )
    await _fresh_bucket(settings, raw_bucket, retention * 86_400, shard_group * 86_400)
    await _fresh_bucket(settings, agg_bucket, settings.metrics_retention_days * 86_400)
    try:
        await _write(settings, raw_bucket, raw_lines)
        await _write(settings, agg_bucket, agg_lines)
        raw_info, agg_info = (
            await _bucket(settings, raw_bucket),
            await _bucket(settings, agg_bucket),
        )
        started = time.monotonic()
        raw, agg = _gauges(settings, raw_info.id), _gauges(settings, agg_info.id)
        while time.monotonic() - started < wait_s and not (_snapshotted(raw) and _snapshotted(agg)):
            await asyncio.sleep(10)
            raw, agg = _gauges(settings, raw_info.id), _gauges(settings, agg_info.id)
        waited = time.monotonic() - started
        snapshotted = _snapshotted(raw) and _snapshotted(agg)
        snapshot = {"raw": _figures(raw, readings), "aggregates": _figures(agg, aggregates)}
        if settle_s:
            await asyncio.sleep(settle_s)
            raw, agg = _gauges(settings, raw_info.id), _gauges(settings, agg_info.id)
        settled = {"raw": _figures(raw, readings), "aggregates": _figures(agg, aggregates)}
    finally:
        await _delete_bucket(settings, raw_bucket)
        await _delete_bucket(settings, agg_bucket)
    per_year = readings / residents * 365 / days
    agg_per_year = aggregates / residents * 365 / days
    out: dict[str, Any] = {
        "residents": residents,
        "days": days,
        "raw_retention_days": retention,
        "raw_shard_group_s": shard_group_of(raw_info),
        "aggregates_retention_days": settings.metrics_retention_days,
        "aggregates_shard_group_s": shard_group_of(agg_info),
        "readings": readings,
        "readings_per_resident_year": round(per_year),
        "line_protocol_bytes_per_reading": round(sum(map(len, raw_lines)) / readings + 1, 1),
        "aggregate_points": aggregates,
        "aggregate_points_per_resident_year": round(agg_per_year),
        "snapshotted": snapshotted,
        "waited_s": round(waited),
        "settle_s": settle_s,
        "after_snapshot": snapshot,
        "after_settle": settled,
    }
    # The station estimate from what was on disk at the end (the disk when known, else TSM).
    basis = "disk_bytes_per_point" if settled["raw"]["disk_bytes"] else "tsm_bytes_per_point"
    raw_per, agg_per = settled["raw"][basis], settled["aggregates"][basis]
    if snapshotted and raw_per and agg_per:
        raw_years = (retention or 365) / 365
        agg_years = (settings.metrics_retention_days or 365) / 365
        out["basis"] = basis
        out["raw_bytes_per_resident_year"] = round(raw_per * per_year)
        out["aggregate_bytes_per_resident_year"] = round(agg_per * agg_per_year)
        raw_kept = raw_per * per_year * raw_years * station
        agg_kept = agg_per * agg_per_year * agg_years * station
        out["station"] = {
            "residents": station,
            "raw_kept_mb": round(raw_kept / 1e6, 1),
            "aggregates_per_year_mb": round(agg_per * agg_per_year * station / 1e6, 1),
            "aggregates_kept_mb": round(agg_kept / 1e6, 1),
            "total_kept_mb": round((raw_kept + agg_kept) / 1e6, 1),
        }
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the command line asked for."""
    settings = StorageSettings.load()
    result: dict[str, Any] = {}
    if not args.sizing_only:
        result["line_cost"] = line_costs()
        result["throughput"] = await throughput(settings, args.points, args.repeats)
    if args.sizing or args.sizing_only:
        result["sizing"] = await sizing(
            settings,
            args.residents,
            args.wait,
            args.days,
            args.retention_days,
            args.settle,
            args.station,
            args.shard_group_days,
        )
    return result


def main(argv: list[str] | None = None) -> None:
    """Parse options, run, print."""
    parser = argparse.ArgumentParser(
        prog="python -m storage.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--points", type=int, default=200_000, help="points per trial (200000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the trials (3)")
    parser.add_argument("--sizing", action="store_true", help="also measure bytes on disk")
    parser.add_argument("--sizing-only", action="store_true", help="only measure bytes on disk")
    parser.add_argument("--residents", type=int, default=50, help="residents for sizing (50)")
    parser.add_argument("--days", type=int, default=85, help="days of data for sizing (85)")
    parser.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="raw bucket retention for sizing (default: CAREPULSE_READINGS_RETENTION_DAYS, 90)",
    )
    parser.add_argument("--station", type=int, default=500, help="residents of the estimate")
    parser.add_argument(
        "--shard-group-days",
        type=int,
        default=None,
        help="shard-group length of the raw sizing bucket (default: "
        "CAREPULSE_READINGS_SHARD_GROUP_DAYS, 7; 0: InfluxDB's default, 1 day)",
    )
    parser.add_argument("--wait", type=float, default=1800, help="seconds to wait for the snapshot")
    parser.add_argument(
        "--settle", type=float, default=0, help="seconds more for compactions after it (0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=None if args.json else 2))  # noqa: T201  # the output


if __name__ == "__main__":
    main()
