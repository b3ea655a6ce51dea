"""IEEE 11073-20601 SFLOAT (16 bit) and FLOAT (32 bit) numbers.

Both are ``mantissa * 10**exponent`` with a two's-complement exponent (4 bits in SFLOAT,
8 in FLOAT, the high bits) and a two's-complement mantissa (12 / 24 bits). Five raw words
with exponent 0 are special values: NaN, NRes (not at this resolution), +INF, -INF and
one reserved word. They decode to ``None``, never to a number; the special words are
tested before the fields are split (a naive split gives 2047, -2048, ...).

Encoding is canonical: an integral value that fits uses exponent 0; otherwise the
largest negative exponent that represents the value exactly (no trailing zeros in the
mantissa); a value that needs more digits than the mantissa holds is rounded to the
finest exponent that fits. ``None`` (and NaN) encode as NaN, infinities as +/-INF.
Decoding divides by an exact integer power of ten, so ``decode(encode(x)) == x`` for
every value that has an exact representation (``51.3`` is ``513 / 10``).
"""

from __future__ import annotations

import math
from typing import Final

from edge.errors import EncodeError

SFLOAT_NAN: Final = 0x07FF
SFLOAT_NRES: Final = 0x0800
SFLOAT_POSITIVE_INFINITY: Final = 0x07FE
SFLOAT_NEGATIVE_INFINITY: Final = 0x0802
SFLOAT_RESERVED: Final = 0x0801

FLOAT_NAN: Final = 0x007FFFFF
FLOAT_NRES: Final = 0x00800000
FLOAT_POSITIVE_INFINITY: Final = 0x007FFFFE
FLOAT_NEGATIVE_INFINITY: Final = 0x00800002
FLOAT_RESERVED: Final = 0x00800001

_SFLOAT_SPECIAL: Final = frozenset(
    {SFLOAT_NAN, SFLOAT_NRES, SFLOAT_POSITIVE_INFINITY, SFLOAT_NEGATIVE_INFINITY, SFLOAT_RESERVED}
)
_FLOAT_SPECIAL: Final = frozenset(
    {FLOAT_NAN, FLOAT_NRES, FLOAT_POSITIVE_INFINITY, FLOAT_NEGATIVE_INFINITY, FLOAT_RESERVED}
)

# Mantissa ranges the encoder uses. With exponent 0 the special words sit at
# -2048..-2046 and 2046..2047 (SFLOAT), so exponent 0 keeps clear of them; every other
# exponent has the whole two's-complement range.
_SFLOAT_EXP0: Final = (-2045, 2045)
_SFLOAT_RANGE: Final = (-2048, 2047)
_FLOAT_EXP0: Final = (-(2**23) + 3, 2**23 - 3)
_FLOAT_RANGE: Final = (-(2**23), 2**23 - 1)

#: Exact integer powers of ten: int / int true division is correctly rounded.
_POW10: Final[tuple[int, ...]] = tuple(10**k for k in range(129))


def _sfloat_value(raw: int) -> float | None:
    if raw in _SFLOAT_SPECIAL:
        return None
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 8:
        return mantissa / _POW10[16 - exponent]
    return float(mantissa * _POW10[exponent])


#: Every SFLOAT word decoded once: decoding is a tuple index.
SFLOAT_TABLE: Final[tuple[float | None, ...]] = tuple(_sfloat_value(raw) for raw in range(0x10000))


def decode_sfloat(raw: int) -> float | None:
    """The value of a 16-bit SFLOAT word; ``None`` for NaN, NRes, +/-INF and reserved."""
    return SFLOAT_TABLE[raw & 0xFFFF]


def decode_float(raw: int) -> float | None:
    """The value of a 32-bit FLOAT word; ``None`` for NaN, NRes, +/-INF and reserved."""
    if raw in _FLOAT_SPECIAL:
        return None
    mantissa = raw & 0x00FFFFFF
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = raw >> 24
    if exponent >= 0x80:
        return mantissa / _POW10[256 - exponent]
    # 10**127 overflows a float long before the exponent runs out.
    try:
        return float(mantissa * _POW10[exponent])
    except OverflowError:
        return None


def _split(
    value: float,
    exp0: tuple[int, int],
    full: tuple[int, int],
    min_exponent: int,
    max_exponent: int,
    what: str,
) -> tuple[int, int]:
    """``(mantissa, exponent)`` of the canonical encoding of a finite ``value``."""
    if value == 0:
        return 0, 0
    low, high = full
    if value.is_integer() and exp0[0] <= value <= exp0[1]:
        return int(value), 0
    if exp0[0] < value < exp0[1]:
        best: tuple[int, int] | None = None
        for k in range(1, -min_exponent + 1):
            mantissa = round(value * _POW10[k])
            if not low <= mantissa <= high:
                break
            best = (mantissa, -k)
            if mantissa / _POW10[k] == value:
                return best
        if best is not None:
            return best if best[0] else (0, 0)
    for exponent in range(max_exponent + 1):
        mantissa = round(value / _POW10[exponent])
        if exponent == 0:
            if exp0[0] <= mantissa <= exp0[1]:
                return mantissa, 0
        elif low <= mantissa <= high:
            return mantissa, exponent
    reason = f"{value!r} is too large for an IEEE-11073 {what}"
    raise EncodeError(what, "value", reason)


def encode_sfloat(value: float | None) -> int:
    """The 16-bit SFLOAT word for ``value`` (``None``/NaN -> NaN; infinities -> +/-INF)."""
    if value is None or math.isnan(value):
        return SFLOAT_NAN
    if math.isinf(value):
        return SFLOAT_POSITIVE_INFINITY if value > 0 else SFLOAT_NEGATIVE_INFINITY
    mantissa, exponent = _split(float(value), _SFLOAT_EXP0, _SFLOAT_RANGE, -8, 7, "SFLOAT")
    return (exponent & 0x0F) << 12 | (mantissa & 0x0FFF)


def encode_float(value: float | None) -> int:
    """The 32-bit FLOAT word for ``value`` (``None``/NaN -> NaN; infinities -> +/-INF)."""
    if value is None or math.isnan(value):
        return FLOAT_NAN
    if math.isinf(value):
        return FLOAT_POSITIVE_INFINITY if value > 0 else FLOAT_NEGATIVE_INFINITY
    mantissa, exponent = _split(float(value), _FLOAT_EXP0, _FLOAT_RANGE, -128, 127, "FLOAT")
    return (exponent & 0xFF) << 24 | (mantissa & 0x00FFFFFF)
