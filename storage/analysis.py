"""The figures reports are made of, from query results (pure).

Query results come in as :class:`Sample` lists; everything here is arithmetic on them:
per-field summaries and "what changed", guideline bands, plain-language notes,
participation per day, daily task completion and behaviour change. Days are local days
in the report's time zone (``Asia/Shanghai`` by default).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Final

from storage.i18n import DEFAULT_LANGUAGE, MESSAGES, translate


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one field at one time (a reading or a window mean)."""

    time: datetime
    field: str
    value: float
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Band:
    """A guideline range for one field, with where it comes from."""

    low: float | None
    high: float | None
    label: str
    source: str
    #: the source's key in :mod:`storage.i18n` (``source.<key>``)
    source_key: str = ""

    def contains(self, value: float) -> bool:
        """True when ``value`` is inside the band (``high`` excluded)."""
        return (self.low is None or value >= self.low) and (self.high is None or value < self.high)


_HOME_BP = "2018 Chinese guidelines for the management of hypertension (home BP)"
#: Guideline bands by field name; a field without a band is plotted without one.
_HR = "adult resting heart rate"
BANDS: Final[Mapping[str, Band]] = {
    "systolic_mmhg": Band(90, 135, "home target below 135 mmHg", _HOME_BP, "home_bp"),
    "diastolic_mmhg": Band(60, 85, "home target below 85 mmHg", _HOME_BP, "home_bp"),
    "heart_rate_bpm": Band(60, 100, "resting 60-100 beats/min", _HR, "resting_hr"),
    "pulse_rate_bpm": Band(60, 100, "resting 60-100 beats/min", _HR, "resting_hr"),
    "spo2_percent": Band(95, None, "95 % or more", "usual adult range at sea level", "spo2"),
    "temperature_c": Band(
        36.0, 37.3, "36.0-37.2 °C", "axillary; 37.3 °C or more is fever", "temperature"
    ),
    "glucose_mmol_l": Band(
        3.9, 6.1, "fasting 3.9-6.1 mmol/L", "WHO / Chinese diabetes guideline", "glucose"
    ),
    "bmi": Band(18.5, 24.0, "BMI 18.5-23.9", "China WS/T 428-2013", "bmi"),
}


