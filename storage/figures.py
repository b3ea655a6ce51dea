"""Report figures with matplotlib, returned as PNG bytes (no display, no pyplot state).

Figures are built on ``matplotlib.figure.Figure`` directly (the Agg canvas), so nothing
depends on a GUI backend or on pyplot's global state.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from storage.analysis import BANDS, Participation, Sample, plain_name, unit_of

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def data_uri(image: bytes) -> str:
    """A ``data:`` URI to embed PNG bytes in an ``<img>``."""
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def trend_figure(
    title: str,
    readings: Sequence[Sample],
    means: Sequence[Sample],
    *,
    zone: tzinfo = UTC,
    mean_offset: timedelta = timedelta(hours=12),
) -> Figure:
    """Readings as dots, window means as a line, the guideline band shaded, per field.

    The axis shows local time in ``zone``; each mean is drawn at its window's start plus
    ``mean_offset`` (mid-day for daily windows), so it sits among the readings it averages.
    """
    figure = Figure(figsize=(8, 3.4))
    axes = figure.add_subplot()
    fields = sorted({s.field for s in readings} | {s.field for s in means})
    for index, name in enumerate(fields):
        colour = _COLOURS[index % len(_COLOURS)]
        points = [s for s in readings if s.field == name]
        line = [s for s in means if s.field == name]
        band = BANDS.get(name)
        if band is not None:
            values = [s.value for s in points] or [0.0]
            low = band.low if band.low is not None else min(values)
            high = band.high if band.high is not None else max(values)
            axes.axhspan(
                low, high, color=colour, alpha=0.08, label=f"{plain_name(name)}: {band.label}"
            )
        axes.plot(
            _num([s.time for s in points]),
            [s.value for s in points],
            "o",
            color=colour,
            alpha=0.35,
            markersize=3,
        )
        axes.plot(
            _num([s.time + mean_offset for s in line]),
            [s.value for s in line],
            "-",
            color=colour,
            linewidth=2,
            label=f"{plain_name(name)} (daily mean)",
        )
    units = sorted({unit_of(f) for f in fields} - {""})
    axes.set_ylabel(", ".join(units))
    axes.set_title(title)
    _dates(axes, zone)
    axes.grid(alpha=0.3)
    if fields:
        axes.legend(fontsize="small", loc="best")
    return figure


def participation_figure(data: Participation) -> Figure:
    """Heat map: residents (rows) x days (columns), colour = readings that day."""
    height = max(2.5, 0.22 * len(data.subjects) + 1.2)
    figure = Figure(figsize=(8, height))
    axes = figure.add_subplot()
    image = axes.imshow(data.counts or [[0]], aspect="auto", cmap="Greens", interpolation="nearest")
    axes.set_xlabel("day")
    axes.set_ylabel("resident")
    step = max(1, len(data.days) // 10)
    axes.set_xticks(range(0, len(data.days), step))
    axes.set_xticklabels([d.strftime("%m-%d") for d in data.days[::step]], fontsize="small")
    axes.set_yticks(range(len(data.subjects)))
    axes.set_yticklabels([f"{s[:6]}…" for s in data.subjects], fontsize="x-small")
    axes.set_title("Readings per resident per day")
    figure.colorbar(image, ax=axes, label="readings")
    return figure


def daily_bars(title: str, days: Sequence[date], values: Sequence[float], ylabel: str) -> Figure:
    """A bar per day (active residents, task completion)."""
    figure = Figure(figsize=(8, 2.8))
    axes = figure.add_subplot()
    axes.bar(
        _num([datetime.combine(d, datetime.min.time()) for d in days]),
        values,
        width=0.8,
        color="#1f77b4",
    )
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    _dates(axes)
    axes.grid(axis="y", alpha=0.3)
    return figure


def _num(times: Sequence[datetime]) -> Any:
    return date2num(times)  # type: ignore[no-untyped-call]  # untyped in matplotlib


def _dates(axes: Axes, zone: tzinfo = UTC) -> None:
    locator = AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]  # untyped in matplotlib
    axes.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, tz=zone)  # type: ignore[no-untyped-call]  # untyped
    axes.xaxis.set_major_formatter(formatter)
