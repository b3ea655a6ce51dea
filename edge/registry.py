"""The device registry: which device belongs to which resident, and how to talk to it (pure).

A station keeps one TOML file (see ``docs/gateway.md`` and ``edge/example-station.toml``)::

    [station]
    id = "st-001"
    timezone = "Asia/Shanghai"     # device clocks carry no offset; they are read in this zone

    [[devices]]
    id = "C4:7C:8D:6A:12:34"       # BLE address, or the device id in its MQTT topic
    kind = "bp_meter"
    transport = "ble"              # ble (GATT connection) | advert (passive) | mqtt
    resident = "R0042"             # the station's own resident id

    [[devices]]
    id = "5C:CA:D3:11:22:33"
    kind = "scale"
    transport = "advert"
    users = { "1" = "R0042", "2" = "R0043" }     # scale user index -> resident
    weight_bands = [                               # for readings without a user index
        { resident = "R0042", min_kg = 55.0, max_kg = 65.0 },
        { resident = "R0043", min_kg = 78.0, max_kg = 90.0 },
    ]

Resident ids here are the station's own; they are pseudonymised before anything leaves
the gateway. A shared scale's reading goes to the resident whose user index it carries;
without one, to the only resident whose weight band holds it; a weight that fits no band
or several is *held* for a person to assign — never guessed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, NoReturn, TypeGuard, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.errors import RegistryError

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"

_E = TypeVar("_E", bound=StrEnum)


class Transport(StrEnum):
    """How the gateway reaches a device."""

    BLE = "ble"
    ADVERT = "advert"
    MQTT = "mqtt"


class Mode(StrEnum):
    """How a connected BLE device delivers readings."""

    NOTIFY = "notify"
    POLL = "poll"


#: Device kinds and the measurements they send (used to validate the file).
DEVICE_KINDS: Final = frozenset(
    {
        "hr_band",
        "bp_meter",
        "scale",
        "body_scale",
        "oximeter",
        "thermometer",
        "glucose_meter",
        "step_counter",
    }
)


@dataclass(frozen=True, slots=True)
class WeightBand:
    """A resident's expected weight range on a shared scale."""

    resident: str
    min_kg: float
    max_kg: float

    def holds(self, weight_kg: float) -> bool:
        """True when the weight is inside the band (both ends included)."""
        return self.min_kg <= weight_kg <= self.max_kg


@dataclass(frozen=True, slots=True)
class Device:
    """One registered device."""

    id: str
    kind: str
    transport: Transport
    resident: str | None = None
    users: Mapping[int, str] = field(default_factory=dict)
    weight_bands: tuple[WeightBand, ...] = ()
    pairing: bool = False
    mode: Mode = Mode.NOTIFY
    poll_interval_s: float = 300.0
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    #: the unit a device really sends when its flags lie, e.g. {"weight": "jin"}
    units: Mapping[str, str] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        """True for devices several residents use (user indices or weight bands)."""
        return bool(self.users or self.weight_bands)


@dataclass(frozen=True, slots=True)
class Assigned:
    """The reading belongs to this resident (station id, not yet pseudonymised)."""

    resident: str


@dataclass(frozen=True, slots=True)
class Held:
    """Nobody can be sure whose reading this is; a person must assign it."""

    reason: str


class Registry:
    """Devices by id, with the rules that map a reading to a resident."""

    def __init__(self, station_id: str, timezone: ZoneInfo, devices: list[Device]) -> None:
        self.station_id = station_id
        self.timezone = timezone
        self._devices = {_normalise(d.id): d for d in devices}

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Any:
        return iter(self._devices.values())

    def lookup(self, device_id: str) -> Device | None:
        """The device with this id (BLE addresses match in any letter case)."""
        return self._devices.get(_normalise(device_id))

    def resident_for(
        self, device: Device, *, user_index: int | None, weight_kg: float | None
    ) -> Assigned | Held:
        """Whose reading this is, or why a person has to decide."""
        if not device.shared:
            if device.resident is None:
                return Held(f"device {device.id} has no resident in the registry")
            return Assigned(device.resident)
        if user_index is not None:
            if user_index in device.users:
                return Assigned(device.users[user_index])
            if not device.weight_bands:
                return Held(f"user index {user_index} is not registered on {device.id}")
        if weight_kg is None:
            return Held(f"shared device {device.id} sent no user index and no weight")
        fitting = [band.resident for band in device.weight_bands if band.holds(weight_kg)]
        if len(fitting) == 1:
            return Assigned(fitting[0])
        if not fitting:
            return Held(f"{weight_kg:.1f} kg fits no registered resident of {device.id}")
        return Held(f"{weight_kg:.1f} kg fits {len(fitting)} residents of {device.id}")


