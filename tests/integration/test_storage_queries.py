"""Queries and reports over a simulated station written to the stack's InfluxDB."""

# ruff: noqa: RUF001 - Chinese report text uses fullwidth punctuation on purpose

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts import lifecycle as lc
from alerts.store import CaseStore, QueueQuery, ResidentRecord, Role
from carepulse.observation import Kind
from carepulse.settings import StackSettings
from storage.analysis import morning_completion
from storage.casestore import acknowledgements
from storage.config import StorageSettings
from storage.errors import ReportError
from storage.queries import StorageQueries
from storage.report import resident_report, station_report
from storage.writer import StorageWriter, open_client
from tests.storage.generator import ZONE, Station, simulate_station
from tests.storage.support import fresh_buckets, storage_settings

pytestmark = pytest.mark.influxdb

DAYS = 21


@dataclass
class Seeded:
    """A simulated station written to fresh buckets."""

    settings: StorageSettings
    station: Station
    queries: StorageQueries


@pytest.fixture
async def seeded(influxdb: StackSettings, unique: str) -> AsyncIterator[Seeded]:
    settings = storage_settings(influxdb, unique)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    station = simulate_station(residents=12, days=DAYS, end=end, seed=11)
    async with fresh_buckets(settings):
        async with StorageWriter.connect(settings) as storage:
            await storage.write_observations(station.observations)
            await storage.write_alerts(station.alerts)
        async with open_client(settings) as client:
            yield Seeded(settings, station, StorageQueries(client, settings))


async def test_resident_trend_has_readings_and_daily_means(seeded: Seeded) -> None:
    """A resident's BP trend returns every reading and one mean per local day."""
    person = seeded.station.residents[0].subject_id
    raw, means = await seeded.queries.resident_trend(
        person, Kind.BLOOD_PRESSURE, DAYS + 1, stop=seeded.station.end
    )
    expected = [
        o
        for o in seeded.station.observations
        if o.subject_id == person and o.kind == Kind.BLOOD_PRESSURE
    ]
    systolic = [s for s in raw if s.field == "systolic_mmhg"]
    assert len(systolic) == len(expected)
    written = [o.values["systolic_mmhg"] for o in expected]
    assert sorted(s.value for s in systolic) == sorted(written)  # type: ignore[type-var]
    days = {o.measured_at.astimezone(ZONE).date() for o in expected}
    mean_days = [s for s in means if s.field == "systolic_mmhg"]
    assert len(mean_days) == len(days)
    assert all(s.time.astimezone(ZONE).hour == 0 for s in mean_days)
    kinds = await seeded.queries.resident_kinds(person, DAYS + 1, stop=seeded.station.end)
    assert Kind.BLOOD_PRESSURE in kinds


async def test_participation_counts_readings_per_resident_and_day(seeded: Seeded) -> None:
    """The heat-map data counts each reading once per resident per local day."""
    counts = await seeded.queries.participation(
        seeded.station.station_id, DAYS + 1, stop=seeded.station.end
    )
    expected: dict[str, dict[object, int]] = {}
    for o in seeded.station.observations:
        day = o.measured_at.astimezone(ZONE).date()
        expected.setdefault(o.subject_id, {}).setdefault(day, 0)
        expected[o.subject_id][day] += 1
    assert counts == expected


async def test_morning_bp_completion(seeded: Seeded) -> None:
    """Residents with a 05:00-10:00 BP reading per day match the simulation."""
    samples = await seeded.queries.station_samples(
        seeded.station.station_id,
        Kind.BLOOD_PRESSURE,
        "systolic_mmhg",
        DAYS + 1,
        stop=seeded.station.end,
    )
    done = morning_completion(samples, ZONE)
    expected: dict[object, set[str]] = {}
    for o in seeded.station.observations:
        local = o.measured_at.astimezone(ZONE)
        if o.kind == Kind.BLOOD_PRESSURE and 5 <= local.hour < 10:
            expected.setdefault(local.date(), set()).add(o.subject_id)
    assert done == expected
    steps = await seeded.queries.station_samples(
        seeded.station.station_id,
        Kind.STEPS,
        "steps_count",
        DAYS + 1,
        daily="max",
        stop=seeded.station.end,
    )
    assert steps
    assert all(s.field == "steps_count" for s in steps)


async def test_alert_counts_per_rule(seeded: Seeded) -> None:
    """Alert annotations are counted per rule."""
    counts = await seeded.queries.alert_counts(
        seeded.station.station_id, DAYS + 1, stop=seeded.station.end
    )
    expected: dict[str, int] = {}
    for alert in seeded.station.alerts:
        expected[alert.rule_id] = expected.get(alert.rule_id, 0) + 1
    assert counts == expected
    assert sum(counts.values()) > 0


