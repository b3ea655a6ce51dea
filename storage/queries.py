"""Flux queries for trends, participation, task completion and alerts (influxdb-client).

Each method builds one Flux query over an absolute time range ``[stop - days, stop)``
(``stop`` defaults to now) and returns plain values (:class:`~storage.analysis.Sample`
lists, dicts); the arithmetic on them lives in :mod:`storage.analysis`. Days are local
days in ``report_timezone``: every query sets Flux's ``location`` option so that daily
windows start at local midnight.

InfluxDB OSS does not take query parameters, so identifiers are validated first (a
station id, a pseudonym, a kind) and string literals are escaped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from carepulse.observation import Kind, format_time
from carepulse.pseudonym import is_pseudonym
from storage.analysis import DailyStat, Sample, local_day
from storage.config import StorageSettings
from storage.errors import ReportError, auth_advice, not_found_advice
from storage.points import ALERT, READING, WINDOW

_STATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_FIELD = re.compile(r"[a-z][a-z0-9_]{0,63}")


def flux_string(value: str) -> str:
    """A Flux string literal (quotes, backslashes and ``${`` escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


class StorageQueries:
    """The queries the reports and the dashboard use."""

    def __init__(self, client: InfluxDBClientAsync, settings: StorageSettings) -> None:
        self._client = client
        self._settings = settings
        self.zone = ZoneInfo(settings.report_timezone)

    @property
    def retention_days(self) -> int:
        """Days of raw readings kept (a year when kept for ever)."""
        return self._settings.readings_retention_days or 365

    def raw_covers(self, days: int) -> bool:
        """True when the raw readings bucket still holds the last ``days`` days.

        Longer periods read the daily series (``window`` points, ``window=1d``,
        ``source=task``) that the downsampling task keeps in the metrics bucket.
        """
        kept = self._settings.readings_retention_days
        return kept == 0 or days <= kept

    # -- helpers -------------------------------------------------------------------------

    def _header(self, days: int, stop: datetime | None) -> tuple[str, datetime]:
        end = (stop or datetime.now(UTC)).astimezone(UTC)
        start = end - timedelta(days=days)
        zone = flux_string(self._settings.report_timezone)
        header = (
            'import "timezone"\n'
            f"option location = timezone.location(name: {zone})\n"
            f"start = {format_time(start)}\nstop = {format_time(end)}\n"
        )
        return header, end

    async def _records(self, flux: str, bucket: str) -> list[Any]:
        try:
            tables = await self._client.query_api().query(flux, org=self._settings.influx_org)
        except InfluxDBError as exc:
            status = getattr(exc, "status", None)
            detail = str(getattr(exc, "message", "") or "")
            if status in (401, 403):
                raise auth_advice(status, bucket, self._settings.influx_org, detail) from exc
            if status == 404:
                raise not_found_advice(status, bucket, self._settings.influx_org, detail) from exc
            raise
        return [record for table in tables for record in table.records]

    def _readings(self, predicate: str) -> str:
        return (
            f"from(bucket: {flux_string(self._settings.influx_bucket)})\n"
            "    |> range(start: start, stop: stop)\n"
            f'    |> filter(fn: (r) => r._measurement == "{READING}" and {predicate})\n'
        )

    # -- queries -------------------------------------------------------------------------

    def _daily(self, predicate: str) -> str:
        return (
            f"from(bucket: {flux_string(self._settings.metrics_bucket)})\n"
            "    |> range(start: start, stop: stop)\n"
            f'    |> filter(fn: (r) => r._measurement == "{WINDOW}" and r.window == "1d" and '
            f'r.source == "task" and {predicate})\n'
        )

    async def resident_kinds(
        self, subject: str, days: int, stop: datetime | None = None
    ) -> list[Kind]:
        """The kinds of measurement a resident has over the period.

        Past the raw retention, the daily series is searched too.
        """
        _check_subject(subject)
        header, _ = self._header(days, stop)
        predicate = f"r.subject == {flux_string(subject)}"
        distinct = '    |> keep(columns: ["kind"])\n    |> distinct(column: "kind")\n'
        records = await self._records(
            header + self._readings(predicate) + distinct, self._settings.influx_bucket
        )
        if not self.raw_covers(days):
            records += await self._records(
                header + self._daily(predicate) + distinct, self._settings.metrics_bucket
            )
        return sorted({Kind(r.get_value()) for r in records if r.get_value() in set(Kind)})

    async def resident_daily(
        self, subject: str, kind: Kind | str, days: int, *, stop: datetime | None = None
    ) -> list[DailyStat]:
        """A resident's daily mean/min/max/count per field from the daily series.

        The downsampling task writes these (``<field>_mean`` ... at local midnight); they
        outlive the raw readings, so trends past the raw retention are read from here.
        """
        _check_subject(subject)
        checked = Kind(kind)
        header, _ = self._header(days, stop)
        flux = (
            header
            + self._daily(
                f"r.subject == {flux_string(subject)} and r.kind == {flux_string(checked.value)}"
            )
            + '    |> keep(columns: ["_time", "_value", "_field"])\n'
        )
        records = await self._records(flux, self._settings.metrics_bucket)
        parts: dict[tuple[datetime, str], dict[str, float]] = defaultdict(dict)
        for record in records:
            name, _, stat = str(record.get_field()).rpartition("_")
            if name and stat in ("mean", "min", "max", "count"):
                parts[(record.get_time(), name)][stat] = float(record.get_value())
        return sorted(
            (
                DailyStat(at, name, v["mean"], v["min"], v["max"], int(v["count"]))
                for (at, name), v in parts.items()
                if len(v) == 4
            ),
            key=lambda d: (d.field, d.time),
        )

    async def resident_trend(
        self,
        subject: str,
        kind: Kind | str,
        days: int,
        *,
        every: str = "1d",
        stop: datetime | None = None,
    ) -> tuple[list[Sample], list[Sample]]:
        """A resident's readings of one kind, and their window means (``every``, local days).

        Returns ``(readings, means)``; means are stamped with their window's start. The
        source depends on the range: within the raw retention both come from the raw
        readings; past it, the readings are those still kept (the last
        ``readings_retention_days``) and the means are the daily series' over the whole
        period (``every`` is then one local day).
        """
        _check_subject(subject)
        checked = Kind(kind)
        if not re.fullmatch(r"[1-9][0-9]{0,3}[mhdw]", every):
            msg = f"every={every!r} is not a window such as '1h' or '1d'"
            raise ValueError(msg)
        if not self.raw_covers(days):
            kept, _ = await self.resident_trend(
                subject, checked, self._settings.readings_retention_days, every=every, stop=stop
            )
            daily = await self.resident_daily(subject, checked, days, stop=stop)
            return kept, [Sample(d.time, d.field, d.mean, subject) for d in daily]
        header, _ = self._header(days, stop)
        base = self._readings(
            f"r.subject == {flux_string(subject)} and r.kind == {flux_string(checked.value)}"
        )
        flux = (
            header
            + f"data = {base.strip()}\n"
            + '    |> keep(columns: ["_time", "_value", "_field"])\n'
            + '    |> group(columns: ["_field"])\n'
            + 'data |> yield(name: "raw")\n'
            + f"data |> aggregateWindow(every: {every}, fn: mean, createEmpty: false, "
            + 'timeSrc: "_start")\n    |> yield(name: "mean")\n'
        )
        records = await self._records(flux, self._settings.influx_bucket)
        raw: list[Sample] = []
        means: list[Sample] = []
        for record in records:
            sample = Sample(
                record.get_time(), record.get_field(), float(record.get_value()), subject
            )
            (means if record.values.get("result") == "mean" else raw).append(sample)
        raw.sort(key=lambda s: (s.field, s.time))
        means.sort(key=lambda s: (s.field, s.time))
        return raw, means

    async def participation(
        self, station: str, days: int, stop: datetime | None = None
    ) -> dict[str, dict[date, int]]:
        """Readings per resident per local day at a station (the heat map's data)."""
        _check_station(station)
        header, _ = self._header(days, stop)
        flux = (
            header
            + self._readings(f"r.station == {flux_string(station)}")
            + '    |> keep(columns: ["_time", "_value", "subject"])\n'
            + '    |> group(columns: ["subject"])\n'
            + '    |> unique(column: "_time")\n'
            + "    |> aggregateWindow(every: 1d, fn: count, createEmpty: false, "
            + 'timeSrc: "_start")\n'
        )
        counts: dict[str, dict[date, int]] = defaultdict(dict)
        for record in await self._records(flux, self._settings.influx_bucket):
            day = local_day(record.get_time(), self.zone)
            counts[record.values["subject"]][day] = int(record.get_value())
        return dict(counts)

    async def station_samples(
        self,
        station: str,
        kind: Kind | str,
        field: str,
        days: int,
        *,
        daily: str | None = None,
        stop: datetime | None = None,
    ) -> list[Sample]:
        """One field of one kind for every resident of a station.

        With ``daily="max"`` or ``"mean"``, one value per resident per local day (stamped
        with the day's start); otherwise every reading.
        """
        _check_station(station)
        if not _FIELD.fullmatch(field):
            msg = f"{field!r} is not a field name"
            raise ValueError(msg)
        header, _ = self._header(days, stop)
        flux = (
            header
            + self._readings(
                f"r.station == {flux_string(station)} and r.kind == {flux_string(Kind(kind).value)}"
                f" and r._field == {flux_string(field)}"
            )
            + '    |> keep(columns: ["_time", "_value", "_field", "subject"])\n'
            + '    |> group(columns: ["subject", "_field"])\n'
        )
        if daily is not None:
            if daily not in ("max", "mean", "min", "sum"):
                msg = f"daily={daily!r}: use max, mean, min or sum"
                raise ValueError(msg)
            flux += (
                f"    |> aggregateWindow(every: 1d, fn: {daily}, createEmpty: false, "
                'timeSrc: "_start")\n'
            )
        records = await self._records(flux, self._settings.influx_bucket)
        return [
            Sample(r.get_time(), r.get_field(), float(r.get_value()), r.values["subject"])
            for r in records
        ]

    async def alert_counts(
        self, station: str, days: int, stop: datetime | None = None
    ) -> dict[str, int]:
        """Alerts raised (status firing) per rule at a station over the period."""
        _check_station(station)
        header, _ = self._header(days, stop)
        flux = (
            header
            + f"from(bucket: {flux_string(self._settings.metrics_bucket)})\n"
            + "    |> range(start: start, stop: stop)\n"
            + f'    |> filter(fn: (r) => r._measurement == "{ALERT}" and '
            + f'r.station == {flux_string(station)} and r._field == "firing" '
            + 'and r.status == "firing")\n'
            + '    |> group(columns: ["rule"])\n    |> count()\n'
        )
        records = await self._records(flux, self._settings.metrics_bucket)
        return {r.values["rule"]: int(r.get_value()) for r in records}

    async def stations(self, days: int, stop: datetime | None = None) -> list[str]:
        """Stations with readings over the period."""
        header, _ = self._header(days, stop)
        flux = (
            header
            + self._readings("true")
            + '    |> keep(columns: ["station"])\n    |> distinct(column: "station")\n'
        )
        records = await self._records(flux, self._settings.influx_bucket)
        return sorted({str(r.get_value()) for r in records})


def _check_subject(subject: str) -> None:
    if not is_pseudonym(subject):
        msg = (
            f"{subject!r} is not a resident pseudonym (32 lowercase hex characters); storage "
            "only knows pseudonyms — the alert service maps names to them"
        )
        raise ReportError(msg, subject=subject)


def _check_station(station: str) -> None:
    if not _STATION.fullmatch(station):
        msg = f"{station!r} is not a station id"
        raise ReportError(msg)
