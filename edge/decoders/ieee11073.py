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

# Largest mantissa magnitude the encoder uses: the special words sit at +/-2046..2048
# (SFLOAT) and +/-(2**23 - 2)..2**23 (FLOAT), so the encoder never comes near them.
_SFLOAT_MAX_MANTISSA: Final = 2045
_FLOAT_MAX_MANTISSA: Final = 2**23 - 3

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
    value: float, max_mantissa: int, min_exponent: int, max_exponent: int, what: str
) -> tuple[int, int]:
    """``(mantissa, exponent)`` of the canonical encoding of a finite ``value``."""
    if value == 0:
        return 0, 0
    if value.is_integer() and abs(value) <= max_mantissa:
        return int(value), 0
    if abs(value) < max_mantissa:
        best: tuple[int, int] | None = None
        for k in range(1, -min_exponent + 1):
            mantissa = round(value * _POW10[k])
            if abs(mantissa) > max_mantissa:
                break
            best = (mantissa, -k)
            if mantissa / _POW10[k] == value:
                return best
        if best is not None:
            return best if best[0] else (0, 0)
    for exponent in range(max_exponent + 1):
        mantissa = round(value / _POW10[exponent])
        if abs(mantissa) <= max_mantissa:
            return mantissa, exponent
    reason = f"{value!r} is too large for an IEEE-11073 {what}"
    raise EncodeError(what, "value", reason)


def encode_sfloat(value: float | None) -> int:
    """The 16-bit SFLOAT word for ``value`` (``None``/NaN -> NaN; infinities -> +/-INF)."""
    if value is None or math.isnan(value):
        return SFLOAT_NAN
    if math.isinf(value):
        return SFLOAT_POSITIVE_INFINITY if value > 0 else SFLOAT_NEGATIVE_INFINITY
    mantissa, exponent = _split(float(value), _SFLOAT_MAX_MANTISSA, -8, 7, "SFLOAT")
    return (exponent & 0x0F) << 12 | (mantissa & 0x0FFF)


def encode_float(value: float | None) -> int:
    """The 32-bit FLOAT word for ``value`` (``None``/NaN -> NaN; infinities -> +/-INF)."""
    if value is None or math.isnan(value):
        return FLOAT_NAN
    if math.isinf(value):
        return FLOAT_POSITIVE_INFINITY if value > 0 else FLOAT_NEGATIVE_INFINITY
    mantissa, exponent = _split(float(value), _FLOAT_MAX_MANTISSA, -128, 127, "FLOAT")
    return (exponent & 0xFF) << 24 | (mantissa & 0x00FFFFFF)