def load_registry(text: str) -> Registry:
    """Parse and validate a registry file's text.

    Raises:
        RegistryError: the file is not valid TOML or a key is missing or wrong;
            ``.key`` names it (``devices[2].transport``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _bad("(file)", f"not valid TOML: {exc}")
    _only(data, {"station", "devices"}, "")
    station = _table(data, "station")
    _only(station, {"id", "timezone"}, "station.")
    station_id = _string(station, "id", "station.id")
    timezone = _zone(station.get("timezone", DEFAULT_TIMEZONE), "station.timezone")
    raw_devices = data.get("devices", [])
    if not isinstance(raw_devices, list):
        _bad("devices", "expected an array of [[devices]] tables")
    devices = [_device(d, f"devices[{i}]", timezone) for i, d in enumerate(raw_devices)]
    seen: dict[str, str] = {}
    for i, device in enumerate(devices):
        key = _normalise(device.id)
        if key in seen:
            _bad(f"devices[{i}].id", f"{device.id} is registered twice")
        seen[key] = device.id
    return Registry(station_id, timezone, devices)


def _device(raw: object, path: str, station_zone: ZoneInfo) -> Device:
    if not isinstance(raw, dict):
        _bad(path, "expected a table")
    known = {
        "id", "kind", "transport", "resident", "users", "weight_bands",
        "pairing", "mode", "poll_interval_s", "timezone", "units",
    }  # fmt: skip
    _only(raw, known, f"{path}.")
    kind = _string(raw, "kind", f"{path}.kind")
    if kind not in DEVICE_KINDS:
        _bad(f"{path}.kind", f"{kind!r} is not one of {', '.join(sorted(DEVICE_KINDS))}")
    transport = _choice(Transport, raw.get("transport"), f"{path}.transport")
    resident = raw.get("resident")
    if resident is not None and (not isinstance(resident, str) or not resident.strip()):
        _bad(f"{path}.resident", "expected the station's resident id (a string)")
    users = _users(raw.get("users", {}), f"{path}.users")
    bands = _bands(raw.get("weight_bands", []), f"{path}.weight_bands")
    if resident is None and not users and not bands:
        _bad(path, "give a resident, or users / weight_bands for a shared device")
    if resident is not None and (users or bands):
        _bad(path, "a device has either one resident or users / weight_bands")
    pairing = raw.get("pairing", False)
    if not isinstance(pairing, bool):
        _bad(f"{path}.pairing", "expected true or false")
    interval = raw.get("poll_interval_s", 300.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        _bad(f"{path}.poll_interval_s", "expected a positive number of seconds")
    return Device(
        id=_string(raw, "id", f"{path}.id"),
        kind=kind,
        transport=transport,
        resident=resident.strip() if isinstance(resident, str) else None,
        users=users,
        weight_bands=bands,
        pairing=pairing,
        mode=_choice(Mode, raw.get("mode", "notify"), f"{path}.mode"),
        poll_interval_s=float(interval),
        timezone=_zone(raw["timezone"], f"{path}.timezone") if "timezone" in raw else station_zone,
        units=_units(raw.get("units", {}), f"{path}.units"),
    )


def _users(raw: object, path: str) -> dict[int, str]:
    if not isinstance(raw, dict):
        _bad(path, 'expected a table such as { "1" = "R0042" }')
    users: dict[int, str] = {}
    for index, resident in raw.items():
        if not str(index).isdigit() or not 0 <= int(index) < 0xFF:
            _bad(f"{path}.{index}", "user indices are numbers 0-254")
        if not isinstance(resident, str) or not resident.strip():
            _bad(f"{path}.{index}", "expected the station's resident id")
        users[int(index)] = resident.strip()
    return users


#: Units a device's readings can be overridden to, per quantity.
UNIT_OVERRIDES: Final = {
    "weight": ("kg", "lb", "jin"),
    "temperature": ("C", "F"),
    "pressure": ("mmHg", "kPa"),
}


def _units(raw: object, path: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        _bad(path, 'expected a table such as { weight = "jin" }')
    for quantity, unit in raw.items():
        allowed = UNIT_OVERRIDES.get(quantity)
        if allowed is None:
            _bad(f"{path}.{quantity}", f"overridable quantities: {', '.join(UNIT_OVERRIDES)}")
        if unit not in allowed:
            _bad(f"{path}.{quantity}", f"{unit!r} is not one of: {', '.join(allowed)}")
    return dict(raw)


def _bands(raw: object, path: str) -> tuple[WeightBand, ...]:
    if not isinstance(raw, list):
        _bad(path, "expected an array of { resident, min_kg, max_kg }")
    bands = []
    for i, band in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(band, dict):
            _bad(where, "expected { resident, min_kg, max_kg }")
        resident = _string(band, "resident", f"{where}.resident")
        low, high = band.get("min_kg"), band.get("max_kg")
        if not _number(low) or not _number(high):
            _bad(where, "min_kg and max_kg must be numbers")
        if not 2 <= low < high <= 400:
            _bad(where, "expected 2 <= min_kg < max_kg <= 400")
        bands.append(WeightBand(resident, float(low), float(high)))
    return tuple(bands)


def _only(data: Mapping[str, Any], known: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        _bad(f"{prefix}{unknown[0]}", f"unknown key; known: {', '.join(sorted(known))}")


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        _bad(key, f"missing [{key}] table")
    return value


def _string(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        _bad(path, "missing or empty")
    return value.strip()


def _choice(enum: type[_E], value: object, path: str) -> _E:
    if isinstance(value, str) and value in {m.value for m in enum}:
        return enum(value)
    choices = ", ".join(m.value for m in enum)
    _bad(path, f"{value!r} is not one of: {choices}")


def _zone(name: object, path: str) -> ZoneInfo:
    if not isinstance(name, str):
        _bad(path, "expected an IANA time zone such as 'Asia/Shanghai'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        _bad(path, f"unknown time zone {name!r}")


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bad(key: str, message: str) -> NoReturn:
    raise RegistryError(key, message)


def _normalise(device_id: str) -> str:
    return device_id.strip().upper()
