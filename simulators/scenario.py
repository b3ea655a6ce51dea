"""Scenarios: a station, its residents, their devices, habits and events; the planner (pure).

A scenario file (TOML, schema in docs/simulators.md) describes a station over a simulated
period. :func:`load_scenario` validates it into frozen dataclasses; :func:`plan` turns a
scenario, a seed and a start time into a time-ordered list of :class:`Action` s -- what
each virtual device sends and when, already encoded on the wire the way the gateway reads
it (BLE characteristic values with ``bytes(measurement)`` of the ``edge.decoders``
classes; MQTT topics and messages in the gateway's formats). The same plan also yields
the gateway's registry file and the stream's residents file; :mod:`simulators.truth`
derives the ground truth from it.

Times: ``Action.at`` is the simulated instant (UTC) at which a device sends. Devices
whose characteristic carries a time stamp stamp it with their own clock (station local
time, plus the clock error of a ``bad_clock`` event); readings without one (heart rate
0x2A37, the band broadcast) are measured at arrival by the gateway. See
:mod:`simulators.runner` for how simulated time maps onto the wall clock under
acceleration.
"""

from __future__ import annotations

import json
import tomllib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, NoReturn, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from carepulse.pseudonym import pseudonymise
from edge.decoders import (
    BloodPressureMeasurement,
    DateTime,
    GlucoseMeasurement,
    HeartRateMeasurement,
    MiBandHeartRate,
    MiScale,
    PLXSpotCheckMeasurement,
    TemperatureMeasurement,
    WeightMeasurement,
)
from simulators import physiology as phys
from simulators.errors import NoTopicUserError, SimulatorError
from simulators.faults import malform
from simulators.physiology import Condition, Profile

SCHEMA: Final = 1
#: First topic level and proxy name of the simulated BTtoMQTT proxy.
PROXY_BASE: Final = "sim"
PROXY_NAME: Final = "station-proxy"
#: RR intervals per band notification (fits an ATT MTU of 247).
RR_PER_READING: Final = 64
#: mmol/L of glucose -> kg/L (the unit 0x2A18 carries): 18.0156 mg/dL per mmol/L.
MMOL_TO_KG_PER_L: Final = 18.0156e-5
#: Minutes between the extra readings an event asks a resident to take.
EVENT_REPEAT_MIN: Final = 30.0