async def test_unknown_resident_is_a_clear_error(seeded: Seeded) -> None:
    """A name instead of a pseudonym, or a resident without data, says what is wrong."""
    with pytest.raises(ReportError, match="pseudonym"):
        await resident_report(seeded.queries, "Wang Fang", 7, lang="en")
    with pytest.raises(ReportError, match="no readings"):
        await resident_report(seeded.queries, "f" * 32, 7, stop=seeded.station.end, lang="en")


def _case_store(station: Station, path: Path) -> str:
    """The station's alerts in an alert case store; each case claimed 10-60 minutes later."""
    url = f"sqlite:///{path}"
    engine = CaseStore.engine_for(url)
    store = CaseStore(engine, scrypt_n=2**8, clock=lambda: station.end)
    store.create_schema()
    store.import_residents(
        ResidentRecord(r.subject_id, station.station_id, f"Resident {n}", phone="13800000000")
        for n, r in enumerate(station.residents)
    )
    user = store.add_user("li", "password-l", Role.SOCIAL_WORKER, station.station_id, "Li")
    viewer = store.viewer(user.id)
    assert viewer is not None
    store.ingest(station.alerts)
    page = store.queue(viewer, QueueQuery(limit=500))
    for n, item in enumerate(page.items):
        at = item.opened_at + timedelta(minutes=10 + 5 * (n % 11))
        store.act(viewer, item.id, lc.Claim(at, user.id))
    engine.dispose()
    return url


def _first_png(html: str) -> bytes:
    match = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert match is not None
    return base64.b64decode(match.group(1))


async def test_reports_render_from_seeded_data(seeded: Seeded, tmp_path: Path) -> None:
    """Both reports render: notes, tables, figures as PNG, and no raw ids."""
    person = seeded.station.residents[0].subject_id
    html = await resident_report(seeded.queries, person, DAYS, stop=seeded.station.end, lang="en")
    assert "Your average blood pressure over the last 21 days was" in html
    assert html.count("data:image/png;base64,") >= 3
    assert "resident-0" not in html
    image = _first_png(html)
    assert image.startswith(b"\x89PNG")
    (tmp_path / "resident_bp.png").write_bytes(image)
    (tmp_path / "resident.html").write_text(html)

    store_url = _case_store(seeded.station, tmp_path / "cases.sqlite3")
    end = seeded.station.end
    acks = acknowledgements(store_url, seeded.station.station_id, end - timedelta(days=DAYS), end)
    page = await station_report(
        seeded.queries,
        seeded.station.station_id,
        DAYS,
        stop=end,
        enrolled=15,
        acknowledgements=acks,
        lang="en",
    )
    assert "12 of 15 enrolled residents (80%)" in page
    assert "Morning blood pressure" in page
    assert "moved toward target" in page or "no resident started" in page
    assert "bp.grade_2" in page or "bp.urgent_referral" in page
    total = next(r for r in acks if r.rule == "all" and r.severity == "all")
    assert total.raised > 0
    assert f"{total.raised} clinical alert cases were opened in the last {DAYS} days" in page
    assert "<th>90th percentile</th>" in page
    assert "Resident 0" not in page
    assert "13800" not in page
    without = await station_report(
        seeded.queries,
        seeded.station.station_id,
        DAYS,
        stop=end,
        ack_problem="no store here",
        lang="en",
    )
    assert "Time to acknowledge is not available: no store here" in without
    (tmp_path / "station.html").write_text(page)
    for index, match in enumerate(re.finditer(r'src="data:image/png;base64,([^"]+)"', page)):
        (tmp_path / f"station_{index}.png").write_bytes(base64.b64decode(match.group(1)))

    # Chinese is the default: the same figures, every label from the translation table.
    zh_page = await station_report(
        seeded.queries,
        seeded.station.station_id,
        DAYS,
        stop=end,
        enrolled=15,
        acknowledgements=acks,
    )
    assert '<html lang="zh-CN">' in zh_page
    assert f"近{DAYS}天，15名登记居民中有12人（80%）至少测量过一次。" in zh_page
    assert f"近{DAYS}天共产生{total.raised}个健康预警案例" in zh_page
    assert "<th>第90百分位</th>" in zh_page
    assert "Morning blood pressure" not in zh_page
    zh_resident = await resident_report(seeded.queries, person, DAYS, stop=end)
    assert f"近{DAYS}天您的平均血压为" in zh_resident
    (tmp_path / "station_zh.html").write_text(zh_page)
    (tmp_path / "resident_zh.html").write_text(zh_resident)
    for name, html_text in (("station_zh", zh_page), ("resident_zh", zh_resident)):
        for index, match in enumerate(
            re.finditer(r'src="data:image/png;base64,([^"]+)"', html_text)
        ):
            (tmp_path / f"{name}_{index}.png").write_bytes(base64.b64decode(match.group(1)))
