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
    AckRow,
    BehaviourChange,
    FieldSummary,
    ack_note,
    band_sources,
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
from storage.figures import (
    daily_bars,
    data_uri,
    figure_fonts,
    figure_language,
    participation_figure,
    png,
    trend_figure,
)
from storage.i18n import DEFAULT_LANGUAGE, check_language, translate
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


def kind_title(kind: Kind, lang: str = DEFAULT_LANGUAGE) -> str:
    """The heading of a kind of measurement."""
    return translate(f"kind.{kind.value}", lang)


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


def summary_rows(
    summaries: Sequence[FieldSummary], lang: str = DEFAULT_LANGUAGE
) -> list[dict[str, str]]:
    """Table rows for a resident section."""
    rows = []
    for s in summaries:
        unit = unit_of(s.field, lang)
        name = plain_name(s.field, lang)
        rows.append(
            {
                "name": f"{name} ({unit})" if unit else name,
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
    queries: StorageQueries,
    subject: str,
    days: int,
    *,
    stop: datetime | None = None,
    lang: str = DEFAULT_LANGUAGE,
) -> str:
    """The HTML report of one resident (by pseudonym) over ``days``, in ``lang``."""
    check_language(lang)
    drawn = figure_language(lang)
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
        title = kind_title(kind, lang)
        with figure_fonts(drawn):
            figure = trend_figure(
                translate("resident.trend_title", drawn, title=kind_title(kind, drawn), days=days),
                plotted,
                plotted_means,
                zone=queries.zone,
                lang=drawn,
            )
            image = data_uri(png(figure))
        sections.append(
            Section(
                title=title,
                image=image,
                notes=resident_notes(kind.value, summaries, days, lang),
                rows=summary_rows(summaries, lang),
            )
        )
    retention = None
    if not queries.raw_covers(days):
        retention = translate("resident.retention", lang, kept=queries.retention_days, days=days)
    return (
        _environment()
        .get_template("resident.html")
        .render(
            title=translate("resident.title", lang),
            subtitle=translate(
                "resident.subtitle", lang, short=subject[:8], days=days, zone=queries.zone.key
            ),
            sections=sections,
            retention=retention,
            **_frame(lang),
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
    lang: str = DEFAULT_LANGUAGE,
) -> str:
    """The HTML evaluation report of a station over ``days``, in ``lang``.

    ``acknowledgements`` are the alert service's time-to-acknowledge figures for the same
    period (:mod:`storage.casestore`); ``ack_problem`` says why they are missing.
    """
    check_language(lang)
    if not queries.raw_covers(days):
        msg = (
            f"the station report counts raw readings, which are kept "
            f"{queries.retention_days} days: use --days {queries.retention_days} or fewer"
        )
        raise ReportError(msg, days=days)
    drawn = figure_language(lang)
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
        context["coverage"] = translate(
            "coverage.enrolled",
            lang,
            measured=measured,
            enrolled=enrolled,
            share=f"{measured / enrolled:.0%}",
            days=days,
        )
    else:
        counts_seen = await queries.participation(
            station, max(days, queries.retention_days), stop=end
        )
        context["coverage"] = translate(
            "coverage.seen", lang, measured=measured, days=days, seen=len(counts_seen)
        )

    active = matrix.active_per_day
    per_subject = matrix.active_days_per_subject
    regular = sum(1 for n in per_subject if n >= days / 2)
    context["participation_notes"] = [
        translate(
            "participation.average",
            lang,
            average=f"{sum(active) / len(active):.1f}",
            low=min(active),
            high=max(active),
        ),
        translate("participation.regular", lang, regular=regular, measured=measured),
    ]
    with figure_fonts(drawn):
        context["active_image"] = data_uri(
            png(
                daily_bars(
                    translate("figure.active", drawn),
                    period,
                    active,
                    translate("figure.residents", drawn),
                )
            )
        )
        context["heatmap_image"] = data_uri(png(participation_figure(matrix, drawn)))

    # Daily tasks: a morning BP reading; the step goal.
    tasks = []
    bp = await queries.station_samples(
        station, Kind.BLOOD_PRESSURE, "systolic_mmhg", days, stop=end
    )
    morning = morning_completion(bp, zone)
    tasks.append(_task("task.morning", {}, "task.morning_done", period, morning, measured, lang))
    steps = await queries.station_samples(
        station, Kind.STEPS, "steps_count", days, daily="max", stop=end
    )
    if steps:
        walked = target_completion(steps, zone, STEP_TARGET)
        tasks.append(
            _task(
                "task.steps",
                {"target": STEP_TARGET},
                "task.steps_done",
                period,
                walked,
                measured,
                lang,
            )
        )
    context["tasks"] = tasks

    # Behaviour change: weekly BP and weight moving toward target.
    notes = []
    bp_change = behaviour_change(bp, "systolic_mmhg", 135.0, min_change=5.0, zone=zone)
    notes.append(
        _change_note(bp_change, translate("change.systolic", lang), "135 mmHg", "5 mmHg", lang)
    )
    bmi = await queries.station_samples(station, Kind.WEIGHT, "bmi", days, stop=end)
    weight_change = behaviour_change(bmi, "bmi", 24.0, min_change=0.3, zone=zone)
    notes.append(
        _change_note(
            weight_change,
            translate("change.bmi", lang),
            "24",
            translate("change.bmi_step", lang),
            lang,
        )
    )
    if days < 14:
        notes.append(translate("change.too_short", lang))
    context["behaviour_notes"] = notes

    alerts = await queries.alert_counts(station, days, stop=end)
    context["alert_rows"] = sorted(alerts.items(), key=lambda item: (-item[1], item[0]))
    context["ack_rows"] = [_ack_row(r, lang) for r in acknowledgements or ()]
    context["ack_note"] = (
        ack_note(acknowledgements, days, lang) if acknowledgements is not None else None
    )
    context["ack_problem"] = (
        translate("ack.unavailable", lang, problem=ack_problem) if ack_problem else None
    )

    return (
        _environment()
        .get_template("station.html")
        .render(
            title=translate("station.title", lang, station=station),
            subtitle=translate(
                "station.subtitle",
                lang,
                days=days,
                first=period[0],
                last=period[-1],
                zone=zone.key,
            ),
            **context,
            **_frame(lang),
        )
    )


def _task(
    title_key: str,
    values: dict[str, object],
    done_key: str,
    period: Sequence[date],
    done: dict[date, set[str]],
    measured: int,
    lang: str,
) -> dict[str, str]:
    per_day = [len(done.get(d, set())) for d in period]
    average = sum(per_day) / len(per_day)
    share = average / measured if measured else 0.0
    title = translate(title_key, lang, **values)
    drawn = figure_language(lang)
    with figure_fonts(drawn):
        image = data_uri(
            png(
                daily_bars(
                    translate(title_key, drawn, **values),
                    period,
                    per_day,
                    translate("figure.residents", drawn),
                )
            )
        )
    return {
        "title": title,
        "note": translate(
            "task.note",
            lang,
            title=title,
            average=f"{average:.1f}",
            share=f"{share:.0%}",
            done=translate(done_key, lang, **values),
        ),
        "image": image,
    }


def _ack_row(row: AckRow, lang: str) -> dict[str, str]:
    share = row.within_target_share
    return {
        "rule": translate("ack.all_rules", lang) if row.rule == "all" else row.rule,
        "severity": translate(f"severity.{row.severity}", lang)
        if row.severity != "all"
        else translate("ack.all", lang),
        "raised": str(row.raised),
        "acknowledged": str(row.acknowledged),
        "median": duration_text(row.median_minutes, lang),
        "p90": duration_text(row.p90_minutes, lang),
        "within": "-"
        if share is None
        else translate("ack.within_of", lang, share=f"{share:.0%}", due=row.due),
        "total": "yes" if row.rule == "all" else "",
    }


def _change_note(change: BehaviourChange, name: str, target: str, step: str, lang: str) -> str:
    if change.share is None:
        return translate("change.none", lang, name=name, target=target)
    return translate(
        "change.some",
        lang,
        name=name,
        improved=change.improved,
        eligible=change.eligible,
        target=target,
        share=f"{change.share:.0%}",
        step=step,
    )


def _frame(lang: str) -> dict[str, Any]:
    """What every page needs: its language, the labels of the templates and the footer."""
    labels = {key.replace(".", "_"): translate(key, lang) for key in _TEMPLATE_KEYS}
    return {
        "lang": "zh-CN" if lang == "zh" else lang,
        "t": labels,
        "footer": translate(
            "footer",
            lang,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            version=__version__,
            sources=translate("list.separator", lang).join(band_sources(lang)),
        ),
    }


#: Keys the templates show as they are (``t.heading_coverage`` for ``heading.coverage``).
_TEMPLATE_KEYS = (
    "table.measure",
    "table.readings",
    "table.average",
    "table.lowest",
    "table.highest",
    "table.start",
    "table.end",
    "table.in_band",
    "heading.coverage",
    "heading.participation",
    "heading.tasks",
    "heading.behaviour",
    "heading.alerts",
    "heading.ack",
    "alerts.rule",
    "alerts.raised",
    "alerts.none",
    "ack.not_read",
    "ack.severity",
    "ack.cases",
    "ack.acknowledged",
    "ack.median",
    "ack.p90",
    "ack.within",
    "ack.explained",
    "figure.active",
    "figure.heatmap",
)
