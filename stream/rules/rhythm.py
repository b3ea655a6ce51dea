"""Heart-rhythm features from RR intervals and the irregular-rhythm (AF screen) rule.

Time-domain HRV (Task Force of the ESC and NASPE, Circulation 1996;93:1043, table 1),
over every interval given:

* RMSSD -- root mean square of successive differences, ms;
* SDNN -- sample standard deviation (n - 1), ms;
* pNN50 -- successive differences of *more than* 50 ms, divided by the number of NN
  intervals (the Task Force wording), in %.

Irregular-rhythm screen after Dash et al., Ann Biomed Eng 2009;37(9):1701, on the last
128 beats with the 8 longest and 8 shortest intervals removed (order of the rest kept):

* nRMSSD = RMSSD / mean RR;
* TPR, turning-point ratio = turning points / (n - 2);
* ShE, Shannon entropy of a 16-bin histogram spanning min..max, divided by ln 16.

The window is irregular when all three exceed their thresholds (0.1, 0.54, 0.7 by
default) -- the AND rule. Fewer than 128 beats give no screen (``None``). One irregular
window is a suspicion, not a notification: see :mod:`stream.rules.persistence`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RhythmTable:
    """Parameters of the irregular-rhythm screen.

    Attributes:
        beats: intervals per screening window (the last ``beats`` are used).
        trim: intervals removed at each end (longest and shortest) before the features.
        bins: histogram bins for the Shannon entropy.
        nn50_ms: pNN50's difference threshold (strictly more than this counts).
        nrmssd_above: nRMSSD threshold.
        tpr_above: turning-point-ratio threshold.
        shannon_entropy_above: Shannon-entropy threshold.
    """

    beats: int = 128
    trim: int = 8
    bins: int = 16
    nn50_ms: float = 50.0
    nrmssd_above: float = 0.1
    tpr_above: float = 0.54
    shannon_entropy_above: float = 0.7


@dataclass(frozen=True, slots=True)
class RhythmFeatures:
    """Features of one series of RR intervals; screen features are ``None`` below ``beats``."""

    rmssd_ms: float
    sdnn_ms: float
    pnn50_percent: float
    nrmssd: float | None
    tpr: float | None
    shannon_entropy: float | None
    irregular: bool | None


def _differences(rr: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(rr)]


def mean(rr: Sequence[float]) -> float:
    """Arithmetic mean."""
    return sum(rr) / len(rr)


def rmssd(rr: Sequence[float]) -> float:
    """Root mean square of successive differences (needs at least 2 intervals)."""
    diffs = _differences(rr)
    return math.sqrt(sum(d * d for d in diffs) / len(diffs))


def sdnn(rr: Sequence[float]) -> float:
    """Sample standard deviation of the intervals (n - 1; needs at least 2)."""
    centre = mean(rr)
    return math.sqrt(sum((x - centre) ** 2 for x in rr) / (len(rr) - 1))


def nn50(rr: Sequence[float], threshold_ms: float = 50.0) -> int:
    """Successive differences of strictly more than ``threshold_ms``."""
    return sum(1 for d in _differences(rr) if abs(d) > threshold_ms)


def pnn50(rr: Sequence[float], threshold_ms: float = 50.0) -> float:
    """NN50 as a percentage of the number of intervals (Task Force 1996)."""
    return 100.0 * nn50(rr, threshold_ms) / len(rr)


def trimmed(rr: Sequence[float], trim: int) -> list[float]:
    """``rr`` without its ``trim`` shortest and ``trim`` longest intervals, order kept.

    Ties are broken by position (the earliest of equal shortest, the latest of equal
    longest go first), so the result is deterministic.
    """
    if trim == 0:
        return list(rr)
    order = sorted(range(len(rr)), key=lambda i: (rr[i], i))
    dropped = set(order[:trim]) | set(order[-trim:])
    return [x for i, x in enumerate(rr) if i not in dropped]


def turning_point_ratio(rr: Sequence[float]) -> float:
    """Turning points (strict local maxima or minima) divided by ``len(rr) - 2``."""
    turns = sum(
        1
        for a, b, c in zip(rr, rr[1:], rr[2:], strict=False)
        if (b > a and b > c) or (b < a and b < c)
    )
    return turns / (len(rr) - 2)


def shannon_entropy(rr: Sequence[float], bins: int = 16) -> float:
    """Shannon entropy of a ``bins``-bin histogram over min..max, normalised to 0..1."""
    low, high = min(rr), max(rr)
    counts = [0] * bins
    width = (high - low) / bins
    for x in rr:
        index = bins - 1 if width == 0 else min(int((x - low) / width), bins - 1)
        counts[index] += 1
    total = len(rr)
    entropy = -sum(c / total * math.log(c / total) for c in counts if c)
    return entropy / math.log(bins)


def features(rr_ms: Sequence[float], table: RhythmTable) -> RhythmFeatures:
    """All rhythm features of a series of RR intervals (at least 2) in ms."""
    screen: tuple[float, float, float] | None = None
    if len(rr_ms) >= table.beats:
        window = trimmed(rr_ms[-table.beats :], table.trim)
        screen = (
            rmssd(window) / mean(window),
            turning_point_ratio(window),
            shannon_entropy(window, table.bins),
        )
    return RhythmFeatures(
        rmssd_ms=rmssd(rr_ms),
        sdnn_ms=sdnn(rr_ms),
        pnn50_percent=pnn50(rr_ms, table.nn50_ms),
        nrmssd=None if screen is None else screen[0],
        tpr=None if screen is None else screen[1],
        shannon_entropy=None if screen is None else screen[2],
        irregular=None if screen is None else is_irregular(*screen, table=table),
    )


def is_irregular(nrmssd: float, tpr: float, shannon: float, *, table: RhythmTable) -> bool:
    """The AND rule: all three features strictly above their thresholds."""
    return (
        nrmssd > table.nrmssd_above
        and tpr > table.tpr_above
        and shannon > table.shannon_entropy_above
    )
