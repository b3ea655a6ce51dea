"""The observation: one device measurement on the wire (versioned JSON).

Every reading the gateway takes becomes one ``Observation``; it is the message on the
``readings`` topic, keyed by ``subject_id``. The JSON looks like::

    {"schema": 1, "observation_id": "6f1c...", "station_id": "st-001",
     "subject_id": "9b2e...", "device_id": "C4:7C:8D:6A:12:34", "device_kind": "bp_meter",
     "kind": "blood_pressure", "values": {"systolic_mmhg": 138.0, "diastolic_mmhg": 88.0},
     "measured_at": "2026-11-27T07:31:02Z", "received_at": "2026-11-27T07:31:04.118000Z",
     "source": "ble", "flags": {"irregular_pulse": false}}

Rules the constructor enforces (a broken rule raises ``ObservationError`` naming the field):

* ``subject_id`` is a pseudonym (see :mod:`carepulse.pseudonym`), never a raw id;
* ``values`` names carry their unit (``systolic_mmhg``, ``weight_kg``, ``rr_intervals_s``) and
  hold finite numbers, booleans, short strings, ``null`` or lists of numbers;
* both timestamps are timezone-aware and are kept in UTC; ``measured_at`` is the device's
  clock (it may be wrong: the stream flags it), ``received_at`` the gateway's;
* ``observation_id`` is deterministic (:func:`observation_id_for`), so a resent measurement
  gets the same id and is dropped downstream as a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, NoReturn, TypeVar

from carepulse.errors import ObservationError
from carepulse.pseudonym import is_pseudonym

SCHEMA_VERSION: Final = 1

#: A value in ``values``: numbers in SI-style units, flags, short labels, or a series.
Value = float | int | bool | str | None | tuple[float, ...]
#: A device flag in ``flags`` (status bits, sensor states).
Flag = bool | int | str | None

_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_STATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAX_DEVICE_ID = 128
_MAX_STRING_VALUE = 64
_MAX_SERIES = 1024


class Kind(StrEnum):
    """What was measured."""

    HEART_RATE = "heart_rate"
    BLOOD_PRESSURE = "blood_pressure"
    WEIGHT = "weight"
    BODY_COMPOSITION = "body_composition"
    SPO2 = "spo2"
    TEMPERATURE = "temperature"
    GLUCOSE = "glucose"
    STEPS = "steps"


class Source(StrEnum):
    """How the reading reached the gateway."""

    BLE = "ble"
    MQTT = "mqtt"
    SIM = "sim"


@dataclass(frozen=True, slots=True)
class Observation:
    """One device measurement, validated on construction."""

    observation_id: str
    station_id: str
    subject_id: str
    device_id: str
    device_kind: str
    kind: Kind
    values: Mapping[str, Value]
    measured_at: datetime
    received_at: datetime
    source: Source
    flags: Mapping[str, Flag] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_schema(self.schema)
        if not isinstance(self.observation_id, str) or not _ID.fullmatch(self.observation_id):
            invalid("observation_id", "expected 32 lowercase hex characters (observation_id_for)")
        if not isinstance(self.station_id, str) or not _STATION.fullmatch(self.station_id):
            invalid("station_id", "expected 1-64 characters of letters, digits, '_', '.', '-'")
        if not isinstance(self.subject_id, str) or not is_pseudonym(self.subject_id):
            invalid(
                "subject_id",
                "expected a pseudonym (32 lowercase hex, carepulse.pseudonym.pseudonymise); "
                "raw resident ids must never reach the wire",
            )
        if not isinstance(self.device_id, str) or not self.device_id.isprintable():
            invalid("device_id", "expected a printable string")
        if not 0 < len(self.device_id) <= _MAX_DEVICE_ID:
            invalid("device_id", f"expected 1-{_MAX_DEVICE_ID} characters")
        if not isinstance(self.device_kind, str) or not _NAME.fullmatch(self.device_kind):
            invalid("device_kind", "expected a snake_case name such as 'bp_meter'")
        object.__setattr__(self, "kind", choice(Kind, self.kind, "kind"))
        object.__setattr__(self, "source", choice(Source, self.source, "source"))
        object.__setattr__(self, "values", _check_values(self.values))
        object.__setattr__(self, "flags", _check_flags(self.flags))
        object.__setattr__(self, "measured_at", _utc(self.measured_at, "measured_at"))
        object.__setattr__(self, "received_at", _utc(self.received_at, "received_at"))

    @classmethod
    def create(
        cls,
        *,
        station_id: str,
        subject_id: str,
        device_id: str,
        device_kind: str,
        kind: Kind | str,
        values: Mapping[str, Value | Sequence[float]],
        measured_at: datetime,
        received_at: datetime,
        source: Source | str,
        flags: Mapping[str, Flag] | None = None,
    ) -> Observation:
        """Build an observation whose id is derived from the measurement itself."""
        checked_kind = choice(Kind, kind, "kind")
        checked_values = _check_values(values)
        measured = _utc(measured_at, "measured_at")
        return cls(
            observation_id=observation_id_for(device_id, checked_kind, measured, checked_values),
            station_id=station_id,
            subject_id=subject_id,
            device_id=device_id,
            device_kind=device_kind,
            kind=checked_kind,
            values=checked_values,
            measured_at=measured,
            received_at=received_at,
            source=choice(Source, source, "source"),
            flags=dict(flags or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form (lists for series, ISO 8601 UTC timestamps with ``Z``)."""
        return {
            "schema": self.schema,
            "observation_id": self.observation_id,
            "station_id": self.station_id,
            "subject_id": self.subject_id,
            "device_id": self.device_id,
            "device_kind": self.device_kind,
            "kind": self.kind.value,
            "values": {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()},
            "measured_at": format_time(self.measured_at),
            "received_at": format_time(self.received_at),
            "source": self.source.value,
            "flags": dict(self.flags),
        }

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, the bytes that go on the wire."""
        return json.dumps(self.as_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        """Validate a decoded JSON object; errors name the offending field."""
        if not isinstance(data, Mapping):
            invalid("(root)", f"expected a JSON object, got {type(data).__name__}")
        _check_schema(data.get("schema"))
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            invalid(unknown[0], "unknown field for schema 1")
        missing = [f for f in _REQUIRED if f not in data]
        if missing:
            invalid(missing[0], "missing")
        observation = cls(
            observation_id=data["observation_id"],
            station_id=data["station_id"],
            subject_id=data["subject_id"],
            device_id=data["device_id"],
            device_kind=data["device_kind"],
            kind=data["kind"],
            values=data["values"],
            measured_at=parse_time(data["measured_at"], "measured_at"),
            received_at=parse_time(data["received_at"], "received_at"),
            source=data["source"],
            flags=data.get("flags", {}),
        )
        return observation

    @classmethod
    def from_json(cls, raw: bytes | str) -> Observation:
        """Parse and validate wire bytes; any defect raises ``ObservationError``."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            invalid("(root)", f"not valid JSON: {exc}")
        return cls.from_dict(data)


