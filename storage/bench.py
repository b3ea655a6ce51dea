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
import random
import re
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.service.buckets_service import BucketsService

from carepulse.observation import Observation
from carepulse.pseudonym import pseudonymise
from storage.config import StorageSettings
from storage.points import LinePoint, to_point
from storage.setup import BucketPlan, StorageSetup
from storage.writer import BucketWriter, InfluxTransport, open_client

_SECRET = b"bench-station-secret-not-real-000"


def _subject(n: int) -> str:
    return pseudonymise(f"bench-{n}", _SECRET)


def line_costs(count: int = 20_000) -> dict[str, float]:
    """Microseconds per line: influxdb-client ``Point`` against ``LinePoint``."""
    subject = _subject(1)
    at = 1_795_764_662_123
    started = time.perf_counter()
    for i in range(count):
        Point("reading").tag(  # type: ignore[no-untyped-call]  # untyped"device_kind", "bp_meter").tag("kind", "blood_pressure").tag(
            "source", "ble"
        ).tag("station", "st-001").tag("subject", subject).field("diastolic_mmhg", 88.0).field(
            "systolic_mmhg", 130.0 + i % 10
        ).time(at + i, WritePrecision.MS).to_line_protocol()
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
    return {
        "influxdb_client_point_us": round(point_us, 2),
        "linepoint_us": round(ours_us, 2),
        "ratio": round(point_us / ours_us, 1),
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


async def _fresh_bucket(settings: StorageSettings, name: str, retention_s: int) -> None:
    async with open_client(settings) as client:
        setup = StorageSetup(client, settings)
        await setup.ensure_bucket(
            BucketPlan(name, retention_s, "carepulse bench"), await setup.org_id()
        )


async def _bucket_id(settings: StorageSettings, name: str) -> str:
    async with open_client(settings) as client:
        bucket = await StorageSetup(client, settings).find_bucket(name)
        if bucket is None:
            msg = f"bucket {name} vanished"
            raise RuntimeError(msg)
        return str(bucket.id)


async def _delete_bucket(settings: StorageSettings, name: str) -> None:
    async with open_client(settings) as client:
        bucket = await StorageSetup(client, settings).find_bucket(name)
        if bucket is not None:
            service: Any = BucketsService(client.api_client)  # type: ignore[no-untyped-call]  # untyped
            await service.delete_buckets_id_async(bucket.id)


async def _write(settings: StorageSettings, bucket: str, lines: list[str]) -> float:
    async with open_client(settings) as client:
        writer = BucketWriter(
            bucket,
            InfluxTransport(client, settings.influx_org),
            org=settings.influx_org,
            batch_size=settings.write_batch_size,
            max_buffer=max(settings.write_buffer_points, settings.write_batch_size),
            gzip_level=settings.write_gzip_level,
        )
        started = time.perf_counter()
        for begin in range(0, len(lines), settings.write_batch_size):
            await writer.put(lines[begin : begin + settings.write_batch_size])
        await writer.flush()
        elapsed = time.perf_counter() - started
        await writer.aclose()
        metrics = writer.metrics()
        if metrics.written != len(lines):
            msg = f"wrote {metrics.written} of {len(lines)} ({metrics})"
            raise RuntimeError(msg)
    return elapsed


async def throughput(settings: StorageSettings, points: int) -> dict[str, Any]:
    """Points per second through one writer, from lines and from observations."""
    rng = random.Random(1)  # noqa: S311  # test data, not cryptography
    bucket = f"bench_{uuid.uuid4().hex[:8]}"
    end = datetime.now(UTC).replace(microsecond=0)
    observations = _observations(points, end, rng)
    prebuilt = [p.to_line() for p in map(to_point, observations) if p is not None]
    await _fresh_bucket(settings, bucket, 86_400 * 7)
    try:
        lines_s = await _write(settings, bucket, prebuilt)
        started = time.perf_counter()
        built = [p.to_line() for p in map(to_point, observations) if p is not None]
        build_s = time.perf_counter() - started
        rewrite_s = await _write(settings, bucket, built)
    finally:
        await _delete_bucket(settings, bucket)
    return {
        "points": points,
        "fields_per_point": 3,
        "batch_size": settings.write_batch_size,
        "gzip_level": settings.write_gzip_level,
        "lines_points_per_s": round(points / lines_s),
        "observations_points_per_s": round(points / (build_s + rewrite_s)),
        "gzip": gzip_costs(prebuilt),
    }


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


def resident_year(
    residents: int, end: datetime, rng: random.Random, days: int = 365
) -> tuple[list[str], int]:
    """Lines of ``days`` days of readings for ``residents`` and the number of readings."""
    lines: list[str] = []
    readings = 0
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
                    observation = Observation.create(
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
                    point = to_point(observation)
                    if point is not None:
                        lines.append(point.to_line())
                        readings += 1
    return lines, readings


def _gauges(settings: StorageSettings, bucket_id: str) -> dict[str, float]:
    """The bucket's storage gauges summed over its shards ({} while InfluxDB is away)."""
    url = f"{settings.influx_url.rstrip('/')}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310  # configured URL
            text = reply.read().decode()
    except OSError:
        return {}
    totals: dict[str, float] = {}
    names = "storage_tsm_files_disk_bytes|storage_wal_size|storage_cache_inuse_bytes"
    pattern = re.compile(rf"^({names})\{{([^}}]*)\}} (\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match and f'bucket="{bucket_id}"' in match.group(2):
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(3))
    return totals


async def sizing(
    settings: StorageSettings,
    residents: int,
    wait_s: float,
    days: int = 365,
    retention_days: int = 0,
) -> dict[str, Any]:
    """Bytes per reading and per resident-year, measured on disk after the TSM snapshot."""
    rng = random.Random(2)  # noqa: S311  # test data, not cryptography
    bucket = f"bench_size_{uuid.uuid4().hex[:8]}"
    end = datetime.now(UTC).replace(microsecond=0)
    lines, readings = resident_year(residents, end, rng, days)
    await _fresh_bucket(settings, bucket, retention_days * 86_400)
    try:
        await _write(settings, bucket, lines)
        bucket_id = await _bucket_id(settings, bucket)
        after_write = _gauges(settings, bucket_id)
        started = time.monotonic()
        gauges = after_write
        while time.monotonic() - started < wait_s:
            await asyncio.sleep(10)
            gauges = _gauges(settings, bucket_id)
            if (
                gauges.get("storage_tsm_files_disk_bytes", 0) > 0
                and gauges.get("storage_cache_inuse_bytes", 1) == 0
            ):
                break
        waited = time.monotonic() - started
    finally:
        await _delete_bucket(settings, bucket)
    tsm = gauges.get("storage_tsm_files_disk_bytes", 0.0)
    line_bytes = sum(len(line) + 1 for line in lines)
    return {
        "residents": residents,
        "days": days,
        "retention_days": retention_days,
        "readings": readings,
        "readings_per_resident_year": round(readings / residents * 365 / days),
        "line_protocol_bytes_per_reading": round(line_bytes / readings, 1),
        "wal_bytes_after_write": after_write.get("storage_wal_size", 0.0),
        "tsm_bytes": tsm,
        "snapshotted": tsm > 0,
        "waited_s": round(waited),
        "tsm_bytes_per_reading": round(tsm / readings, 2) if tsm else None,
        "tsm_bytes_per_resident_year": round(tsm / residents * 365 / days) if tsm else None,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the command line asked for."""
    settings = StorageSettings.load()
    result: dict[str, Any] = {"line_cost": line_costs()}
    result["throughput"] = await throughput(settings, args.points)
    if args.sizing:
        result["sizing"] = await sizing(
            settings, args.residents, args.wait, args.days, args.retention_days
        )
    return result


def main(argv: list[str] | None = None) -> None:
    """Parse options, run, print."""
    parser = argparse.ArgumentParser(
        prog="python -m storage.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--points", type=int, default=300_000, help="points to write (300000)")
    parser.add_argument("--sizing", action="store_true", help="also measure bytes on disk")
    parser.add_argument("--residents", type=int, default=50, help="residents for --sizing (50)")
    parser.add_argument("--days", type=int, default=365, help="days of data for --sizing")
    parser.add_argument(
        "--retention-days", type=int, default=0, help="retention of the sizing bucket (0 = none)"
    )
    parser.add_argument("--wait", type=float, default=900, help="seconds to wait for the snapshot")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))  # noqa: T201  # the command's output
        return
    for section, values in result.items():
        print(f"{section}:")  # noqa: T201  # the command's output
        for key, value in values.items():
            print(f"  {key}: {value}")  # noqa: T201  # the command's output


if __name__ == "__main__":
    main()
