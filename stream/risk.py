"""From a resident's recent readings to alerts (pure).

The risk agent keeps one :class:`ResidentState` per resident (pseudonym) in a table and
calls :meth:`RiskEngine.apply` with every valid observation. ``apply``:

1. folds the reading into the state: the latest value of each rule input with its event
   time and observation id (a late reading never replaces a newer value), RR intervals
   for the rhythm screen, one weight per local day, and when the resident last moved;
2. builds the rules' :class:`~stream.rules.inputs.Observations` from the reading and the
   other inputs still fresh (``freshness_s``, for a NEWS2 that combines oximeter,
   thermometer and BP meter readings taken together);
3. checks only the rules this reading can move (:data:`RULES_BY_KIND`): a heart-rate
   reading must not count as a second fever reading;
4. runs each check through its persistence policy (:func:`stream.rules.persistence.step`)
   and turns ``fired``/``repeat`` into a firing :class:`~carepulse.alert.Alert` and
   ``cleared`` into a resolved one, with the plain reason, the rule's source and the
   evidence (the readings, their time window and the values the rule used).

An emergency is never delayed: the rules loader only accepts ``1 of 1`` persistence for
emergencies, and ``apply`` fires an emergency on its first fire outcome whatever the
policy says. Resting heart-rate rules hold (neither fire nor clear) while the resident
was moving in the last ``rest_s`` seconds (steps going up).

Alert ids are deterministic (:func:`carepulse.alert.alert_id_for` over the episode), so a
replayed reading re-sends the same alert and the alert service folds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, Final

from carepulse.alert import Alert, Category, Status, alert_id_for
from carepulse.alert import Severity as AlertSeverity
from carepulse.observation import Kind, Observation, format_time
from stream.metrics import day_key
from stream.residents import Residents
from stream.rules.assess import assess
from stream.rules.bp import BpMethod
from stream.rules.config import RuleSet
from stream.rules.evaluate import Check, check_assessment
from stream.rules.inputs import Observations
from stream.rules.persistence import Outcome, RuleState, Transition, step

#: Rule-id prefixes a reading of each kind can move.
RULES_BY_KIND: Final[Mapping[Kind, tuple[str, ...]]] = MappingProxyType(
    {
        Kind.HEART_RATE: ("news2.", "vitals.tachycardia_rest", "vitals.bradycardia_rest"),
        Kind.BLOOD_PRESSURE: (
            "news2.",
            "bp.",
            "vitals.tachycardia_rest",
            "vitals.bradycardia_rest",
        ),
        Kind.SPO2: ("news2.", "vitals.spo2_"),
        Kind.TEMPERATURE: ("news2.", "vitals.fever", "vitals.high_fever"),
        Kind.GLUCOSE: ("glucose.",),
        Kind.WEIGHT: ("anthropometry.", "weight_change."),
        Kind.BODY_COMPOSITION: ("anthropometry.",),
        Kind.STEPS: (),
    }
)
_RESTING_RULES: Final = ("vitals.tachycardia_rest", "vitals.bradycardia_rest")
#: Value names on the wire -> rules input names.
_INPUTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "heart_rate_bpm": "heart_rate_bpm",
        "spo2_percent": "spo2_percent",
        "temperature_c": "temperature_c",
        "systolic_mmhg": "systolic_mmhg",
        "diastolic_mmhg": "diastolic_mmhg",
        "glucose_mmol_l": "glucose_mmol_l",
        "weight_kg": "weight_kg",
        "height_m": "height_m",
    }
)
_BP_METHODS: Final = frozenset(m.value for m in BpMethod)
#: RR intervals kept for the rhythm screen.
MAX_RR: Final = 256
#: Local days of weights kept for the rapid-gain rule.
WEIGHT_DAYS: Final = 14


@dataclass(frozen=True, slots=True)
class Latest:
    """The latest value of one rule input."""

    value: float
    at: float
    observation_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class ResidentState:
    """What the risk agent remembers of one resident.

    Attributes:
        station_id: the resident's station (from the latest reading).
        latest: latest value per rules input name.
        rr_ms: recent RR intervals in ms (at most :data:`MAX_RR`).
        rr_new: intervals received since the last rhythm screen.
        weights: ``{local date: kg}`` of recent days (the last weighing of each day).
        steps: the latest step counter and its event time.
        moved_at: event time the step counter last went up.
        rules: persistence state per rule id, with the open episode's start.
        last_seen: event time of the latest reading (the no-check-in watchdog reads it).
    """

    station_id: str = ""
    latest: Mapping[str, Latest] = field(default_factory=dict)
    rr_ms: tuple[float, ...] = ()
    rr_new: int = 0
    weights: Mapping[str, float] = field(default_factory=dict)
    steps: tuple[float, float] | None = None
    moved_at: float | None = None
    rules: Mapping[str, tuple[RuleState, str]] = field(default_factory=dict)
    last_seen: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the risk table."""
        return {
            "station_id": self.station_id,
            "latest": {
                k: [v.value, v.at, v.observation_id, v.kind] for k, v in self.latest.items()
            },
            "rr_ms": list(self.rr_ms),
            "rr_new": self.rr_new,
            "weights": dict(self.weights),
            "steps": list(self.steps) if self.steps else None,
            "moved_at": self.moved_at,
            "rules": {
                k: [list(s.recent), s.clear_streak, s.firing, episode]
                for k, (s, episode) in self.rules.items()
            },
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ResidentState:
        """Rebuild from :meth:`as_dict` (``None`` gives a new resident)."""
        if not data:
            return cls()
        steps = data.get("steps")
        return cls(
            station_id=data.get("station_id", ""),
            latest={k: Latest(v[0], v[1], v[2], v[3]) for k, v in data["latest"].items()},
            rr_ms=tuple(data["rr_ms"]),
            rr_new=data["rr_new"],
            weights=dict(data["weights"]),
            steps=(steps[0], steps[1]) if steps else None,
            moved_at=data.get("moved_at"),
            rules={k: (RuleState(tuple(v[0]), v[1], v[2]), v[3]) for k, v in data["rules"].items()},
            last_seen=data.get("last_seen"),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """A valid observation with the event time the ingest agent chose."""

    observation: Observation
    event_time: float


@dataclass(slots=True)
class RiskEngine:
    """The rules in force and the per-resident overrides (caches merged rule sets).

    Attributes:
        rules: the rules file in force.
        residents: per-resident settings.
        freshness_s: how old another input may be and still join an assessment.
        rest_s: a resident whose steps went up this recently is not at rest.
        utc_offset_s: the stations' UTC offset (local days for weights).
    """

    rules: RuleSet
    residents: Residents = field(default_factory=Residents)
    freshness_s: float = 3600.0
    rest_s: float = 600.0
    utc_offset_s: float = 8 * 3600.0
    _cache: dict[str, RuleSet] = field(default_factory=dict)

    def rules_for(self, subject_id: str) -> RuleSet:
        """The rules for one resident (defaults with their override merged)."""
        cached = self._cache.get(subject_id)
        if cached is None:
            cached = self.residents.rules_for(subject_id, self.rules)
            self._cache[subject_id] = cached
        return cached

    def apply(
        self, state: ResidentState, event: Event, raised_at: datetime
    ) -> tuple[ResidentState, list[Alert]]:
        """Fold one reading into ``state``; return the new state and the alerts it raised."""
        obs, at = event.observation, event.event_time
        state, screen = self._fold(state, obs, at)
        rules = self.rules_for(obs.subject_id)
        inputs = self._inputs(state, obs, at, screen)
        prefixes = RULES_BY_KIND.get(obs.kind, ())
        if screen is not None:
            prefixes = (*prefixes, "rhythm.")
        checks = check_assessment(assess(inputs, rules), rules, prefixes)
        moving = state.moved_at is not None and 0 <= at - state.moved_at <= self.rest_s
        alerts: list[Alert] = []
        rule_states = dict(state.rules)
        for check in checks:
            if moving and check.rule_id in _RESTING_RULES:
                check = replace(check, outcome=Outcome.HOLD)  # at rest only
            spec = rules.rules[check.rule_id]
            previous, episode = rule_states.get(check.rule_id, (RuleState(), ""))
            new, transition = step(previous, check.outcome, spec.policy)
            if (
                spec.severity.value == AlertSeverity.EMERGENCY.value
                and check.outcome is Outcome.FIRE
                and not previous.firing
                and transition is not Transition.FIRED
            ):
                new, transition = replace(new, firing=True), Transition.FIRED
            if transition is Transition.FIRED:
                episode = format_time(datetime.fromtimestamp(at, UTC))
            if transition in (Transition.FIRED, Transition.REPEAT, Transition.CLEARED):
                alerts.append(
                    self._alert(state, obs, at, check, transition, episode, rules, raised_at)
                )
            if transition is Transition.CLEARED:
                rule_states.pop(check.rule_id, None)
            else:
                rule_states[check.rule_id] = (new, episode)
        return replace(state, rules=rule_states), alerts

    # ----------------------------------------------------------------------- state

    def _fold(
        self, state: ResidentState, obs: Observation, at: float
    ) -> tuple[ResidentState, tuple[float, ...] | None]:
        latest = dict(state.latest)
        values = obs.values
        numbers = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if obs.kind in (Kind.BLOOD_PRESSURE, Kind.SPO2) and "pulse_rate_bpm" in numbers:
            numbers.setdefault("heart_rate_bpm", numbers["pulse_rate_bpm"])
        for name, key in _INPUTS.items():
            if name in numbers and (key not in latest or latest[key].at <= at):
                latest[key] = Latest(numbers[name], at, obs.observation_id, obs.kind.value)
        rr_ms, rr_new, screen = state.rr_ms, state.rr_new, None
        rr = values.get("rr_intervals_s")
        if isinstance(rr, tuple) and rr:
            rr_ms = (*rr_ms, *(round(x * 1000.0, 3) for x in rr))[-MAX_RR:]
            rr_new += len(rr)
            beats = self.rules_for(obs.subject_id).tables.rhythm.beats
            if rr_new >= beats and len(rr_ms) >= beats:
                screen, rr_new = rr_ms[-beats:], 0
        weights = dict(state.weights)
        if "weight_kg" in numbers:
            weights[day_key(at, self.utc_offset_s)] = numbers["weight_kg"]
            weights = {d: weights[d] for d in sorted(weights)[-WEIGHT_DAYS:]}
        steps, moved_at = state.steps, state.moved_at
        if obs.kind is Kind.STEPS and "steps" in numbers:
            if steps is not None and numbers["steps"] > steps[0] and at >= steps[1]:
                moved_at = at
            if steps is None or at >= steps[1]:
                steps = (numbers["steps"], at)
        new = replace(
            state,
            station_id=obs.station_id,
            latest=latest,
            rr_ms=rr_ms,
            rr_new=rr_new,
            weights=weights,
            steps=steps,
            moved_at=moved_at,
            last_seen=max(at, state.last_seen or at),
        )
        return new, screen

    def _inputs(
        self, state: ResidentState, obs: Observation, at: float, screen: tuple[float, ...] | None
    ) -> Observations:
        own = {k for k in _INPUTS.values() if state.latest.get(k) is not None}
        fresh = {
            k: v.value
            for k, v in state.latest.items()
            if k in own and abs(at - v.at) <= self.freshness_s
        }
        # The reading's own values always count, even when a newer one is on file.
        for name, key in _INPUTS.items():
            value = obs.values.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                fresh[key] = float(value)
        if obs.kind in (Kind.BLOOD_PRESSURE, Kind.SPO2):
            pulse = obs.values.get("pulse_rate_bpm")
            if isinstance(pulse, int | float) and not isinstance(pulse, bool):
                fresh["heart_rate_bpm"] = float(pulse)
        if "systolic_mmhg" not in fresh or "diastolic_mmhg" not in fresh:
            fresh.pop("systolic_mmhg", None)
            fresh.pop("diastolic_mmhg", None)
        elif fresh["diastolic_mmhg"] >= fresh["systolic_mmhg"]:
            fresh.pop("diastolic_mmhg")
            fresh.pop("systolic_mmhg")
        resident = self.residents.get(obs.subject_id)
        height = fresh.pop("height_m", None) or resident.height_m
        method = obs.flags.get("bp_method")
        weights: tuple[tuple[date, float], ...] | None = None
        if obs.kind is Kind.WEIGHT and state.weights:
            weights = tuple((date.fromisoformat(d), kg) for d, kg in sorted(state.weights.items()))
        return Observations(
            spo2_percent=fresh.get("spo2_percent"),
            temperature_c=fresh.get("temperature_c"),
            systolic_mmhg=fresh.get("systolic_mmhg"),
            diastolic_mmhg=fresh.get("diastolic_mmhg"),
            bp_method=BpMethod(method) if method in _BP_METHODS else None,
            heart_rate_bpm=fresh.get("heart_rate_bpm"),
            weight_kg=fresh.get("weight_kg"),
            height_m=height,
            glucose_mmol_l=fresh.get("glucose_mmol_l"),
            diabetic=resident.diabetic,
            rr_intervals_ms=screen,
            weights=weights,
        )

    # ---------------------------------------------------------------------- alerts

    def _alert(
        self,
        state: ResidentState,
        obs: Observation,
        at: float,
        check: Check,
        transition: Transition,
        episode: str,
        rules: RuleSet,
        raised_at: datetime,
    ) -> Alert:
        spec = rules.rules[check.rule_id]
        readings = _evidence_readings(state, obs, at, check, self.freshness_s)
        times = [r["at"] for r in readings] or [at]
        if transition is Transition.CLEARED:
            status, reason = Status.RESOLVED, _resolved_reason(spec.render(check.evidence))
            label = f"{episode}/resolved"
        elif transition is Transition.REPEAT:
            status, reason, label = (
                Status.FIRING,
                spec.render(check.evidence),
                f"{episode}/{obs.observation_id}",
            )
        else:
            status, reason, label = Status.FIRING, spec.render(check.evidence), episode
        return Alert(
            alert_id=alert_id_for(obs.station_id, obs.subject_id, check.rule_id, label),
            station_id=obs.station_id,
            subject_id=obs.subject_id,
            rule_id=check.rule_id,
            severity=AlertSeverity(spec.severity.value),
            category=Category.CLINICAL,
            status=status,
            reason=reason,
            source=spec.source,
            raised_at=raised_at,
            evidence={
                "readings": [{k: v for k, v in r.items() if k != "at"} for r in readings],
                "window": {
                    "start": format_time(datetime.fromtimestamp(min(times), UTC)),
                    "end": format_time(datetime.fromtimestamp(max(times), UTC)),
                },
                "values": dict(check.evidence),
                "transition": transition.value,
                "episode": episode,
            },
        )


def _evidence_readings(
    state: ResidentState, obs: Observation, at: float, check: Check, freshness_s: float
) -> list[dict[str, Any]]:
    """The readings behind a check: this observation, plus the other fresh inputs it used."""
    if check.rule_id.startswith("news2."):
        used = {k for k, v in state.latest.items() if abs(at - v.at) <= freshness_s}
    else:
        used = {k for k in check.evidence if k in _INPUTS.values()}
    readings: dict[str, dict[str, Any]] = {
        obs.observation_id: {
            "observation_id": obs.observation_id,
            "kind": obs.kind.value,
            "measured_at": format_time(obs.measured_at),
            "values": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in obs.values.items()
                if k != "rr_intervals_s"
            },
            "at": None,
        }
    }
    for key in sorted(used):
        latest = state.latest.get(key)
        if latest is None or latest.observation_id in readings:
            continue
        readings[latest.observation_id] = {
            "observation_id": latest.observation_id,
            "kind": latest.kind,
            "measured_at": format_time(datetime.fromtimestamp(latest.at, UTC)),
            "values": {key: latest.value},
            "at": latest.at,
        }
    out = list(readings.values())
    out[0]["at"] = at
    return out


def _resolved_reason(firing_reason: str) -> str:
    first = firing_reason.split(". ")[0].rstrip(".")
    return (
        "Resolved: the latest readings are back within the rule's clear thresholds "
        f"(it had fired because: {first})."
    )


def rule_ids_firing(state: ResidentState) -> Sequence[str]:
    """The rules with an open alert for this resident."""
    return sorted(k for k, (s, _) in state.rules.items() if s.firing)
