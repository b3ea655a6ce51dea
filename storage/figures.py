"""Report figures with matplotlib, returned as PNG bytes (no display, no pyplot state).

Figures are built on ``matplotlib.figure.Figure`` directly (the Agg canvas), so nothing
depends on a GUI backend or on pyplot's global state.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from storage.analysis import BANDS, Participation, Sample, band_label, plain_name, unit_of
from storage.i18n import translate

logger = logging.getLogger(__name__)

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
#: Fonts with Chinese glyphs, best first (Debian: fonts-wqy-zenhei, fonts-noto-cjk).
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Source Han Sans SC",
    "SimHei",
    "Microsoft YaHei",
)


#: File names of CJK fonts, for a font cache made before the font was installed.
_CJK_FILES = re.compile(r"(wqy|cjk|sourcehan|simhei|msyh)", re.IGNORECASE)


@cache
def cjk_font() -> str | None:
    """The first installed font that has Chinese glyphs, or ``None``.

    matplotlib keeps a cache of the system's fonts; a font installed after it was made
    (``scripts/browser`` installs fonts-wqy-zenhei) is looked for on disk and added.
    """
    manager = font_manager.fontManager
    installed = {entry.name for entry in manager.ttflist}
    found = next((name for name in _CJK_FONTS if name in installed), None)
    if found is None:
        for path in font_manager.findSystemFonts():
            if _CJK_FILES.search(Path(path).name):
                manager.addfont(path)
        installed = {entry.name for entry in manager.ttflist}
        found = next((name for name in _CJK_FONTS if name in installed), None)
    return found


def figure_language(lang: str) -> str:
    """The language figures can be drawn in: Chinese needs a CJK font, else English.

    Without one matplotlib would draw empty boxes; the report's text stays Chinese and the
    figures fall back to English (logged once).
    """
    if lang == "zh" and cjk_font() is None:
        _warn_no_font()
        return "en"
    return lang


@cache
def _warn_no_font() -> None:
    logger.warning(
        "no Chinese font for the report figures (install fonts-wqy-zenhei or "
        "fonts-noto-cjk); their labels are in English"
    )


@contextmanager
def figure_fonts(lang: str) -> Iterator[None]:
    """Build and draw figures inside this: with ``lang="zh"`` text falls back to a CJK font.

    DejaVu Sans stays first (Latin letters and digits); matplotlib (3.6 or newer) takes
    each glyph it lacks from the next family.
    """
    font = cjk_font() if lang == "zh" else None
    if font is None:
        yield
        return
    # A list of families (not the "sans-serif" alias) is what turns on per-glyph fallback.
    with rc_context({"font.family": ["DejaVu Sans", font]}):
        yield


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
    lang: str = "en",
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
                low,
                high,
                color=colour,
                alpha=0.08,
                label=f"{plain_name(name, lang)}: {band_label(name, lang)}",
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
            label=translate("figure.daily_mean", lang, name=plain_name(name, lang)),
        )
    units = sorted({unit_of(f, lang) for f in fields} - {""})
    axes.set_ylabel(", ".join(units))
    axes.set_title(title)
    _dates(axes, zone)
    axes.grid(alpha=0.3)
    if fields:
        axes.legend(fontsize="small", loc="best")
    return figure


def participation_figure(data: Participation, lang: str = "en") -> Figure:
    """Heat map: residents (rows) x days (columns), colour = readings that day."""
    height = max(2.5, 0.22 * len(data.subjects) + 1.2)
    figure = Figure(figsize=(8, height))
    axes = figure.add_subplot()
    image = axes.imshow(data.counts or [[0]], aspect="auto", cmap="Greens", interpolation="nearest")
    axes.set_xlabel(translate("figure.day", lang))
    axes.set_ylabel(translate("figure.resident", lang))
    step = max(1, len(data.days) // 10)
    axes.set_xticks(range(0, len(data.days), step))
    axes.set_xticklabels([d.strftime("%m-%d") for d in data.days[::step]], fontsize="small")
    axes.set_yticks(range(len(data.subjects)))
    axes.set_yticklabels([f"{s[:6]}…" for s in data.subjects], fontsize="x-small")
    axes.set_title(translate("figure.heatmap", lang))
    figure.colorbar(image, ax=axes, label=translate("figure.readings", lang))
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