_E = TypeVar("_E", bound=StrEnum)

_REQUIRED: Final = (
    "observation_id",
    "station_id",
    "subject_id",
    "device_id",
    "device_kind",
    "kind",
    "values",
    "measured_at",
    "received_at",
    "source",
)


def observation_id_for(
    device_id: str, kind: Kind | str, measured_at: datetime, values: Mapping[str, Value]
) -> str:
    """The deterministic id of a measurement: same device, time and values, same id.

    The id is the first 128 bits (hex) of SHA-256 over a canonical JSON array of the
    device id, the kind, the measured time (UTC, microseconds) and the values with
    sorted keys. The subject and station are left out on purpose: re-registering a
    device to another resident must not make an old reading look new.
    """
    canonical = json.dumps(
        [
            device_id,
            str(kind),
            format_time(_utc(measured_at, "measured_at")),
            {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(values.items())},
        ],
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix; microseconds only when non-zero."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def parse_time(value: object, field_name: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a UTC offset (``Z`` or ``+08:00``)."""
    if not isinstance(value, str):
        invalid(field_name, f"expected an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        invalid(field_name, f"{value!r} is not an ISO 8601 timestamp")
    return _utc(parsed, field_name)


def invalid(field_name: str, message: str) -> NoReturn:
    """Raise ``ObservationError`` for ``field_name`` (shared by the wire models)."""
    raise ObservationError(field_name, message)


def _check_schema(schema: object) -> None:
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        invalid("schema", f"unsupported version {schema!r}; this reader knows {SCHEMA_VERSION}")


def choice(enum: type[_E], value: object, field_name: str) -> _E:
    """``enum(value)`` for a string member value, else ``ObservationError`` naming the field."""
    try:
        if isinstance(value, str):
            return enum(value)
    except ValueError:
        pass
    choices = ", ".join(m.value for m in enum)
    invalid(field_name, f"{value!r} is not one of: {choices}")


def _utc(moment: object, field_name: str) -> datetime:
    if not isinstance(moment, datetime):
        invalid(field_name, f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        invalid(field_name, "timestamp has no UTC offset; a naive time is ambiguous")
    return moment.astimezone(UTC)


def _check_values(values: object) -> dict[str, Value]:
    if not isinstance(values, Mapping) or not values:
        invalid("values", "expected a non-empty object of named values")
    checked: dict[str, Value] = {}
    for name, value in values.items():
        path = f"values.{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            invalid(path, "value names are snake_case with their unit, e.g. 'weight_kg'")
        checked[name] = _check_value(value, path)
    return checked


def _check_value(value: object, path: str) -> Value:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            invalid(path, "NaN and infinities are not numbers; send null for 'no value'")
        return value
    if isinstance(value, str):
        if len(value) > _MAX_STRING_VALUE:
            invalid(path, f"strings are labels of at most {_MAX_STRING_VALUE} characters")
        return value
    if isinstance(value, list | tuple):
        if len(value) > _MAX_SERIES:
            invalid(path, f"a series holds at most {_MAX_SERIES} numbers")
        series: list[float] = []
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int | float):
                invalid(f"{path}[{index}]", "series hold numbers only")
            if not math.isfinite(item):
                invalid(f"{path}[{index}]", "NaN and infinities are not numbers")
            series.append(item)
        return tuple(series)
    invalid(path, f"unsupported value type {type(value).__name__}")


def _check_flags(flags: object) -> dict[str, Flag]:
    if not isinstance(flags, Mapping):
        invalid("flags", "expected an object")
    checked: dict[str, Flag] = {}
    for name, value in flags.items():
        path = f"flags.{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            invalid(path, "flag names are snake_case")
        if value is not None and not isinstance(value, bool | int | str):
            invalid(path, "flags are booleans, integers, short strings or null")
        if isinstance(value, str) and len(value) > _MAX_STRING_VALUE:
            invalid(path, f"strings are labels of at most {_MAX_STRING_VALUE} characters")
        checked[name] = value
    return checked
