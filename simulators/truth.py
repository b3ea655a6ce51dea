"""Ground truth of a planned scenario, and its cross-check against the real rules (pure).

:func:`ground_truth` derives from a :class:`~simulators.scenario.Plan` what a correct
pipeline must show:

* **counts**: readings sent per resident and kind (copies included), the observations
  that must reach ``readings`` (duplicates of time-stamped readings are one observation),
  dead letters the gateway must write (malformed payloads), observations the stream must
  reject as implausible, copies it must drop as duplicates, and readings whose device
  clock it must distrust;
* **alerts**: which rule ids must fire for which pseudonymous resident within which time
  window, derived from the events (and from standing conditions such as uncontrolled
  hypertension or a BMI class) with margins -- not from the rules;
* **may fire**: rules a correct pipeline may raise alongside (NEWS2 on a hypoxia
  reading, tachycardia during AF);
* **watchdog** and **technical** expectations (no check-in, battery, device offline).

:func:`cross_check` then replays the plan through the pure pipeline the real one runs --
the gateway's ingest (:class:`edge.ingest.Ingest`, MQTT parsing with
:mod:`edge.mqtt_formats`), the stream's plausibility and clock checks
(:mod:`stream.plausibility`) and its risk engine (:class:`stream.risk.RiskEngine`, which
calls :mod:`stream.rules`) -- and reports every expected alert that did not fire in its
window, every firing nobody expected, and every count that differs. Tests run it on every
shipped scenario, so the truth and the rules cannot drift apart silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from carepulse.observation import Source, format_time
from carepulse.topics import Topics
from edge import mqtt_formats
from edge.errors import MqttFormatError
from edge.ingest import Accepted, Ingest, Outcome, Rejected
from edge.registry import load_registry
from simulators.physiology import Condition
from simulators.scenario import (
    RR_PER_READING,
    Action,
    DeviceKind,
    EventSpec,
    EventType,
    Link,
    Op,
    Plan,
    ResidentSpec,
)
from stream.plausibility import check_clock, check_values
from stream.residents import parse_residents
from stream.risk import Event, ResidentState, RiskEngine
from stream.rules import default_rules

TRUTH_SCHEMA: Final = 1
#: Readings of these kinds carry no device time: the gateway stamps them on arrival.
ARRIVAL_KINDS: Final = frozenset({"heart_rate"})
#: Rule-id prefixes a correct pipeline may raise during and after each event.
MAY_FIRE: Final[Mapping[EventType, tuple[str, ...]]] = {
    EventType.HYPERTENSIVE_CRISIS: ("bp.", "news2."),
    EventType.HYPOXIA: ("vitals.spo2_", "news2.", "vitals.tachycardia_rest"),
    EventType.AF_EPISODE: ("vitals.tachycardia_rest", "news2."),
    EventType.TACHYCARDIA: ("news2.",),
    EventType.FEVER: ("vitals.fever", "vitals.high_fever", "news2.", "vitals.tachycardia_rest"),
    EventType.HYPOGLYCAEMIA: ("glucose.",),
    EventType.RAPID_WEIGHT_GAIN: ("anthropometry.", "weight_change."),
}
#: Severity of each rule a scenario event expects (as in the default rules file).
SEVERITY: Final[Mapping[str, str]] = {
    "bp.urgent_referral": "urgent",
    "bp.hypertensive": "follow-up",
    "vitals.spo2_severe": "emergency",
    "rhythm.irregular": "follow-up",
    "vitals.tachycardia_rest": "urgent",
    "vitals.fever": "follow-up",
    "vitals.high_fever": "urgent",
    "glucose.hypo_level_2": "emergency",
    "weight_change.rapid_gain": "follow-up",
    "anthropometry.underweight": "follow-up",
    "anthropometry.overweight": "engagement",
    "anthropometry.obese": "engagement",
    "checkin.none": "engagement",
    "checkin.none_long": "follow-up",
}


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    """A rule that must fire for a resident within a window (simulated time).

    Attributes:
        rule_id: the rule.
        resident: the station's resident id (never on the wire).
        subject: the resident's pseudonym (what Kafka, InfluxDB and alerts carry).
        severity: the rule's severity.
        start: the window's start.
        end: the window's end.
        clock: ``device`` when the readings behind it carry the device's time stamp,
            ``arrival`` when the gateway stamps them on arrival (heart rate).
        cause: ``event:<id>`` or ``condition:<name>``.
    """

    rule_id: str
    resident: str
    subject: str
    severity: str
    start: datetime
    end: datetime
    clock: str
    cause: str


@dataclass(frozen=True, slots=True)
class MayFire:
    """Rules (by id prefix) a correct pipeline may raise for a resident from ``start``."""

    prefix: str
    resident: str
    subject: str
    start: datetime
    cause: str


@dataclass(frozen=True, slots=True)
class WatchdogExpectation:
    """A no-data or device alert the stream's watchdog must raise.

    Attributes:
        rule_id: ``checkin.none``, ``device.battery_low``, ``device.battery_critical``,
            ``device.offline``.
        resident: the resident concerned.
        subject: their pseudonym.
        device_id: the device (technical alerts), else ``None``.
        start: when the condition began (last reading, or battery change).
        end: when it ended (end of the run if it did not).
        cause: the event.
    """

    rule_id: str
    resident: str
    subject: str
    device_id: str | None
    start: datetime
    end: datetime
    cause: str


@dataclass(frozen=True, slots=True)
class Counts:
    """What the pipeline must count (keys: ``resident/kind`` or device ids)."""

    sent: Mapping[str, int]
    observations: Mapping[str, int]
    rejected_gateway: Mapping[str, int]
    rejected_stream: Mapping[str, int]
    duplicates_dropped: int
    clock_suspect: int

    def total_observations(self) -> int:
        """Observations that must reach ``readings``."""
        return sum(self.observations.values())


@dataclass(frozen=True, slots=True)
class Truth:
    """The ground truth of one plan."""

    plan: Plan
    counts: Counts
    alerts: tuple[ExpectedAlert, ...]
    may_fire: tuple[MayFire, ...]
    watchdog: tuple[WatchdogExpectation, ...]
    notes: tuple[str, ...] = ()

    def as_dict(self, *, speed: float | None = None) -> dict[str, Any]:
        """JSON-ready form (the truth file); ``speed`` adds expected arrival windows."""
        plan = self.plan
        scenario = plan.scenario

        def arrival(moment: datetime) -> str:
            assert speed is not None  # noqa: S101  # only called when given
            return format_time(plan.end - (plan.end - moment) / speed)

        def window(start: datetime, end: datetime, clock: str) -> dict[str, Any]:
            out: dict[str, Any] = {"start": format_time(start), "end": format_time(end)}
            if speed is not None and clock == "arrival":
                out["arrival"] = {"start": arrival(start), "end": arrival(end)}
            return out

        return {
            "schema": TRUTH_SCHEMA,
            "scenario": scenario.name,
            "seed": plan.seed,
            "station_id": scenario.station.id,
            "start": format_time(plan.start),
            "end": format_time(plan.end),
            "speed": speed,
            "residents": [
                {
                    "resident": r.id,
                    "subject": scenario.pseudonym(r.id),
                    "conditions": sorted(c.value for c in r.conditions),
                    "devices": [
                        {"id": d.id, "kind": d.kind.value, "link": d.link.value} for d in r.devices
                    ],
                }
                for r in scenario.residents
            ],
            "counts": {
                "sent": dict(sorted(self.counts.sent.items())),
                "observations": dict(sorted(self.counts.observations.items())),
                "observations_total": self.counts.total_observations(),
                "rejected_gateway": dict(sorted(self.counts.rejected_gateway.items())),
                "rejected_stream": dict(sorted(self.counts.rejected_stream.items())),
                "duplicates_dropped": self.counts.duplicates_dropped,
                "clock_suspect": self.counts.clock_suspect,
            },
            "alerts": [
                {
                    "rule_id": a.rule_id,
                    "resident": a.resident,
                    "subject": a.subject,
                    "severity": a.severity,
                    "window": window(a.start, a.end, a.clock),
                    "clock": a.clock,
                    "cause": a.cause,
                }
                for a in self.alerts
            ],
            "may_fire": [
                {
                    "rule_prefix": m.prefix,
                    "resident": m.resident,
                    "subject": m.subject,
                    "from": format_time(m.start),
                    "cause": m.cause,
                }
                for m in self.may_fire
            ],
            "watchdog": [
                {
                    "rule_id": w.rule_id,
                    "resident": w.resident,
                    "subject": w.subject,
                    "device_id": w.device_id,
                    "window": window(w.start, w.end, "device"),
                    "cause": w.cause,
                }
                for w in self.watchdog
            ],
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------- truth


def ground_truth(plan: Plan) -> Truth:
    """What a correct pipeline must show for ``plan``."""
    alerts: list[ExpectedAlert] = []
    may: list[MayFire] = []
    watchdog: list[WatchdogExpectation] = []
    notes: list[str] = []
    scenario = plan.scenario
    for resident in scenario.residents:
        sends = [a for a in plan.actions if a.resident == resident.id and a.op is Op.SEND]
        _conditions(plan, resident, sends, alerts, may)
        for event in (e for e in scenario.events if e.resident == resident.id):
            start = plan.start + timedelta(hours=event.start_h)
            if start >= plan.end:
                notes.append(f"{event.id} starts after the simulated period; not expected")
                continue
            end = min(start + timedelta(hours=event.duration_h), plan.end)
            _event(plan, resident, event, start, end, sends, alerts, may, watchdog, notes)
    return Truth(plan, counts(plan), tuple(alerts), tuple(may), tuple(watchdog), tuple(notes))


def counts(plan: Plan) -> Counts:
    """The counts a correct gateway and stream produce for ``plan``."""
    sent: Counter[str] = Counter()
    observations: Counter[str] = Counter()
    rejected_gateway: Counter[str] = Counter()
    rejected_stream: Counter[str] = Counter()
    dropped = suspect = 0
    for action in plan.actions:
        if action.op is not Op.SEND:
            continue
        key = f"{action.resident}/{action.observation_kind}"
        sent[key] += action.copies
        if action.malformed:
            rejected_gateway[action.device_id] += action.copies
            continue
        # Copies of a time-stamped reading are one measurement (same observation id);
        # a reading stamped on arrival gets a new time, hence a new id, per copy.
        unique = 1 if action.measured_at is not None else action.copies
        dropped += action.copies - unique
        if action.implausible:
            rejected_stream[action.device_id] += unique
            continue
        observations[key] += unique
        suspect += unique if action.clock_suspect else 0
    return Counts(
        dict(sent),
        dict(observations),
        dict(rejected_gateway),
        dict(rejected_stream),
        dropped,
        suspect,
    )


def _good(sends: list[Action], kind: DeviceKind, start: datetime, end: datetime) -> list[Action]:
    return [
        a
        for a in sends
        if a.device_kind is kind and start <= a.at < end and not a.malformed and not a.implausible
    ]


def _conditions(
    plan: Plan,
    resident: ResidentSpec,
    sends: list[Action],
    alerts: list[ExpectedAlert],
    may: list[MayFire],
) -> None:
    subject = plan.scenario.pseudonym(resident.id)
    profile = plan.profiles[resident.id]

    def expect(rule_id: str, clock: str, cause: str) -> None:
        alerts.append(
            ExpectedAlert(
                rule_id, resident.id, subject, SEVERITY[rule_id], plan.start, plan.end, clock, cause
            )
        )

    bp = _good(sends, DeviceKind.BP_METER, plan.start, plan.end)
    if Condition.HYPERTENSION in resident.conditions:
        # Two readings in a row over 140/90 are near certain from four readings on.
        may.append(MayFire("bp.hypertensive", resident.id, subject, plan.start, "condition"))
        if len(bp) >= 4:
            expect("bp.hypertensive", "device", "condition:hypertension")
    band = resident.device(DeviceKind.HR_BAND)
    beats = _good(sends, DeviceKind.HR_BAND, plan.start, plan.end)
    if profile.af and band is not None and band.rr and len(beats) * RR_PER_READING >= 14 * 128 / 2:
        expect("rhythm.irregular", "arrival", "condition:atrial_fibrillation")
    weighings = _good(sends, DeviceKind.SCALE, plan.start, plan.end)
    if len(weighings) >= 3:
        bmi = profile.bmi
        rule = (
            "anthropometry.underweight"
            if bmi < 18.5
            else "anthropometry.overweight"
            if 24.0 <= bmi < 28.0
            else "anthropometry.obese"
            if bmi >= 28.0
            else None
        )
        if rule is not None:
            cause = "condition:obesity" if rule.endswith("obese") else f"condition:bmi {bmi:.1f}"
            expect(rule, "device", cause)


def _event(
    plan: Plan,
    resident: ResidentSpec,
    event: EventSpec,
    start: datetime,
    end: datetime,
    sends: list[Action],
    alerts: list[ExpectedAlert],
    may: list[MayFire],
    watchdog: list[WatchdogExpectation],
    notes: list[str],
) -> None:
    subject = plan.scenario.pseudonym(resident.id)
    cause = f"event:{event.id}"
    hour = timedelta(hours=1)

    def expect(rule_id: str, until: datetime, clock: str = "device") -> None:
        alerts.append(
            ExpectedAlert(
                rule_id,
                resident.id,
                subject,
                SEVERITY[rule_id],
                start,
                min(until, plan.end),
                clock,
                cause,
            )
        )

    for prefix in MAY_FIRE.get(event.type, ()):
        may.append(MayFire(prefix, resident.id, subject, start, cause))
    kind = event.device
    readings = _good(sends, kind, start, end) if kind is not None else []
    kind_type = event.type
    if kind_type is EventType.HYPERTENSIVE_CRISIS:
        expect("bp.urgent_referral", end + hour)
    elif kind_type is EventType.HYPOXIA:
        expect("vitals.spo2_severe", end + hour)
    elif kind_type is EventType.HYPOGLYCAEMIA:
        if event.number("glucose_mmol_l") < 3.0:
            expect("glucose.hypo_level_2", start + hour)
    elif kind_type is EventType.TACHYCARDIA:
        if len(readings) >= 4:
            expect("vitals.tachycardia_rest", end, "arrival")
        else:
            notes.append(f"{event.id}: fewer than 4 band readings; tachycardia not expected")
    elif kind_type is EventType.AF_EPISODE:
        # 64 intervals per reading, a screen per 128: 5 irregular screens of the last 6,
        # plus one screen that may straddle the episode's start.
        if len(readings) >= 14:
            expect("rhythm.irregular", end + hour, "arrival")
        else:
            notes.append(f"{event.id}: fewer than 14 band readings; AF alert not expected")
    elif kind_type is EventType.FEVER:
        high = event.number("temperature_c") > 39.3
        if high:
            expect("vitals.high_fever", end)
        elif event.number("temperature_c") > 37.7 and len(readings) >= 2:
            expect("vitals.fever", end)
    elif kind_type is EventType.RAPID_WEIGHT_GAIN:
        # Day-to-day noise is at most +-0.5 kg, so a gain of 3.2 kg within 3 days is
        # certainly "more than 2 kg" whatever two weighings the rule compares.
        reached = event.number("gain_kg") * min(
            1.0, (end - start) / timedelta(hours=event.duration_h)
        )
        if reached >= 3.2 and event.duration_h <= 72 and len(readings) >= 2:
            expect("weight_change.rapid_gain", end + timedelta(days=1))
        else:
            notes.append(f"{event.id}: gain too small, too slow or too few weighings to expect")
    elif kind_type is EventType.NO_CHECKIN:
        before = [a for a in sends if a.at < start]
        last = max((a.at for a in before), default=plan.start)
        days = plan.scenario.station.no_checkin_days
        if end - last >= timedelta(days=days):
            watchdog.append(
                WatchdogExpectation("checkin.none", resident.id, subject, None, last, end, cause)
            )
        if end < plan.end:
            notes.append(
                f"{event.id}: the gap ends before the end of the run; a watchdog sees it "
                "at speed 1 or on a time scale (CAREPULSE_WATCHDOG_TIME_SCALE, set by the demo)"
            )
    elif kind_type is EventType.DEVICE_UNCHARGED:
        device = resident.device(kind) if kind is not None else None
        if device is not None and device.link is Link.BLE:
            for rule in ("device.battery_low", "device.battery_critical"):
                watchdog.append(
                    WatchdogExpectation(rule, resident.id, subject, device.id, start, end, cause)
                )
        dead = start + (end - start) / 4
        if device is not None and end - dead >= timedelta(hours=24):
            watchdog.append(
                WatchdogExpectation(
                    "device.offline", resident.id, subject, device.id, dead, end, cause
                )
            )


# -------------------------------------------------------------------- cross-check


@dataclass(frozen=True, slots=True)
class Fired:
    """An alert the replayed pipeline raised (transition ``fired``)."""

    rule_id: str
    subject: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Replay:
    """What the pure pipeline made of a plan."""

    fired: tuple[Fired, ...]
    counts: Counts


@dataclass(frozen=True, slots=True)
class Discrepancies:
    """Where the truth and the replayed rules disagree (empty when they agree)."""

    missing: tuple[ExpectedAlert, ...] = ()
    unexpected: tuple[Fired, ...] = ()
    counts: tuple[str, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.counts)

    def describe(self, names: Mapping[str, str] | None = None) -> str:
        """One line per disagreement (``names``: pseudonym -> resident id, for reading)."""
        names = names or {}
        lines = [f"missing {a.rule_id} for {a.resident} ({a.cause})" for a in self.missing]
        lines += [
            f"unexpected {f.rule_id} for {names.get(f.subject, f.subject)} at {f.at}"
            for f in self.unexpected
        ]
        return "\n".join(lines + list(self.counts))


def replay(plan: Plan) -> Replay:
    """Run ``plan`` through the gateway's ingest and the stream's checks and risk engine.

    The gateway clock is the simulated clock (as at speed 1); every copy of a reading
    arrives one millisecond after the previous one.
    """
    scenario = plan.scenario
    registry = load_registry(plan.registry_toml())
    ingest = Ingest(registry, scenario.station.secret.encode(), Topics.with_prefix(""))
    rules = default_rules()
    offset = plan.start.astimezone(scenario.station.timezone).utcoffset()
    engine = RiskEngine(
        rules=rules,
        residents=parse_residents(plan.residents_toml(), rules),
        utc_offset_s=offset.total_seconds() if offset is not None else 0.0,
    )
    states: dict[str, ResidentState] = {}
    seen: set[str] = set()
    fired: list[Fired] = []
    sent: Counter[str] = Counter()
    observations: Counter[str] = Counter()
    rejected_gateway: Counter[str] = Counter()
    rejected_stream: Counter[str] = Counter()
    dropped = suspect = 0
    for action in plan.actions:
        if action.op is not Op.SEND:
            continue
        resident_kind = f"{action.resident}/{action.observation_kind}"
        for copy in range(action.copies):
            sent[resident_kind] += 1
            received = action.at + timedelta(milliseconds=copy)
            outcome = _ingest(ingest, action, received)
            if isinstance(outcome, Rejected | MqttFormatError):
                rejected_gateway[action.device_id] += 1
                continue
            if not isinstance(outcome, Accepted):
                continue
            observation = outcome.observation
            if observation.observation_id in seen:
                dropped += 1
                continue
            seen.add(observation.observation_id)
            if check_values(observation) is not None:
                rejected_stream[action.device_id] += 1
                continue
            observations[resident_kind] += 1
            verdict = check_clock(observation.measured_at, observation.received_at)
            suspect += verdict.suspect is not None
            subject = observation.subject_id
            state, raised = engine.apply(
                states.get(subject, ResidentState()),
                Event(observation, verdict.event_time.timestamp()),
                received,
            )
            states[subject] = state
            for alert in raised:
                if alert.evidence.get("transition") == "fired":
                    at = datetime.fromtimestamp(verdict.event_time.timestamp(), UTC)
                    fired.append(Fired(alert.rule_id, subject, at))
    return Replay(
        tuple(fired),
        Counts(
            dict(sent),
            dict(observations),
            dict(rejected_gateway),
            dict(rejected_stream),
            dropped,
            suspect,
        ),
    )


def _ingest(ingest: Ingest, action: Action, received: datetime) -> Outcome | MqttFormatError:
    """The gateway's decision on one copy (``Gateway.payload`` / ``Gateway.handle_mqtt``)."""
    if action.topic is None:
        return ingest.payload(
            action.device_id, action.name, action.payload, received_at=received, source=Source.SIM
        )
    try:
        parsed = mqtt_formats.parse(action.topic, action.payload)
    except MqttFormatError as exc:  # the gateway dead-letters it
        return exc
    if parsed.fields is None:
        return ingest.payload(
            parsed.device_id, parsed.name, parsed.raw, received_at=received, source=Source.MQTT
        )
    return ingest.fields(
        parsed.device_id,
        parsed.name,
        parsed.fields,
        raw=parsed.raw,
        received_at=received,
        source=Source.MQTT,
    )


def cross_check(truth: Truth, result: Replay | None = None) -> Discrepancies:
    """Compare the truth with the replayed pipeline (:func:`replay` unless given)."""
    result = result if result is not None else replay(truth.plan)
    missing = tuple(
        a
        for a in truth.alerts
        if not any(
            f.rule_id == a.rule_id and f.subject == a.subject and a.start <= f.at <= a.end
            for f in result.fired
        )
    )
    expected_rules = {(a.rule_id, a.subject) for a in truth.alerts}
    unexpected = tuple(
        f
        for f in result.fired
        if (f.rule_id, f.subject) not in expected_rules
        and not any(
            f.subject == m.subject and f.rule_id.startswith(m.prefix) and f.at >= m.start
            for m in truth.may_fire
        )
    )
    problems = []
    for name in (
        "sent",
        "observations",
        "rejected_gateway",
        "rejected_stream",
        "duplicates_dropped",
        "clock_suspect",
    ):
        want, got = getattr(truth.counts, name), getattr(result.counts, name)
        if want != got:
            problems.append(f"counts.{name}: truth {want!r}, replay {got!r}")
    return Discrepancies(missing, unexpected, tuple(problems))
