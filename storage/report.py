"""Health reports as self-contained HTML: ``carepulse report resident|station``.

A report gathers its data through :class:`~storage.queries.StorageQueries`, works out the
figures with :mod:`storage.analysis`, draws them with :mod:`storage.figures` (PNG,
embedded as base64 ``data:`` URIs, so the file can be mailed or printed as it is) and
fills a Jinja2 template from ``storage/templates``.

The resident report takes the resident's **pseudonym**: storage never sees names or the
station's own resident ids. The alert service, which keeps the registry, is where a
social worker will look a resident up by name and open this report by pseudonym.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import jinja2

from carepulse import __version__
from carepulse.observation import Kind
from storage.analysis import (
    BANDS,
    AckRow,
    BehaviourChange,
    FieldSummary,
    ack_note,
    behaviour_change,
    day_range,
    duration_text,
    morning_completion,
    participation,
    plain_name,
    resident_notes,
    summarise,
    summarise_daily,
    target_completion,
    unit_of,
)
from storage.errors import ReportError
from storage.figures import daily_bars, data_uri, participation_figure, png, trend_figure
from storage.queries import StorageQueries

#: Kinds a resident report shows, in this order.
REPORT_KINDS = (
    Kind.BLOOD_PRESSURE,
    Kind.WEIGHT,
    Kind.GLUCOSE,
    Kind.HEART_RATE,
    Kind.SPO2,
    Kind.TEMPERATURE,
    Kind.STEPS,
)
KIND_TITLES = {
    Kind.BLOOD_PRESSURE: "Blood pressure",
    Kind.WEIGHT: "Weight",
    Kind.GLUCOSE: "Blood glucose",
    Kind.HEART_RATE: "Heart rate",
    Kind.SPO2: "Blood oxygen",
    Kind.TEMPERATURE: "Temperature",
    Kind.STEPS: "Steps",
    Kind.BODY_COMPOSITION: "Body composition",
}
#: The daily step goal of the station report's task completion.
STEP_TARGET = 6000
#: Fields the resident report leaves out of its tables (summaries of series).
_HIDDEN_SUFFIXES = ("_count", "_mean")


@dataclass(frozen=True, slots=True)
class Section:
    """One kind of measurement in the resident report."""

    title: str
    image: str
    notes: list[str]
    rows: list[dict[str, str]]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("storage", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def summary_rows(summaries: Sequence[FieldSummary]) -> list[dict[str, str]]:
    """Table rows for a resident section."""
    rows = []
    for s in summaries:
        unit = unit_of(s.field)
        rows.append(
            {
                "name": f"{plain_name(s.field)} ({unit})" if unit else plain_name(s.field),
                "count": str(s.count),
                "mean": _fmt(s.mean),
                "min": _fmt(s.min),
                "max": _fmt(s.max),
                "first": _fmt(s.first_mean),
                "last": _fmt(s.last_mean),
                "in_band": "-" if s.in_band_share is None else f"{s.in_band_share:.0%}",
            }
        )
    return rows


def _keep(field: str, kind: Kind) -> bool:
    if kind is Kind.STEPS:
        return True
    return not field.endswith(_HIDDEN_SUFFIXES)


async def resident_report(
    queries: StorageQueries, subject: str, days: int, *, stop: datetime | None = None
) -> str:
    """The HTML report of one resident (by pseudonym) over ``days``."""
    end = stop or datetime.now(UTC)
    kinds = await queries.resident_kinds(subject, days, stop=end)
    if not kinds:
        msg = f"no readings for resident {subject} in the last {days} days"
        raise ReportError(msg, subject=subject, days=days)
    sections = []
    for kind in [k for k in REPORT_KINDS if k in kinds] + [
        k for k in kinds if k not in REPORT_KINDS
    ]:
        readings, means = await queries.resident_trend(subject, kind, days, stop=end)
        readings = [s for s in readings if _keep(s.field, kind)]
        means = [s for s in means if _keep(s.field, kind)]
        if kind is Kind.BLOOD_PRESSURE:  # pulse has its own scale; keep the BP plot readable
            plotted = [s for s in readings if s.field != "pulse_rate_bpm"]
            plotted_means = [s for s in means if s.field != "pulse_rate_bpm"]
        elif kind is Kind.WEIGHT:
            plotted = [s for s in readings if s.field == "weight_kg"]
            plotted_means = [s for s in means if s.field == "weight_kg"]
        else:
            plotted, plotted_means = readings, means
        if queries.raw_covers(days):
            summaries = summarise(readings)
        else:  # past the raw retention: the daily series has the whole period
            daily = await queries.resident_daily(subject, kind, days, stop=end)
            summaries = [s for s in summarise_daily(daily) if _keep(s.field, kind)] or summarise(
                readings
            )
        title = KIND_TITLES.get(kind, kind.value)
        figure = trend_figure(
            f"{title}, last {days} days", plotted, plotted_means, zone=queries.zone
        )
        sections.append(
            Section(
                title=title,
                image=data_uri(png(figure)),
                notes=resident_notes(kind.value, summaries, days),
                rows=summary_rows(summaries),
            )
        )
    retention = None
    if not queries.raw_covers(days):
        retention = (
            f"Readings are kept for {queries.retention_days} days and daily averages for "
            f"longer: the dots show the last {queries.retention_days} days of readings, the "
            f"line and the tables the daily averages of all {days} days."
        )
    return (
        _environment()
        .get_template("resident.html")
        .render(
            title="Personal health report",
            subtitle=f"Resident {subject[:8]}… · last {days} days · local time {queries.zone.key}",
            sections=sections,
            retention=retention,
            **_footer(),
        )
    )


async def station_report(
    queries: StorageQueries,
    station: str,
    days: int,
    *,
    stop: datetime | None = None,
    enrolled: int | None = None,
    acknowledgements: Sequence[AckRow] | None = None,
    ack_problem: str | None = None,
) -> str:
    """The HTML evaluation report of a station over ``days``.

    ``acknowledgements`` are the alert service's time-to-acknowledge figures for the same
    period (:mod:`storage.casestore`); ``ack_problem`` says why they are missing.
    """
    end = stop or datetime.now(UTC)
    zone = queries.zone
    counts = await queries.participation(station, days, stop=end)
    if not counts:
        msg = f"no readings at station {station!r} in the last {days} days"
        raise ReportError(msg, days=days)
    period = day_range(end, days, zone)
    matrix = participation(counts, period)
    context: dict[str, Any] = {}

    # Coverage: residents with any reading, against the enrolled count when known.
    measured = len(matrix.subjects)
    if enrolled:
        context["coverage"] = (
            f"{measured} of {enrolled} enrolled residents ({measured / enrolled:.0%}) took at "
            f"least one measurement in the last {days} days."
        )
    else:
        counts_seen = await queries.participation(
            station, max(days, queries.retention_days), stop=end
        )
        context["coverage"] = (
            f"{measured} residents took at least one measurement in the last {days} days, "
            f"of {len(counts_seen)} seen at this station within the raw-data retention "
            f"(pass --enrolled N for coverage against the station's register)."
        )

    active = matrix.active_per_day
    per_subject = matrix.active_days_per_subject
    regular = sum(1 for n in per_subject if n >= days / 2)
    context["participation_notes"] = [
        f"On an average day {sum(active) / len(active):.1f} residents measured something "
        f"(lowest {min(active)}, highest {max(active)}).",
        f"{regular} of {measured} residents measured on at least half of the days.",
    ]
    context["active_image"] = data_uri(
        png(daily_bars("Residents who measured anything", period, active, "residents"))
    )
    context["heatmap_image"] = data_uri(png(participation_figure(matrix)))

    # Daily tasks: a morning BP reading; the step goal.
    tasks = []
    bp = await queries.station_samples(
        station, Kind.BLOOD_PRESSURE, "systolic_mmhg", days, stop=end
    )
    morning = morning_completion(bp, zone)
    tasks.append(
        _task(
            "Morning blood pressure (05:00-10:00)",
            period,
            morning,
            measured,
            "took a morning blood-pressure reading",
        )
    )
    steps = await queries.station_samples(
        station, Kind.STEPS, "steps_count", days, daily="max", stop=end
    )
    if steps:
        walked = target_completion(steps, zone, STEP_TARGET)
        tasks.append(
            _task(
                f"Step goal ({STEP_TARGET} steps)",
                period,
                walked,
                measured,
                f"reached {STEP_TARGET} steps",
            )
        )
    context["tasks"] = tasks

    # Behaviour change: weekly BP and weight moving toward target.
    notes = []
    bp_change = behaviour_change(bp, "systolic_mmhg", 135.0, min_change=5.0, zone=zone)
    notes.append(_change_note(bp_change, "systolic blood pressure", "135 mmHg", "5 mmHg"))
    bmi = await queries.station_samples(station, Kind.WEIGHT, "bmi", days, stop=end)
    weight_change = behaviour_change(bmi, "bmi", 24.0, min_change=0.3, zone=zone)
    notes.append(_change_note(weight_change, "BMI", "24", "0.3 (about 1 kg)"))
    if days < 14:
        notes.append(
            "Behaviour change needs at least 14 days: run the report with --days 14 or more."
        )
    context["behaviour_notes"] = notes

    alerts = await queries.alert_counts(station, days, stop=end)
    context["alert_rows"] = sorted(alerts.items(), key=lambda item: (-item[1], item[0]))
    context["ack_rows"] = [_ack_row(r) for r in acknowledgements or ()]
    context["ack_note"] = ack_note(acknowledgements, days) if acknowledgements is not None else None
    context["ack_problem"] = ack_problem

    return (
        _environment()
        .get_template("station.html")
        .render(
            title=f"Station report: {station}",
            subtitle=f"Last {days} days ({period[0]} to {period[-1]}) · local time {zone.key}",
            **context,
            **_footer(),
        )
    )


def _task(
    title: str, period: Sequence[date], done: dict[date, set[str]], measured: int, verb: str
) -> dict[str, str]:
    per_day = [len(done.get(d, set())) for d in period]
    average = sum(per_day) / len(per_day)
    share = average / measured if measured else 0.0
    return {
        "title": title,
        "note": f"{title}: on an average day {average:.1f} residents ({share:.0%} of those "
        f"measuring) {verb}.",
        "image": data_uri(png(daily_bars(title, period, per_day, "residents"))),
    }


def _ack_row(row: AckRow) -> dict[str, str]:
    share = row.within_target_share
    return {
        "rule": "all rules" if row.rule == "all" else row.rule,
        "severity": "all" if row.severity == "all" else row.severity,
        "raised": str(row.raised),
        "acknowledged": str(row.acknowledged),
        "median": duration_text(row.median_minutes),
        "p90": duration_text(row.p90_minutes),
        "within": "-" if share is None else f"{share:.0%} of {row.due}",
        "total": "yes" if row.rule == "all" else "",
    }


def _change_note(change: BehaviourChange, name: str, target: str, step: str) -> str:
    if change.share is None:
        return (
            f"{name.capitalize()}: no resident started the period at or above {target} with "
            "two full weeks of readings, so there is no change to report."
        )
    return (
        f"{name.capitalize()}: {change.improved} of {change.eligible} residents who started at "
        f"or above {target} ({change.share:.0%}) moved toward target — their last week's "
        f"average is below {target} or at least {step} lower than their first week's."
    )


def _footer() -> dict[str, Any]:
    sources = sorted({band.source for band in BANDS.values()})
    return {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "sources": sources,
    }
