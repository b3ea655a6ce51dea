"""Seams and small helpers shared by every decoder.

* :class:`ByteSerializable`: ``from_bytes()`` / ``__bytes__()``. The gateway decodes with
  a class and the simulators encode with the same class (``bytes(m)``).
* :class:`Measurement`: anything with ``as_dict()``, what ``decode()`` returns.
* :class:`OpenIntEnum`: a code set that accepts values the SIG has not assigned yet
  (``TemperatureType(42)`` is ``TemperatureType.RESERVED_42``, never a ``ValueError``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, NoReturn, Protocol, Self, TypeVar

from edge.errors import DecodeError, EncodeError

#: The JSON-ready form returned by ``as_dict()``.
JsonDict = dict[str, Any]

_T = TypeVar("_T")


class ByteSerializable(Protocol):
    """A value with a wire format: decode with ``from_bytes``, encode with ``bytes()``."""

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode one payload; a bad payload raises ``DecodeError``."""
        ...

    def __bytes__(self) -> bytes:
        """Encode in the canonical wire form."""
        ...


class Measurement(Protocol):
    """A decoded payload."""

    def as_dict(self) -> JsonDict:
        """The JSON-ready fields, named as in DESIGN.md ``carepulse decode``."""
        ...


class Decoder(ByteSerializable, Measurement, Protocol):
    """A class ``decode()`` can dispatch to."""

    #: snake_case SIG name (or vendor name) of the payload.
    NAME: ClassVar[str]


class OpenIntEnum(enum.IntEnum):
    """An ``IntEnum`` that maps unassigned codes to ``RESERVED_<n>`` pseudo-members."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"RESERVED_{value}"
        member._value_ = value
        return member

    @property
    def label(self) -> str:
        """The lower-case name used in JSON (``"finger"``, ``"reserved_42"``)."""
        return str(self._name_).lower()


def code_labels(enum_cls: type[OpenIntEnum]) -> dict[int, str]:
    """``{value: label}`` of an open enum, for fast ``as_dict()`` lookups."""
    return {member.value: member.label for member in enum_cls}


def label_of(labels: dict[int, str], value: int | None) -> str | None:
    """The JSON label of a code (``None`` stays ``None``)."""
    if value is None:
        return None
    label = labels.get(value)
    return label if label is not None else f"reserved_{value}"


class BitNames:
    """Names the bits set in a status word, for ``as_dict()``.

    Named bits appear by their ``IntFlag`` name in lower case, unnamed bits as
    ``bit_<n>``. Results are cached (status words repeat), up to ``CACHE`` values.
    """

    CACHE: ClassVar[int] = 4096

    def __init__(self, flag_cls: type[enum.IntFlag], width: int, skip: int = 0) -> None:
        self._names = tuple(
            (int(member), str(member.name).lower()) for member in flag_cls if not member & skip
        )
        self._known = skip
        for bit, _ in self._names:
            self._known |= bit
        self._width = width
        self._cache: dict[int, tuple[str, ...]] = {}

    def __call__(self, value: int | None) -> list[str] | None:
        """The names of the bits set in ``value`` (``None`` stays ``None``)."""
        if value is None:
            return None
        found = self._cache.get(value)
        if found is None:
            names = [name for bit, name in self._names if value & bit]
            unknown = value & ~self._known
            names.extend(f"bit_{i}" for i in range(self._width) if unknown >> i & 1)
            found = tuple(names)
            if len(self._cache) < self.CACHE:
                self._cache[value] = found
        return list(found)


def truncated(
    characteristic: str, field: str, payload: bytes, needed: int, why: str = ""
) -> NoReturn:
    """Raise the ``DecodeError`` for a payload that ends before ``field``."""
    reason = (
        f"needs {needed} bytes{why} but the payload has {len(payload)}; "
        "the frame is truncated or its flags are wrong"
    )
    raise DecodeError(characteristic, field, payload, reason)


def invalid(characteristic: str, field: str, payload: bytes, reason: str) -> NoReturn:
    """Raise the ``DecodeError`` for a field whose value is not allowed."""
    raise DecodeError(characteristic, field, payload, reason)


def check_range(characteristic: str, field: str, value: int, low: int, high: int) -> int:
    """Return ``value`` if ``low <= value <= high``, else raise ``EncodeError``."""
    if not low <= value <= high:
        reason = f"{value} is outside {low}..{high}"
        raise EncodeError(characteristic, field, reason)
    return value


def fits(characteristic: str, pairs: Iterable[tuple[str, int, int, int]]) -> None:
    """Check several ``(field, value, low, high)`` ranges at once."""
    for field, value, low, high in pairs:
        check_range(characteristic, field, value, low, high)


def fast_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for a frozen slotted dataclass, for ``from_bytes``.

    The ``__init__`` of a frozen dataclass sets each field through
    ``object.__setattr__``; this one calls the slot descriptors directly, which halves
    the cost of building a decoded value. It takes every field, in definition order, and
    checks nothing: only decoders that have validated their fields use it.
    """
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    obj = _new(_cls)"]
    for name in names:
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        lines.append(f"    _set_{name}(obj, {name})")
    lines.append("    return obj")
    # The source is built from the dataclass's own field names, as dataclasses does.
    exec("\n".join(lines), namespace)  # noqa: S102
    make: Callable[..., _T] = namespace["make"]
    return make