def band_label(field: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The guideline band of ``field`` in words (``""`` without a band)."""
    band = BANDS.get(field)
    if band is None:
        return ""
    return translate(f"band.{field}", lang) if f"band.{field}" in MESSAGES else band.label


def band_sources(lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """Where the bands come from, once each, in ``lang``."""
    keys = sorted({band.source_key for band in BANDS.values()})
    return [translate(f"source.{key}", lang) for key in keys]


#: Plain names for fields (reports speak to people, not to databases).
FIELD_NAMES: Final[Mapping[str, str]] = {
    "systolic_mmhg": "systolic blood pressure",
    "diastolic_mmhg": "diastolic blood pressure",
    "mean_arterial_pressure_mmhg": "mean arterial pressure",
    "pulse_rate_bpm": "pulse",
    "heart_rate_bpm": "heart rate",
    "weight_kg": "weight",
    "bmi": "BMI",
    "spo2_percent": "blood oxygen",
    "temperature_c": "temperature",
    "glucose_mmol_l": "blood glucose",
    "steps_count": "steps",
    "body_fat_percent": "body fat",
}

UNITS: Final[Mapping[str, str]] = {
    "mmhg": "mmHg",
    "bpm": "beats/min",
    "kg": "kg",
    "percent": "%",
    "c": "°C",
    "mmol_l": "mmol/L",
    "count": "",
    "m": "m",
}


def unit_of(field: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The display unit of a unit-bearing field name (``systolic_mmhg`` -> ``mmHg``)."""
    suffix = field.rsplit("_", 1)[-1]
    if field.endswith("_mmol_l"):
        suffix = "mmol_l"
    if f"unit.{suffix}" in MESSAGES:
        return translate(f"unit.{suffix}", lang)
    return UNITS.get(suffix, "")


def plain_name(field: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A person's name for a field."""
    if f"field.{field}" in MESSAGES:
        return translate(f"field.{field}", lang)
    return FIELD_NAMES.get(field, field.replace("_", " "))


@dataclass(frozen=True, slots=True)
class FieldSummary:
    """One field over the report period."""

    field: str
    count: int
    mean: float
    min: float
    max: float
    first_mean: float | None
    last_mean: float | None
    in_band_share: float | None
    #: what ``in_band_share`` is a share of: ``"readings"``, or ``"days"`` (daily means)
    in_band_of: str = "readings"

    @property
    def change(self) -> float | None:
        """Mean of the last third minus mean of the first third (``None`` if too few)."""
        if self.first_mean is None or self.last_mean is None:
            return None
        return self.last_mean - self.first_mean


def summarise(samples: Sequence[Sample]) -> list[FieldSummary]:
    """Per-field count, mean, range, first-vs-last-third means and share within the band."""
    by_field: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_field[sample.field].append(sample)
    out = []
    for name in sorted(by_field):
        series = sorted(by_field[name], key=lambda s: s.time)
        values = [s.value for s in series]
        third = len(values) // 3
        first = _mean(values[:third]) if third >= 1 else None
        last = _mean(values[-third:]) if third >= 1 else None
        band = BANDS.get(name)
        share = sum(band.contains(v) for v in values) / len(values) if band else None
        out.append(
            FieldSummary(
                name, len(values), _mean(values), min(values), max(values), first, last, share
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class DailyStat:
    """One field's day from the daily series (the downsampling task's ``1d`` windows)."""

    time: datetime
    field: str
    mean: float
    min: float
    max: float
    count: int


def summarise_daily(days: Sequence[DailyStat]) -> list[FieldSummary]:
    """Per-field summaries from daily statistics, for periods longer than the raw retention.

    Count, mean (weighted by each day's count), lowest and highest are exact; the
    first-vs-last-third means and the share in the usual range are over daily means.
    """
    by_field: dict[str, list[DailyStat]] = defaultdict(list)
    for day in days:
        by_field[day.field].append(day)
    out = []
    for name in sorted(by_field):
        series = sorted(by_field[name], key=lambda d: d.time)
        count = sum(d.count for d in series)
        mean = (
            math.fsum(d.mean * d.count for d in series) / count
            if count
            else _mean([d.mean for d in series])
        )
        means = [d.mean for d in series]
        third = len(means) // 3
        band = BANDS.get(name)
        out.append(
            FieldSummary(
                name,
                count,
                mean,
                min(d.min for d in series),
                max(d.max for d in series),
                _mean(means[:third]) if third >= 1 else None,
                _mean(means[-third:]) if third >= 1 else None,
                sum(band.contains(v) for v in means) / len(means) if band else None,
                in_band_of="days",
            )
        )
    return out


def resident_notes(
    kind: str, summaries: Sequence[FieldSummary], days: int, lang: str = DEFAULT_LANGUAGE
) -> list[str]:
    """Plain-language sentences about one kind of measurement, in ``lang``."""
    notes: list[str] = []
    fields = {s.field: s for s in summaries}
    if kind == "blood_pressure" and "systolic_mmhg" in fields and "diastolic_mmhg" in fields:
        sys_, dia = fields["systolic_mmhg"], fields["diastolic_mmhg"]
        within = sys_.mean < 135 and dia.mean < 85
        notes.append(
            translate(
                "note.bp",
                lang,
                days=days,
                systolic=f"{sys_.mean:.0f}",
                diastolic=f"{dia.mean:.0f}",
                count=sys_.count,
                verdict=translate("note.bp_within" if within else "note.bp_above", lang),
            )
        )
        change = sys_.change
        if change is not None and abs(change) >= 3:
            direction = translate("word.lower" if change < 0 else "word.higher", lang)
            notes.append(
                translate("note.bp_change", lang, delta=f"{abs(change):.0f}", direction=direction)
            )
        return notes
    for summary in summaries:
        if summary.field.endswith("_count") and summary.field != "steps_count":
            continue
        unit = unit_of(summary.field, lang)
        spaced = f" {unit}" if unit else ""
        text = translate(
            "note.average",
            lang,
            name=plain_name(summary.field, lang),
            mean=f"{summary.mean:.1f}",
            unit=spaced,
            count=summary.count,
            low=f"{summary.min:.1f}",
            high=f"{summary.max:.1f}",
        )
        label = band_label(summary.field, lang)
        if label and summary.in_band_share is not None:
            text += translate(
                "note.in_band",
                lang,
                share=f"{summary.in_band_share:.0%}",
                of=translate(f"of.{summary.in_band_of}", lang),
                label=label,
            )
        notes.append(text)
        change = summary.change
        if change is not None and summary.mean and abs(change) / abs(summary.mean) >= 0.02:
            direction = translate("word.down" if change < 0 else "word.up", lang)
            notes.append(
                translate(
                    "note.change",
                    lang,
                    name=plain_name(summary.field, lang),
                    direction=direction,
                    delta=f"{abs(change):.1f}",
                    unit=spaced,
                )
            )
    return notes


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The local calendar day of ``moment`` in ``zone``."""
    return moment.astimezone(zone).date()


def day_range(end: datetime, days: int, zone: tzinfo) -> list[date]:
    """The ``days`` local days ending with the day of ``end`` (oldest first)."""
    last = local_day(end, zone)
    return [last - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


@dataclass(frozen=True, slots=True)
class Participation:
    """Readings per resident per local day (the heat map's data)."""

    days: list[date]
    subjects: list[str]
    #: counts[i][j]: readings of subjects[i] on days[j]
    counts: list[list[int]]

    @property
    def active_per_day(self) -> list[int]:
        """How many residents measured anything, per day."""
        return [sum(1 for row in self.counts if row[j]) for j in range(len(self.days))]

    @property
    def active_days_per_subject(self) -> list[int]:
        """On how many days each resident measured anything."""
        return [sum(1 for c in row if c) for row in self.counts]


def participation(
    daily_counts: Mapping[str, Mapping[date, int]], days: Sequence[date]
) -> Participation:
    """Arrange per-subject daily counts as a subjects x days matrix (subjects sorted)."""
    subjects = sorted(daily_counts)
    counts = [[int(daily_counts[s].get(d, 0)) for d in days] for s in subjects]
    return Participation(list(days), subjects, counts)


def morning_completion(
    readings: Iterable[Sample], zone: tzinfo, *, start_hour: int = 5, end_hour: int = 10
) -> dict[date, set[str]]:
    """Residents with a reading between ``start_hour`` and ``end_hour`` local time, per day."""
    done: dict[date, set[str]] = defaultdict(set)
    for sample in readings:
        local = sample.time.astimezone(zone)
        if start_hour <= local.hour < end_hour:
            done[local.date()].add(sample.subject)
    return dict(done)


def target_completion(
    daily_values: Iterable[Sample], zone: tzinfo, target: float
) -> dict[date, set[str]]:
    """Residents whose daily value (e.g. the day's highest step count) reached ``target``."""
    done: dict[date, set[str]] = defaultdict(set)
    for sample in daily_values:
        if sample.value >= target:
            done[local_day(sample.time, zone)].add(sample.subject)
    return dict(done)


@dataclass(frozen=True, slots=True)
class BehaviourChange:
    """Residents whose weekly mean moved toward target, among those who started above it."""

    field: str
    target: float
    eligible: int
    improved: int

    @property
    def share(self) -> float | None:
        """``improved / eligible``, or ``None`` when nobody was eligible."""
        return self.improved / self.eligible if self.eligible else None


def behaviour_change(
    samples: Iterable[Sample], field: str, target: float, *, min_change: float, zone: tzinfo
) -> BehaviourChange:
    """Compare each resident's first-week and last-week means of ``field``.

    Eligible: the first week's mean is at or above ``target`` and both weeks have data.
    Improved: the last week's mean is below target, or lower by at least ``min_change``.
    """
    by_subject: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.field == field:
            by_subject[sample.subject].append(sample)
    eligible = improved = 0
    for series in by_subject.values():
        series.sort(key=lambda s: s.time)
        first_day = local_day(series[0].time, zone)
        last_day = local_day(series[-1].time, zone)
        if (last_day - first_day).days < 13:
            continue
        first = [s.value for s in series if (local_day(s.time, zone) - first_day).days < 7]
        last = [s.value for s in series if (last_day - local_day(s.time, zone)).days < 7]
        start, end = _mean(first), _mean(last)
        if start < target:
            continue
        eligible += 1
        if end < target or start - end >= min_change:
            improved += 1
    return BehaviourChange(field, target, eligible, improved)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


@dataclass(frozen=True, slots=True)
class AckRow:
    """Time to acknowledge for one rule and severity, as the alert service reports it.

    ``rule`` and ``severity`` are ``"all"`` in totals rows. Only counts and minutes: the
    alert service keeps who the residents and the social workers are.
    """

    rule: str
    severity: str
    raised: int
    acknowledged: int
    median_minutes: float | None
    p90_minutes: float | None
    #: acknowledged within the severity's response target
    within_target: int
    #: acknowledged, or not yet and already past the target
    due: int

    @property
    def within_target_share(self) -> float | None:
        """``within_target / due`` (``None`` while nothing is due)."""
        return self.within_target / self.due if self.due else None


def duration_text(minutes: float | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """A duration for people: ``"4 min"``, ``"2.5 h"``, ``"3.1 days"`` (``"-"`` when unknown)."""
    if minutes is None:
        return "-"
    if minutes < 120:
        return translate("duration.minutes", lang, n=f"{minutes:.0f}")
    if minutes < 48 * 60:
        return translate("duration.hours", lang, n=f"{minutes / 60:.1f}")
    return translate("duration.days", lang, n=f"{minutes / 1440:.1f}")


def ack_note(rows: Sequence[AckRow], days: int, lang: str = DEFAULT_LANGUAGE) -> str:
    """One sentence about the station's time to acknowledge (from the ``all``/``all`` row)."""
    total = next((r for r in rows if r.rule == "all" and r.severity == "all"), None)
    if total is None or total.raised == 0:
        return translate("ack.none", lang, days=days)
    text = translate(
        "ack.summary", lang, raised=total.raised, days=days, acknowledged=total.acknowledged
    )
    if total.median_minutes is not None:
        text += translate(
            "ack.summary_times",
            lang,
            median=duration_text(total.median_minutes, lang),
            p90=duration_text(total.p90_minutes, lang),
        )
    share = total.within_target_share
    if share is not None:
        text += translate("ack.summary_target", lang, share=f"{share:.0%}", due=total.due)
    return text + translate("ack.summary_end", lang)