class ScenarioError(SimulatorError, ValueError):
    """The scenario file is wrong at ``key``; the message says how to fix it."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.reason = message
        super().__init__(f"scenario {key}: {message}")


class DeviceKind(StrEnum):
    """Device kinds a scenario can give a resident (the registry's names)."""

    HR_BAND = "hr_band"
    BP_METER = "bp_meter"
    SCALE = "scale"
    OXIMETER = "oximeter"
    THERMOMETER = "thermometer"
    GLUCOSE_METER = "glucose_meter"


class Link(StrEnum):
    """How a simulated device reaches the gateway.

    ``ble``: a GATT device on the virtual air; ``advert``: a Xiaomi scale heard passively
    on the virtual air; ``mqtt``: a Wi-Fi device publishing to Mosquitto; ``proxy``: a
    Xiaomi scale or band heard by a BLE-to-MQTT proxy (Theengs-style adverts).
    """

    BLE = "ble"
    ADVERT = "advert"
    MQTT = "mqtt"
    PROXY = "proxy"


#: The links each kind supports.
LINKS: Final[Mapping[DeviceKind, frozenset[Link]]] = {
    DeviceKind.HR_BAND: frozenset({Link.BLE, Link.PROXY}),
    DeviceKind.BP_METER: frozenset({Link.BLE, Link.MQTT}),
    DeviceKind.SCALE: frozenset({Link.BLE, Link.ADVERT, Link.MQTT, Link.PROXY}),
    DeviceKind.OXIMETER: frozenset({Link.BLE, Link.MQTT}),
    DeviceKind.THERMOMETER: frozenset({Link.BLE, Link.MQTT}),
    DeviceKind.GLUCOSE_METER: frozenset({Link.BLE, Link.MQTT}),
}

#: Default daily times (local) per kind; the band's default is its wear window.
DEFAULT_TIMES: Final[Mapping[DeviceKind, tuple[str, ...]]] = {
    DeviceKind.BP_METER: ("07:30", "19:30"),
    DeviceKind.SCALE: ("07:00",),
    DeviceKind.OXIMETER: ("08:00", "20:00"),
    DeviceKind.THERMOMETER: ("08:00",),
    DeviceKind.GLUCOSE_METER: ("07:00", "12:30", "18:30"),
}

#: The observation kind each device kind's readings become.
OBSERVATION_KIND: Final[Mapping[DeviceKind, str]] = {
    DeviceKind.HR_BAND: "heart_rate",
    DeviceKind.BP_METER: "blood_pressure",
    DeviceKind.SCALE: "weight",
    DeviceKind.OXIMETER: "spo2",
    DeviceKind.THERMOMETER: "temperature",
    DeviceKind.GLUCOSE_METER: "glucose",
}


class EventType(StrEnum):
    """What can happen to a resident or a device."""

    HYPERTENSIVE_CRISIS = "hypertensive_crisis"
    HYPOXIA = "hypoxia"
    AF_EPISODE = "af_episode"
    TACHYCARDIA = "tachycardia"
    FEVER = "fever"
    HYPOGLYCAEMIA = "hypoglycaemia"
    RAPID_WEIGHT_GAIN = "rapid_weight_gain"
    NO_CHECKIN = "no_checkin"
    DEVICE_UNCHARGED = "device_uncharged"
    BAD_CLOCK = "bad_clock"
    DUPLICATES = "duplicates"
    MALFORMED = "malformed"


#: The device an event needs, and its default duration in hours.
EVENT_DEVICE: Final[Mapping[EventType, DeviceKind | None]] = {
    EventType.HYPERTENSIVE_CRISIS: DeviceKind.BP_METER,
    EventType.HYPOXIA: DeviceKind.OXIMETER,
    EventType.AF_EPISODE: DeviceKind.HR_BAND,
    EventType.TACHYCARDIA: DeviceKind.HR_BAND,
    EventType.FEVER: DeviceKind.THERMOMETER,
    EventType.HYPOGLYCAEMIA: DeviceKind.GLUCOSE_METER,
    EventType.RAPID_WEIGHT_GAIN: DeviceKind.SCALE,
    EventType.NO_CHECKIN: None,
    EventType.DEVICE_UNCHARGED: None,
    EventType.BAD_CLOCK: None,
    EventType.DUPLICATES: None,
    EventType.MALFORMED: None,
}
DEFAULT_DURATION_H: Final[Mapping[EventType, float]] = {
    EventType.HYPERTENSIVE_CRISIS: 2.0,
    EventType.HYPOXIA: 1.0,
    EventType.AF_EPISODE: 4.0,
    EventType.TACHYCARDIA: 2.0,
    EventType.FEVER: 24.0,
    EventType.HYPOGLYCAEMIA: 0.5,
    EventType.RAPID_WEIGHT_GAIN: 72.0,
    EventType.NO_CHECKIN: 87600.0,  # until the end of the period
    EventType.DEVICE_UNCHARGED: 24.0,
    EventType.BAD_CLOCK: 24.0,
    EventType.DUPLICATES: 24.0,
    EventType.MALFORMED: 1.0,
}
#: Event parameters (``value`` and friends) and their defaults.
EVENT_PARAMETERS: Final[Mapping[EventType, Mapping[str, float | str]]] = {
    EventType.HYPERTENSIVE_CRISIS: {"systolic_mmhg": 192.0, "diastolic_mmhg": 114.0},
    EventType.HYPOXIA: {"spo2_percent": 82.0},
    EventType.AF_EPISODE: {"heart_rate_bpm": 92.0},
    EventType.TACHYCARDIA: {"heart_rate_bpm": 118.0},
    EventType.FEVER: {"temperature_c": 38.3},
    EventType.HYPOGLYCAEMIA: {"glucose_mmol_l": 2.6},
    EventType.RAPID_WEIGHT_GAIN: {"gain_kg": 3.5},
    EventType.NO_CHECKIN: {},
    EventType.DEVICE_UNCHARGED: {},
    EventType.BAD_CLOCK: {"clock": "2000-01-01T00:00:00"},
    EventType.DUPLICATES: {"copies": 2.0},
    EventType.MALFORMED: {"count": 3.0, "variant": "truncated"},
}


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device of a resident, with the resident's habit of using it.

    Attributes:
        kind: the device kind.
        link: how it reaches the gateway.
        id: registry id (BLE address or MQTT id); generated when not given.
        times: local times of day the resident measures (not for bands).
        wear_from: band worn from this local time ...
        wear_to: ... to this one.
        every_min: band reading period.
        rr: the band sends RR intervals (an AF-screening band).
        skip: probability that the resident skips one habitual measurement.
    """

    kind: DeviceKind
    link: Link
    id: str
    times: tuple[time, ...] = ()
    wear_from: time = time(7, 0)
    wear_to: time = time(22, 0)
    every_min: float = 15.0
    rr: bool = False
    skip: float = 0.0


@dataclass(frozen=True, slots=True)
class ResidentSpec:
    """One resident of the station (station id, never a name)."""

    id: str
    sex: str
    conditions: frozenset[Condition]
    devices: tuple[DeviceSpec, ...]

    def device(self, kind: DeviceKind) -> DeviceSpec | None:
        """The resident's first device of ``kind``."""
        return next((d for d in self.devices if d.kind is kind), None)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Something that happens to a resident (and maybe one device) for a while."""

    id: str
    type: EventType
    resident: str
    start_h: float
    duration_h: float
    device: DeviceKind | None
    params: Mapping[str, float | str]

    def number(self, name: str) -> float:
        """A numeric parameter."""
        value = self.params[name]
        return float(value) if not isinstance(value, str) else float("nan")


@dataclass(frozen=True, slots=True)
class Station:
    """The simulated station."""

    id: str
    timezone: ZoneInfo
    secret: str
    no_checkin_days: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario file."""

    name: str
    description: str
    seed: int
    days: float
    station: Station
    residents: tuple[ResidentSpec, ...]
    events: tuple[EventSpec, ...]

    def resident(self, resident_id: str) -> ResidentSpec:
        """The resident with this id."""
        return next(r for r in self.residents if r.id == resident_id)

    def pseudonym(self, resident_id: str) -> str:
        """The resident's pseudonym under the station's (simulation) secret."""
        return pseudonymise(resident_id, self.station.secret.encode())


# ----------------------------------------------------------------------- parsing


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file."""
    return parse_scenario(path.read_text(encoding="utf-8"), default_name=path.stem)


def parse_scenario(text: str, *, default_name: str = "scenario") -> Scenario:
    """Validate a scenario document.

    Raises:
        ScenarioError: naming the key at fault (``residents[3].devices[0].link``).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _bad("(file)", f"not valid TOML: {exc}")
    top = {"schema", "name", "description", "seed", "days", "station", "residents", "events"}
    _only(doc, top, "")
    if doc.get("schema", SCHEMA) != SCHEMA:
        _bad("schema", f"this simulator reads schema {SCHEMA}")
    station = _station(doc.get("station"))
    residents: list[ResidentSpec] = []
    counter = _Counter()
    for i, raw in enumerate(_list(doc, "residents")):
        residents.extend(_residents(raw, f"residents[{i}]", counter))
    ids = [r.id for r in residents]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        _bad("residents", f"resident {duplicated[0]} is listed twice")
    if not residents:
        _bad("residents", "a scenario needs at least one resident")
    days = _positive(doc.get("days", 3), "days")
    by_id = {r.id: r for r in residents}
    events = tuple(
        _event(raw, f"events[{i}]", by_id, i) for i, raw in enumerate(_list(doc, "events"))
    )
    seed = doc.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        _bad("seed", "expected a non-negative integer")
    return Scenario(
        name=str(doc.get("name", default_name)),
        description=str(doc.get("description", "")),
        seed=seed,
        days=days,
        station=station,
        residents=tuple(residents),
        events=events,
    )


@dataclass(slots=True)
class _Counter:
    ble: int = 0
    wifi: int = 0


def _station(raw: object) -> Station:
    if not isinstance(raw, dict):
        _bad("station", "missing [station] table")
    _only(raw, {"id", "timezone", "secret", "no_checkin_days"}, "station.")
    station_id = raw.get("id")
    if not isinstance(station_id, str) or not station_id:
        _bad("station.id", "missing or empty")
    zone_name = raw.get("timezone", "Asia/Shanghai")
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        _bad("station.timezone", f"unknown time zone {zone_name!r}")
    secret = raw.get("secret", f"simulation-secret-of-{station_id}")
    if not isinstance(secret, str) or len(secret.encode()) < 16:
        _bad("station.secret", "a simulation secret of at least 16 bytes (never a real one)")
    return Station(
        station_id,
        zone,
        secret,
        _positive(raw.get("no_checkin_days", 3), "station.no_checkin_days"),
    )


def _residents(raw: object, path: str, counter: _Counter) -> list[ResidentSpec]:
    if not isinstance(raw, dict):
        _bad(path, "expected a table")
    _only(raw, {"id", "ids", "sex", "conditions", "devices"}, f"{path}.")
    if ("id" in raw) == ("ids" in raw):
        _bad(path, 'give either id = "R0001" or ids = "R0001-R0010"')
    ids = [str(raw["id"])] if "id" in raw else _id_range(raw["ids"], f"{path}.ids")
    sex = raw.get("sex", "F")
    if sex not in ("M", "F", "alternate"):
        _bad(f"{path}.sex", "M, F or alternate")
    conditions = raw.get("conditions", ["healthy"])
    if not isinstance(conditions, list):
        _bad(f"{path}.conditions", "expected a list")
    try:
        parsed = frozenset(Condition(c) for c in conditions) - {Condition.HEALTHY}
    except ValueError:
        _bad(f"{path}.conditions", f"one of {', '.join(c.value for c in Condition)}")
    out = []
    for n, resident_id in enumerate(ids):
        devices = tuple(
            _device(d, f"{path}.devices[{j}]", resident_id, counter)
            for j, d in enumerate(_list(raw, "devices", path))
        )
        kinds = [d.kind for d in devices]
        if len(set(kinds)) != len(kinds):
            _bad(f"{path}.devices", "one device of each kind per resident")
        resident_sex = ("F" if n % 2 == 0 else "M") if sex == "alternate" else str(sex)
        out.append(ResidentSpec(resident_id, resident_sex, parsed, devices))
    return out


def _id_range(raw: object, path: str) -> list[str]:
    if not isinstance(raw, str) or raw.count("-") != 1:
        _bad(path, 'expected a range such as "R0001-R0010"')
    first, last = raw.split("-")
    prefix = first.rstrip("0123456789")
    if not last.startswith(prefix) or first == prefix:
        _bad(path, "both ends need the same prefix and a number")
    width = len(first) - len(prefix)
    low, high = int(first[len(prefix) :]), int(last[len(prefix) :])
    if not 0 <= high - low < 1000:
        _bad(path, "a range of 1-1000 residents")
    return [f"{prefix}{n:0{width}d}" for n in range(low, high + 1)]


def _time(text: object, path: str) -> time:
    try:
        return time.fromisoformat(str(text))
    except ValueError:
        _bad(path, f"{text!r} is not a local time HH:MM")


def _device(raw: object, path: str, resident: str, counter: _Counter) -> DeviceSpec:
    if not isinstance(raw, dict):
        _bad(path, 'expected a table such as { kind = "bp_meter", link = "ble" }')
    _only(raw, {"kind", "link", "times", "from", "to", "every_min", "rr", "skip"}, f"{path}.")
    try:
        kind = DeviceKind(str(raw.get("kind")))
    except ValueError:
        _bad(f"{path}.kind", f"one of {', '.join(k.value for k in DeviceKind)}")
    try:
        link = Link(raw.get("link", "ble"))
    except ValueError:
        _bad(f"{path}.link", f"one of {', '.join(k.value for k in Link)}")
    if link not in LINKS[kind]:
        allowed = ", ".join(sorted(k.value for k in LINKS[kind]))
        _bad(f"{path}.link", f"a {kind.value} is simulated over: {allowed}")
    if link in (Link.BLE, Link.ADVERT, Link.PROXY):
        counter.ble += 1
        n = counter.ble
        device_id = f"CA:7E:5C:{(n >> 16) & 0xFF:02X}:{(n >> 8) & 0xFF:02X}:{n & 0xFF:02X}"
    else:
        # Numbered, never named after the resident: device ids travel with every reading.
        counter.wifi += 1
        device_id = f"wifi-{kind.value.replace('_', '-')}-{counter.wifi:03d}"
    times = tuple(_time(t, f"{path}.times") for t in raw.get("times", DEFAULT_TIMES.get(kind, ())))
    skip = raw.get("skip", 0.0)
    if not _number(skip) or not 0 <= skip < 1:
        _bad(f"{path}.skip", "a probability 0 <= skip < 1")
    rr = raw.get("rr", False)
    if not isinstance(rr, bool) or (rr and link is not Link.BLE):
        _bad(f"{path}.rr", "true or false; only a BLE band sends RR intervals")
    return DeviceSpec(
        kind=kind,
        link=link,
        id=device_id,
        times=times,
        wear_from=_time(raw.get("from", "07:00"), f"{path}.from"),
        wear_to=_time(raw.get("to", "22:00"), f"{path}.to"),
        every_min=_positive(raw.get("every_min", 15), f"{path}.every_min"),
        rr=rr,
        skip=float(skip),
    )


def _event(raw: object, path: str, residents: Mapping[str, ResidentSpec], index: int) -> EventSpec:
    if not isinstance(raw, dict):
        _bad(path, "expected a table")
    try:
        event_type = EventType(str(raw.get("type")))
    except ValueError:
        _bad(f"{path}.type", f"one of {', '.join(e.value for e in EventType)}")
    defaults = EVENT_PARAMETERS[event_type]
    _only(raw, {"type", "resident", "start_h", "duration_h", "device", *defaults}, f"{path}.")
    resident_id = raw.get("resident")
    if resident_id not in residents:
        _bad(f"{path}.resident", f"{resident_id!r} is not a resident of the scenario")
    resident = residents[str(resident_id)]
    device = EVENT_DEVICE[event_type]
    if "device" in raw:
        try:
            device = DeviceKind(raw["device"])
        except ValueError:
            _bad(f"{path}.device", f"one of {', '.join(k.value for k in DeviceKind)}")
    elif device is None and event_type is not EventType.NO_CHECKIN:
        _bad(f"{path}.device", f"a {event_type.value} event names the device kind it hits")
    if device is not None and resident.device(device) is None:
        _bad(f"{path}.device", f"{resident.id} has no {device.value}")
    start = raw.get("start_h")
    if not _number(start) or start < 0:
        _bad(f"{path}.start_h", "hours since the start of the scenario (>= 0)")
    params: dict[str, float | str] = {}
    for name, default in defaults.items():
        value = raw.get(name, default)
        if isinstance(default, str) != isinstance(value, str) or (
            not isinstance(value, str) and not _number(value)
        ):
            _bad(f"{path}.{name}", f"expected a value like {default!r}")
        params[name] = value if isinstance(value, str) else float(value)
    if event_type is EventType.MALFORMED and params["variant"] not in ("truncated", "implausible"):
        _bad(f"{path}.variant", "truncated or implausible")
    if event_type is EventType.BAD_CLOCK:
        try:
            datetime.fromisoformat(str(params["clock"]))
        except ValueError:
            _bad(f"{path}.clock", "the wrong device time at the event start, ISO 8601")
    if event_type is EventType.AF_EPISODE:
        band = resident.device(DeviceKind.HR_BAND)
        if band is None or not band.rr:
            _bad(f"{path}.resident", "an AF episode needs a band with rr = true")
    return EventSpec(
        id=f"{event_type.value}#{index}",
        type=event_type,
        resident=resident.id,
        start_h=float(start),
        duration_h=_positive(
            raw.get("duration_h", DEFAULT_DURATION_H[event_type]), f"{path}.duration_h"
        ),
        device=device,
        params=params,
    )


def _list(doc: Mapping[str, Any], key: str, path: str = "") -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        _bad(f"{path}.{key}".lstrip("."), "expected an array of tables")
    return value


def _only(data: Mapping[str, Any], known: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        _bad(f"{prefix}{unknown[0]}", f"unknown key; known: {', '.join(sorted(known))}")


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(value: object, path: str) -> float:
    if not _number(value) or value <= 0:
        _bad(path, "expected a positive number")
    return float(value)


def _bad(key: str, message: str) -> NoReturn:
    raise ScenarioError(key, message)


# ------------------------------------------------------------------------- plan


class Op(StrEnum):
    """What a device does in one action."""

    SEND = "send"
    BATTERY = "battery"
    SILENT = "silent"
    WAKE = "wake"


Measurement = (
    HeartRateMeasurement
    | BloodPressureMeasurement
    | WeightMeasurement
    | PLXSpotCheckMeasurement
    | TemperatureMeasurement
    | GlucoseMeasurement
    | MiScale
    | MiBandHeartRate
)


@dataclass(frozen=True, slots=True)
class Action:
    """One thing one device does at one simulated instant.

    Attributes:
        at: simulated time of sending (UTC).
        resident: the resident's station id.
        device_id: the registry id.
        device_kind: the registry kind.
        link: how it reaches the gateway.
        op: send a reading, set the battery, go silent or come back.
        name: the ``carepulse decode`` name of the payload.
        measurement: the reading (decoder dataclass) as the device stamps it.
        payload: BLE: the characteristic value / service data; MQTT: the message.
        topic: the MQTT topic (MQTT and proxy links).
        copies: how many times the device sends it (duplicate rebroadcasts: 2+).
        malformed: the payload is cut (the gateway rejects it).
        implausible: a decodable value outside the plausible range (the stream rejects it).
        measured_at: when the reading was really taken (UTC); ``None`` when the
            characteristic has no time stamp (the gateway stamps it on arrival).
        clock_suspect: the device stamped it with a clock the pipeline must distrust.
        battery: battery level for ``Op.BATTERY``.
        event: the event that shaped this action, if any.
    """

    at: datetime
    resident: str
    device_id: str
    device_kind: DeviceKind
    link: Link
    op: Op = Op.SEND
    name: str = ""
    measurement: Measurement | None = None
    payload: bytes = b""
    topic: str | None = None
    copies: int = 1
    malformed: bool = False
    implausible: bool = False
    measured_at: datetime | None = None
    clock_suspect: bool = False
    battery: int | None = None
    event: str | None = None

    @property
    def observation_kind(self) -> str:
        """The observation kind a good reading of this action becomes."""
        return OBSERVATION_KIND[self.device_kind]


@dataclass(frozen=True, slots=True)
class Plan:
    """A scenario planned for one seed and start."""

    scenario: Scenario
    seed: int
    start: datetime
    end: datetime
    actions: tuple[Action, ...]
    profiles: Mapping[str, Profile] = field(default_factory=dict)

    @property
    def period(self) -> timedelta:
        """The simulated period."""
        return self.end - self.start

    def mqtt_users(self) -> dict[str, tuple[str, ...]]:
        """The MQTT users the plan's messages need, by role (``device``, ``proxy``).

        Each message is published by the user the broker's ACL lets use its topic
        (:func:`topic_user`), in order of first use.
        """
        users: dict[str, dict[str, None]] = {"device": {}, "proxy": {}}
        for action in self.actions:
            if action.topic is not None:
                role, name = topic_user(action.topic)
                users[role][name] = None
        return {role: tuple(names) for role, names in users.items()}

    @property
    def gateway_user(self) -> str:
        """The MQTT user of the station's gateway, ``gateway-<station id>``."""
        return f"gateway-{self.scenario.station.id}"

    def registry_toml(self) -> str:
        """The gateway's registry file for the scenario's devices."""
        station = self.scenario.station
        lines = [
            f"# Generated by carepulse simulate from scenario {self.scenario.name!r}; do not edit.",
            "[station]",
            f'id = "{station.id}"',
            f'timezone = "{station.timezone.key}"',
        ]
        for resident in self.scenario.residents:
            for device in resident.devices:
                transport = {
                    Link.BLE: "ble",
                    Link.ADVERT: "advert",
                    Link.PROXY: "advert",
                    Link.MQTT: "mqtt",
                }[device.link]
                lines += [
                    "",
                    "[[devices]]",
                    f'id = "{device.id}"',
                    f'kind = "{device.kind.value}"',
                    f'transport = "{transport}"',
                    f'resident = "{resident.id}"',
                ]
        return "\n".join(lines) + "\n"

    def residents_toml(self) -> str:
        """The stream worker's residents file (pseudonyms, cohorts, heights, overrides)."""
        station = self.scenario.station
        lines = [
            f"# Generated by carepulse simulate from scenario {self.scenario.name!r}.",
            "[cohorts.all]",
            f"no_checkin_days = {station.no_checkin_days:g}",
        ]
        for resident in self.scenario.residents:
            profile = self.profiles[resident.id]
            cohorts = ["all"]
            cohorts += sorted(
                c.value.replace("diabetes", "diabetic")
                for c in resident.conditions
                if c is not Condition.HEALTHY
            )
            lines += [
                "",
                f'[residents."{self.scenario.pseudonym(resident.id)}"]',
                f"cohorts = {json.dumps(cohorts)}",
                f"height_m = {profile.height_m}",
            ]
            if Condition.COPD in resident.conditions:
                lines.append("rules = { settings = { spo2_scale = 2 } }")
        return "\n".join(lines) + "\n"


def topic_user(topic: str) -> tuple[str, str]:
    """The role and name of the only MQTT user the broker lets publish on ``topic``.

    ``carepulse/devices/<id>/...`` belongs to the device user ``<id>``,
    ``<base>/<proxy>/BTtoMQTT/...`` to the proxy user ``<proxy>`` (docs/security.md).
    """
    levels = topic.split("/")
    if len(levels) >= 4 and levels[:2] == ["carepulse", "devices"] and levels[2]:
        return "device", levels[2]
    if len(levels) >= 4 and levels[2] == "BTtoMQTT" and levels[1]:
        return "proxy", levels[1]
    raise NoTopicUserError(topic)


def plan(
    scenario: Scenario,
    *,
    start: datetime,
    seed: int | None = None,
    days: float | None = None,
) -> Plan:
    """The time-ordered actions of ``scenario`` from ``start`` (aware) for ``days``.

    Deterministic: the same scenario, seed, start and days give the same plan. Each
    resident and each device draws from its own random stream, so adding a resident or
    a device does not change anyone else's readings.
    """
    if start.tzinfo is None:
        msg = "plan(start=...) needs an aware datetime"
        raise ValueError(msg)
    seed = scenario.seed if seed is None else seed
    period = timedelta(days=scenario.days if days is None else min(days, scenario.days))
    start = start.astimezone(UTC)
    end = start + period
    actions: list[Action] = []
    profiles: dict[str, Profile] = {}
    for resident in scenario.residents:
        rng = _rng(seed, resident.id, "profile")
        profile = phys.draw_profile(rng, resident.conditions, sex=resident.sex)
        profiles[resident.id] = profile
        events = [e for e in scenario.events if e.resident == resident.id]
        planner = _ResidentPlanner(scenario, resident, profile, events, seed, start, end)
        actions.extend(planner.actions())
    actions.sort(key=lambda a: (a.at, a.device_id, a.op.value))
    return Plan(scenario, seed, start, end, tuple(actions), profiles)


def _rng(seed: int, *labels: str) -> np.random.Generator:
    words = [seed, *(zlib.crc32(label.encode()) for label in labels)]
    return np.random.default_rng(words)


@dataclass(frozen=True, slots=True)
class _Window:
    event: EventSpec
    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class _ResidentPlanner:
    """Plans one resident's devices (internal; the module's public face is :func:`plan`)."""

    def __init__(
        self,
        scenario: Scenario,
        resident: ResidentSpec,
        profile: Profile,
        events: Sequence[EventSpec],
        seed: int,
        start: datetime,
        end: datetime,
    ) -> None:
        self.scenario = scenario
        self.zone = scenario.station.timezone
        self.resident = resident
        self.profile = profile
        self.seed = seed
        self.start = start
        self.end = end
        self._sequence = 0
        self.windows = [
            _Window(
                e,
                start + timedelta(hours=e.start_h),
                min(start + timedelta(hours=e.start_h + e.duration_h), end),
            )
            for e in events
            if start + timedelta(hours=e.start_h) < end
        ]

    # -- helpers ----------------------------------------------------------------------
    def _active(self, moment: datetime, *types: EventType) -> _Window | None:
        return next((w for w in self.windows if w.event.type in types and w.holds(moment)), None)

    def _device_event(
        self, device: DeviceSpec, moment: datetime, kind: EventType
    ) -> _Window | None:
        return next(
            (
                w
                for w in self.windows
                if w.event.type is kind and w.event.device is device.kind and w.holds(moment)
            ),
            None,
        )

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def _hour(self, moment: datetime) -> float:
        local = self._local(moment)
        return local.hour + local.minute / 60 + local.second / 3600

    def _days(self) -> list[datetime]:
        first = self._local(self.start).replace(hour=0, minute=0, second=0, microsecond=0)
        days = []
        day = first
        while day < self.end:
            days.append(day)
            day = (day + timedelta(days=1, hours=2)).replace(hour=0)
        return days

    def _stamp(self, device: DeviceSpec, moment: datetime) -> tuple[DateTime, bool]:
        """The device's time stamp for a reading taken at ``moment``, and whether it is off."""
        local = self._local(moment).replace(tzinfo=None)
        window = self._device_event(device, moment, EventType.BAD_CLOCK)
        if window is None:
            return DateTime.from_datetime(local), False
        wrong = datetime.fromisoformat(str(window.event.params["clock"])).replace(tzinfo=None)
        drift = moment - window.start
        return DateTime.from_datetime(wrong + drift), True

    def _silent(self, device: DeviceSpec, moment: datetime) -> bool:
        if self._active(moment, EventType.NO_CHECKIN) is not None:
            return True
        window = self._device_event(device, moment, EventType.DEVICE_UNCHARGED)
        # The battery dies a quarter of the way into the event and stays dead to its end.
        return window is not None and moment >= window.start + (window.end - window.start) / 4

    # -- schedule ---------------------------------------------------------------------
    def actions(self) -> list[Action]:
        out: list[Action] = []
        for device in self.resident.devices:
            rng = _rng(self.seed, self.resident.id, device.kind.value)
            for moment in self._schedule(device, rng):
                if moment < self.start or moment >= self.end or self._silent(device, moment):
                    continue
                out.extend(self._reading(device, moment, rng))
            out.extend(self._device_faults(device))
        return out

    def _schedule(self, device: DeviceSpec, rng: np.random.Generator) -> list[datetime]:
        moments: list[datetime] = []
        if device.kind is DeviceKind.HR_BAND:
            for day in self._days():
                moment = day.replace(hour=device.wear_from.hour, minute=device.wear_from.minute)
                stop = day.replace(hour=device.wear_to.hour, minute=device.wear_to.minute)
                while moment < stop:
                    moments.append(moment.astimezone(UTC))
                    moment += timedelta(minutes=device.every_min)
        else:
            for day in self._days():
                for at in device.times:
                    jitter = phys.truncated_normal(rng, 8.0)
                    skipped = rng.random() < device.skip
                    moment = day.replace(hour=at.hour, minute=at.minute) + timedelta(minutes=jitter)
                    if not skipped:
                        moments.append(moment.astimezone(UTC).replace(microsecond=0))
        for window in self.windows:
            event = window.event
            if event.device is not device.kind:
                continue
            if event.type in (
                EventType.HYPERTENSIVE_CRISIS,
                EventType.HYPOXIA,
                EventType.HYPOGLYCAEMIA,
            ):
                count = 2 if event.type is EventType.HYPOGLYCAEMIA else 3
                for n in range(count):
                    moments.append(window.start + timedelta(minutes=EVENT_REPEAT_MIN * n))
            elif event.type is EventType.FEVER:
                moment = window.start
                while moment < window.end:
                    moments.append(moment)
                    moment += timedelta(hours=4)
            elif event.type is EventType.MALFORMED:
                for n in range(int(event.number("count"))):
                    moments.append(window.start + timedelta(minutes=10 * n, seconds=1))
        return sorted(set(moments))

    def _reading(
        self, device: DeviceSpec, moment: datetime, rng: np.random.Generator
    ) -> list[Action]:
        malformed = next(
            (
                w
                for w in self.windows
                if w.event.type is EventType.MALFORMED
                and w.event.device is device.kind
                and any(
                    moment == w.start + timedelta(minutes=10 * n, seconds=1)
                    for n in range(int(w.event.number("count")))
                )
            ),
            None,
        )
        implausible = malformed is not None and malformed.event.params["variant"] == "implausible"
        measurement, event = self._measurement(device, moment, rng, implausible=implausible)
        stamp_event = self._device_event(device, moment, EventType.BAD_CLOCK)
        duplicates = self._device_event(device, moment, EventType.DUPLICATES)
        copies = int(duplicates.event.number("copies")) if duplicates else 1
        if malformed is not None:
            event = malformed.event.id
        elif duplicates is not None:
            event = duplicates.event.id
        elif stamp_event is not None and _stamped(measurement):
            event = stamp_event.event.id
        truncated = malformed is not None and not implausible
        name, payload, topic = self._wire(device, measurement, truncated=truncated)
        return [
            Action(
                at=moment,
                resident=self.resident.id,
                device_id=device.id,
                device_kind=device.kind,
                link=device.link,
                name=name,
                measurement=measurement,
                payload=payload,
                topic=topic,
                copies=copies,
                malformed=malformed is not None and not implausible,
                implausible=implausible,
                measured_at=moment if _stamped(measurement) else None,
                clock_suspect=stamp_event is not None and _stamped(measurement),
                event=event,
            )
        ]

    def _measurement(
        self, device: DeviceSpec, moment: datetime, rng: np.random.Generator, *, implausible: bool
    ) -> tuple[Measurement, str | None]:
        profile, hour = self.profile, self._hour(moment)
        stamp, _ = self._stamp(device, moment)
        kind = device.kind
        event: str | None = None
        if kind is DeviceKind.HR_BAND:
            level = phys.activity(rng, hour)
            af = self._active(moment, EventType.AF_EPISODE)
            tachy = self._active(moment, EventType.TACHYCARDIA)
            fever = self._active(moment, EventType.FEVER)
            bpm = phys.heart_rate(rng, profile, hour, level)
            if fever is not None:
                bpm = min(bpm + 8.0, phys.HR_CAP_BPM)
            if tachy is not None:
                bpm = tachy.event.number("heart_rate_bpm") + phys.truncated_normal(rng, 3.0)
                event = tachy.event.id
            rr: tuple[float, ...] = ()
            if device.rr:
                if af is not None or profile.af:
                    target = af.event.number("heart_rate_bpm") if af is not None else bpm
                    rr = phys.af_rr(rng, max(target, 60.0), RR_PER_READING)
                    bpm = phys.rate_of(rr) if tachy is None else bpm
                    event = af.event.id if af is not None else event
                else:
                    rr = phys.sinus_rr(rng, bpm, RR_PER_READING, profile.breaths_per_min)
            if implausible:
                bpm = 15.0
            if device.link is Link.PROXY:
                return MiBandHeartRate(round(bpm), device.id), event
            return HeartRateMeasurement(round(bpm), True, rr_intervals=rr), event
        if kind is DeviceKind.BP_METER:
            systolic, diastolic, mean = phys.blood_pressure(rng, profile, hour)
            crisis = self._active(moment, EventType.HYPERTENSIVE_CRISIS)
            if crisis is not None:
                systolic = round(
                    crisis.event.number("systolic_mmhg") + phys.truncated_normal(rng, 3.0)
                )
                diastolic = round(
                    crisis.event.number("diastolic_mmhg") + phys.truncated_normal(rng, 1.5)
                )
                mean = round(diastolic + (systolic - diastolic) / 3)
                event = crisis.event.id
            if implausible:
                systolic, diastolic, mean = 320.0, 150.0, 207.0
            pulse = phys.heart_rate(rng, profile, hour, 0.0)
            return BloodPressureMeasurement(
                float(systolic), float(diastolic), float(mean), timestamp=stamp, pulse_rate=pulse
            ), event
        if kind is DeviceKind.SCALE:
            gain = 0.0
            for w in self.windows:
                if w.event.type is EventType.RAPID_WEIGHT_GAIN and moment >= w.start:
                    span = w.event.duration_h * 3600
                    done = min((moment - w.start).total_seconds() / span, 1.0)
                    gain += w.event.number("gain_kg") * done
                    event = w.event.id
            kg = 1.5 if implausible else phys.weight(rng, profile, gain)
            if device.link in (Link.ADVERT, Link.PROXY):
                return MiScale(0x22, kg, stamp), event
            return WeightMeasurement(
                kg,
                timestamp=stamp,
                bmi=round(kg / profile.height_m**2, 1),
                height=profile.height_m,
            ), event
        if kind is DeviceKind.OXIMETER:
            value = phys.spo2(rng, profile)
            pulse = phys.heart_rate(rng, profile, hour, 0.0)
            hypoxia = self._active(moment, EventType.HYPOXIA)
            if hypoxia is not None:
                low = hypoxia.event.number("spo2_percent") + phys.truncated_normal(rng, 1.0)
                value = float(min(round(low), 83))
                pulse = min(pulse + 10.0, phys.HR_CAP_BPM)
                event = hypoxia.event.id
            if implausible:
                value = 45.0
            return PLXSpotCheckMeasurement(value, pulse, timestamp=stamp), event
        if kind is DeviceKind.THERMOMETER:
            value = phys.temperature(rng, profile, hour)
            fever = self._active(moment, EventType.FEVER)
            if fever is not None:
                peak = fever.event.number("temperature_c")
                value = round(peak + phys.truncated_normal(rng, 0.12), 1)
                event = fever.event.id
            if implausible:
                value = 46.5
            return TemperatureMeasurement(value, timestamp=stamp), event
        # glucose meter: sequence numbers count the device's readings from 1
        value = phys.glucose(rng, profile, after_meal=11.0 <= hour < 21.0)
        hypo = self._active(moment, EventType.HYPOGLYCAEMIA)
        if hypo is not None:
            first = moment == hypo.start
            value = hypo.event.number("glucose_mmol_l") if first else 5.2
            event = hypo.event.id
        if implausible:
            value = 45.0
        self._sequence += 1
        return GlucoseMeasurement(
            self._sequence, stamp, concentration=round(value * MMOL_TO_KG_PER_L, 8)
        ), event

    def _wire(
        self, device: DeviceSpec, measurement: Measurement, *, truncated: bool
    ) -> tuple[str, bytes, str | None]:
        raw = bytes(measurement)
        name = measurement.NAME
        if device.link is Link.PROXY:
            advert: dict[str, object] = {"id": device.id, "rssi": -62}
            hexed = (malform(raw, len(raw) // 2) if truncated else raw).hex()
            if isinstance(measurement, MiScale):
                advert.update(servicedatauuid="0x181d", servicedata=hexed, name="MI_SCALE")
            else:
                advert.update(manufacturerdata=hexed)
            topic = f"{PROXY_BASE}/{PROXY_NAME}/BTtoMQTT/{device.id.replace(':', '')}"
            return name, json.dumps(advert).encode(), topic
        if device.link is Link.MQTT:
            topic = f"carepulse/devices/{device.id}/{name}"
            if isinstance(measurement, WeightMeasurement):
                # A Wi-Fi scale publishes decoded fields (carepulse decode names).
                stamp = measurement.timestamp
                fields = {
                    "weight_kg": measurement.weight,
                    "timestamp": None if stamp is None else _iso(stamp),
                }
                body = json.dumps(fields).encode()
                return name, (body[: len(body) // 2] if truncated else body), topic
            return (
                name,
                json.dumps({"hex": (malform(raw) if truncated else raw).hex()}).encode(),
                (topic),
            )
        if device.link is Link.ADVERT and truncated:
            return name, malform(raw, len(raw) // 2), None
        return name, malform(raw) if truncated else raw, None

    def _device_faults(self, device: DeviceSpec) -> list[Action]:
        out = []
        for window in self.windows:
            if window.event.type is not EventType.DEVICE_UNCHARGED:
                continue
            if window.event.device is not device.kind:
                continue
            dead = window.start + (window.end - window.start) / 4

            def act(
                at: datetime, op: Op, battery: int | None = None, w: _Window = window
            ) -> Action:
                return Action(
                    at=at,
                    resident=self.resident.id,
                    device_id=device.id,
                    device_kind=device.kind,
                    link=device.link,
                    op=op,
                    battery=battery,
                    event=w.event.id,
                )

            if device.link is Link.BLE:
                out.append(act(window.start, Op.BATTERY, 15))
                out.append(act(window.start + (dead - window.start) / 2, Op.BATTERY, 4))
            out.append(act(dead, Op.SILENT))
            if window.end < self.end:
                out.append(act(window.end, Op.WAKE, 100))
        return out


def _stamped(measurement: Measurement) -> bool:
    return not isinstance(measurement, HeartRateMeasurement | MiBandHeartRate)


def _iso(stamp: DateTime) -> str:
    moment = stamp.to_datetime()
    return "" if moment is None else moment.isoformat(timespec="seconds")
