"""The case lifecycle: a pure transition table, inhibition, silences, timers and queue order.

A *case* is the social worker's unit of work: one per (station, resident, rule) while it is
not closed. Alerts from the stream (``firing``/``resolved``) and people's actions are
*events*; :func:`apply` folds one event into a :class:`Case` snapshot and returns the next
snapshot, using :data:`TRANSITIONS` — one table, in the manner of h11's
``EVENT_TRIGGERED_TRANSITIONS`` — as the only source of which event is allowed when.

Time never comes from a clock here: every event carries ``at`` and every timer function
takes ``now``. The store (``alerts/store.py``) loads rows into :class:`Case`, calls these
functions and writes the result back with an append-only history row.

States::

    open ──claim──► claimed ──attempt──► in_progress ──resolve──► closed
      │  ◄─unclaim──   │  ◄──ack timeout──    │                     │
      │                └──schedule/refer──► follow_up ◄─────────────┤ (refer)
      └──attempt/resolve/refer (acts as a claim)                    └──reopen──► open
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final

from alerts.errors import InvalidTransition, SilenceRefused
from carepulse.alert import Category, Severity


class CaseState(StrEnum):
    """Where a case is in its life."""

    OPEN = "open"
    """Nobody owns it yet (new, unclaimed, re-opened, or its owner's claim timed out)."""
    CLAIMED = "claimed"
    """Someone owns it (acknowledged) and has not logged a contact attempt yet."""
    IN_PROGRESS = "in_progress"
    """Its owner has logged at least one call or visit attempt."""
    FOLLOW_UP = "follow_up"
    """Parked until ``due_at`` (a referral or a scheduled re-check); back in the queue when due."""
    CLOSED = "closed"
    """Done, with a structured outcome."""


#: States in which a case counts as open (takes part in dedup, inhibition and the queue).
ACTIVE_STATES: Final = frozenset(s for s in CaseState if s is not CaseState.CLOSED)


class Outcome(StrEnum):
    """How a case ended. ``cleared`` is set only by the service (automatic resolution)."""

    REACHED = "reached"
    HOME_VISIT = "home_visit"
    REFERRED = "referred"
    FALSE_ALARM = "false_alarm"
    DEVICE_ISSUE = "device_issue"
    DECLINED = "declined"
    CLEARED = "cleared"


#: Outcomes a person may choose.
HUMAN_OUTCOMES: Final = tuple(o for o in Outcome if o is not Outcome.CLEARED)


class AttemptResult(StrEnum):
    """What one call or visit attempt achieved."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    LEFT_MESSAGE = "left_message"
    VISITED = "visited"
    NOT_HOME = "not_home"
    FAMILY_REACHED = "family_reached"


class EventKind(StrEnum):
    """Event kinds as the table knows them (some events map to two kinds, see :func:`kind_of`)."""

    FIRE = "fire"
    """The rule fired again with the same or a lower severity."""
    FIRE_WORSE = "fire_worse"
    """The rule fired again with a higher severity than the case has."""
    CLEAR_AUTO = "clear_auto"
    """The rule cleared on a follow-up or engagement case (may resolve it)."""
    CLEAR_KEEP = "clear_keep"
    """The rule cleared on an emergency or urgent case (never resolves it)."""
    CLAIM = "claim"
    UNCLAIM = "unclaim"
    TRANSFER = "transfer"
    ATTEMPT = "attempt"
    NOTE = "note"
    SCHEDULE = "schedule"
    REFER = "refer"
    """Resolved with the outcome ``referred``: parked for the referral follow-up."""
    RESOLVE = "resolve"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    ACK_TIMEOUT = "ack_timeout"
    FOLLOW_UP_DUE = "follow_up_due"


_S = CaseState
_K = EventKind

#: state -> {event kind -> next state}. A pair missing here is refused (InvalidTransition).
TRANSITIONS: Final[Mapping[CaseState, Mapping[EventKind, CaseState]]] = {
    _S.OPEN: {
        _K.FIRE: _S.OPEN,
        _K.FIRE_WORSE: _S.OPEN,
        _K.CLEAR_AUTO: _S.CLOSED,
        _K.CLEAR_KEEP: _S.OPEN,
        _K.CLAIM: _S.CLAIMED,
        _K.TRANSFER: _S.CLAIMED,
        _K.ATTEMPT: _S.IN_PROGRESS,
        _K.NOTE: _S.OPEN,
        _K.REFER: _S.FOLLOW_UP,
        _K.RESOLVE: _S.CLOSED,
        _K.ESCALATE: _S.OPEN,
    },
    _S.CLAIMED: {
        _K.FIRE: _S.CLAIMED,
        _K.FIRE_WORSE: _S.CLAIMED,
        # Someone is working on it: a cleared rule is shown, the owner decides.
        _K.CLEAR_AUTO: _S.CLAIMED,
        _K.CLEAR_KEEP: _S.CLAIMED,
        _K.UNCLAIM: _S.OPEN,
        _K.TRANSFER: _S.CLAIMED,
        _K.ATTEMPT: _S.IN_PROGRESS,
        _K.NOTE: _S.CLAIMED,
        _K.SCHEDULE: _S.FOLLOW_UP,
        _K.REFER: _S.FOLLOW_UP,
        _K.RESOLVE: _S.CLOSED,
        _K.ACK_TIMEOUT: _S.OPEN,
    },
    _S.IN_PROGRESS: {
        _K.FIRE: _S.IN_PROGRESS,
        _K.FIRE_WORSE: _S.IN_PROGRESS,
        _K.CLEAR_AUTO: _S.IN_PROGRESS,
        _K.CLEAR_KEEP: _S.IN_PROGRESS,
        _K.UNCLAIM: _S.OPEN,
        _K.TRANSFER: _S.IN_PROGRESS,
        _K.ATTEMPT: _S.IN_PROGRESS,
        _K.NOTE: _S.IN_PROGRESS,
        _K.SCHEDULE: _S.FOLLOW_UP,
        _K.REFER: _S.FOLLOW_UP,
        _K.RESOLVE: _S.CLOSED,
        _K.ACK_TIMEOUT: _S.OPEN,
    },
    _S.FOLLOW_UP: {
        _K.FIRE: _S.FOLLOW_UP,
        # A worse reading while waiting for the follow-up puts the case back in the queue.
        _K.FIRE_WORSE: _S.OPEN,
        # CHT-style "resolvedIf": the good readings the follow-up waited for arrived.
        _K.CLEAR_AUTO: _S.CLOSED,
        _K.CLEAR_KEEP: _S.FOLLOW_UP,
        _K.UNCLAIM: _S.OPEN,
        _K.TRANSFER: _S.FOLLOW_UP,
        _K.ATTEMPT: _S.FOLLOW_UP,
        _K.NOTE: _S.FOLLOW_UP,
        _K.SCHEDULE: _S.FOLLOW_UP,
        _K.REFER: _S.FOLLOW_UP,
        _K.RESOLVE: _S.CLOSED,
        _K.FOLLOW_UP_DUE: _S.CLAIMED,
    },
    _S.CLOSED: {
        _K.NOTE: _S.CLOSED,
        _K.REOPEN: _S.OPEN,
    },
}

#: Severities whose cases a cleared rule may resolve without a person (never urgent ones).
AUTO_RESOLVABLE: Final = frozenset({Severity.FOLLOW_UP, Severity.ENGAGEMENT})


# ------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Fire:
    """The rule fired (again): new evidence, maybe a new severity."""

    at: datetime
    alert_id: str
    severity: Severity
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Clear:
    """The rule cleared (the stream sent the alert with ``status="resolved"``)."""

    at: datetime
    alert_id: str


@dataclass(frozen=True, slots=True)
class Claim:
    """``actor`` takes the case (acknowledges it)."""

    at: datetime
    actor: int


@dataclass(frozen=True, slots=True)
class Unclaim:
    """``actor`` gives the case back to the queue."""

    at: datetime
    actor: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """``actor`` hands the case to user ``to`` (a colleague or a doctor) with a note."""

    at: datetime
    actor: int
    to: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class Attempt:
    """A call or visit attempt and its result."""

    at: datetime
    actor: int
    result: AttemptResult
    note: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    """A free-text note; allowed in every state, closed included."""

    at: datetime
    actor: int
    text: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """Park the case until ``due`` (e.g. re-check BP in two weeks)."""

    at: datetime
    actor: int
    due: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class Resolve:
    """Close with a structured outcome. ``referred`` parks the case until ``due`` instead."""

    at: datetime
    actor: int
    outcome: Outcome
    note: str = ""
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reopen:
    """A person re-opens a closed case."""

    at: datetime
    actor: int
    reason: str


@dataclass(frozen=True, slots=True)
class Escalate:
    """Nobody acknowledged in time: raise the escalation level (made by :func:`timers`)."""

    at: datetime
    level: int


@dataclass(frozen=True, slots=True)
class AckTimeout:
    """An acknowledged case saw no activity for too long: back to open (made by :func:`timers`)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class FollowUpDue:
    """A parked case's due date arrived (made by :func:`timers`)."""

    at: datetime


Event = (
    Fire
    | Clear
    | Claim
    | Unclaim
    | Transfer
    | Attempt
    | Note
    | Schedule
    | Resolve
    | Reopen
    | Escalate
    | AckTimeout
    | FollowUpDue
)

_SIMPLE_KINDS: Final[Mapping[type[Any], EventKind]] = {
    Claim: EventKind.CLAIM,
    Unclaim: EventKind.UNCLAIM,
    Transfer: EventKind.TRANSFER,
    Attempt: EventKind.ATTEMPT,
    Note: EventKind.NOTE,
    Schedule: EventKind.SCHEDULE,
    Reopen: EventKind.REOPEN,
    Escalate: EventKind.ESCALATE,
    AckTimeout: EventKind.ACK_TIMEOUT,
    FollowUpDue: EventKind.FOLLOW_UP_DUE,
}


# ------------------------------------------------------------------------------- the case


@dataclass(frozen=True, slots=True)
class Case:
    """What the lifecycle needs to know about one case (the store maps rows to this)."""

    station_id: str
    subject_id: str
    rule_id: str
    category: Category
    severity: Severity
    state: CaseState
    opened_at: datetime
    reason: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    repeat_count: int = 1
    last_fired_at: datetime | None = None
    #: when the case last became ``open`` (escalation counts from here)
    open_since: datetime | None = None
    #: last human activity (claim, attempt, note, transfer); the acknowledgement timeout counts
    #: from here
    last_activity_at: datetime | None = None
    #: first acknowledgement (claim, attempt or transfer), for time-to-acknowledge
    acknowledged_at: datetime | None = None
    assignee: int | None = None
    escalation_level: int = 0
    due_at: datetime | None = None
    cleared: bool = False
    outcome: Outcome | None = None
    closed_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True until the case is closed."""
        return self.state is not CaseState.CLOSED

    @property
    def key(self) -> tuple[str, str, str]:
        """The dedup key: one active case per (station, subject, rule)."""
        return (self.station_id, self.subject_id, self.rule_id)


def open_case(
    *,
    station_id: str,
    subject_id: str,
    rule_id: str,
    category: Category,
    fire: Fire,
) -> Case:
    """The case a first firing opens."""
    return Case(
        station_id=station_id,
        subject_id=subject_id,
        rule_id=rule_id,
        category=category,
        severity=fire.severity,
        state=CaseState.OPEN,
        opened_at=fire.at,
        reason=fire.reason,
        evidence=dict(fire.evidence),
        repeat_count=1,
        last_fired_at=fire.at,
        open_since=fire.at,
    )


def kind_of(case: Case, event: Event) -> EventKind:
    """Classify ``event`` for the table (the severity and outcome decide some kinds)."""
    if isinstance(event, Fire):
        worse = event.severity.rank < case.severity.rank
        return EventKind.FIRE_WORSE if worse else EventKind.FIRE
    if isinstance(event, Clear):
        return EventKind.CLEAR_AUTO if case.severity in AUTO_RESOLVABLE else EventKind.CLEAR_KEEP
    if isinstance(event, Resolve):
        return EventKind.REFER if event.outcome is Outcome.REFERRED else EventKind.RESOLVE
    return _SIMPLE_KINDS[type(event)]


def allowed(state: CaseState) -> frozenset[EventKind]:
    """Event kinds the table accepts in ``state``."""
    return frozenset(TRANSITIONS[state])


def apply(case: Case, event: Event) -> Case:
    """The case after ``event``; raises :class:`InvalidTransition` if the table forbids it."""
    kind = kind_of(case, event)
    target = TRANSITIONS[case.state].get(kind)
    if target is None:
        raise InvalidTransition(case.state.value, kind.value, _hint(case, kind))
    changes: dict[str, Any] = {"state": target}
    if target is CaseState.OPEN and case.state is not CaseState.OPEN:
        # Every return to "open" restarts the escalation clock.
        changes.update(open_since=event.at, escalation_level=0)
    match event:
        case Fire():
            changes.update(
                repeat_count=case.repeat_count + 1,
                last_fired_at=event.at,
                evidence=dict(event.evidence),
                reason=event.reason or case.reason,
                cleared=False,
            )
            if kind is EventKind.FIRE_WORSE:
                changes["severity"] = event.severity
        case Clear():
            changes["cleared"] = True
            if target is CaseState.CLOSED:
                changes.update(outcome=Outcome.CLEARED, closed_at=event.at, due_at=None)
        case Claim():
            changes.update(assignee=event.actor, **_acknowledge(case, event.at))
        case Unclaim():
            changes.update(assignee=None)
        case Transfer():
            if event.to == case.assignee:
                raise InvalidTransition(case.state.value, kind.value, "it is already theirs")
            changes.update(assignee=event.to, **_acknowledge(case, event.at))
        case Attempt():
            changes.update(_acknowledge(case, event.at))
            if case.assignee is None:
                changes["assignee"] = event.actor
        case Note():
            if not event.text.strip():
                raise InvalidTransition(case.state.value, kind.value, "the note is empty")
            if case.active:
                changes["last_activity_at"] = event.at
        case Schedule():
            _check_due(case, kind, event.at, event.due)
            changes.update(due_at=event.due, last_activity_at=event.at)
        case Resolve():
            if event.outcome is Outcome.CLEARED:
                raise InvalidTransition(
                    case.state.value, kind.value, "'cleared' is set only by the service"
                )
            if kind is EventKind.REFER:
                if event.due is None:
                    raise InvalidTransition(
                        case.state.value, kind.value, "a referral needs a follow-up date"
                    )
                _check_due(case, kind, event.at, event.due)
                changes.update(due_at=event.due, outcome=None, **_acknowledge(case, event.at))
            else:
                changes.update(outcome=event.outcome, closed_at=event.at, due_at=None)
                changes.update(_acknowledge(case, event.at))
            if case.assignee is None:
                changes["assignee"] = event.actor
        case Reopen():
            if not event.reason.strip():
                raise InvalidTransition(case.state.value, kind.value, "say why it is re-opened")
            changes.update(outcome=None, closed_at=None, cleared=False, last_activity_at=event.at)
        case Escalate():
            if event.level <= case.escalation_level:
                raise InvalidTransition(case.state.value, kind.value, "escalation only goes up")
            changes["escalation_level"] = event.level
        case AckTimeout():
            pass
        case FollowUpDue():
            changes.update(due_at=None, last_activity_at=event.at)
    return dataclasses.replace(case, **changes)


def _acknowledge(case: Case, at: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {"last_activity_at": at}
    if case.acknowledged_at is None:
        changes["acknowledged_at"] = at
    return changes


def _check_due(case: Case, kind: EventKind, at: datetime, due: datetime) -> None:
    if due <= at:
        raise InvalidTransition(
            case.state.value, kind.value, "the follow-up date must be in the future"
        )


def _hint(case: Case, kind: EventKind) -> str:
    if case.state is CaseState.CLOSED:
        return "re-open it first"
    if kind is EventKind.REOPEN:
        return "only a closed case can be re-opened"
    if kind is EventKind.UNCLAIM:
        return "nobody has claimed it"
    if kind is EventKind.CLAIM:
        return "it is already claimed; ask its owner or a supervisor to transfer it"
    return f"allowed now: {', '.join(sorted(allowed(case.state)))}"


# ---------------------------------------------------------------------------- inhibition


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """An active *source* case mutes *target* cases of the same resident (Alertmanager-style).

    A rule id matches a pattern when it equals the pattern or starts with it and the pattern
    ends with ``.`` (``"checkin."`` matches ``checkin.none``). An empty pattern list matches
    every rule.
    """

    name: str
    source_rules: tuple[str, ...] = ()
    source_category: Category | None = None
    source_severity: Severity | None = None
    target_rules: tuple[str, ...] = ()
    target_category: Category | None = None
    #: the target must be strictly less urgent than the source
    target_lesser: bool = False


def rule_matches(patterns: tuple[str, ...], rule_id: str) -> bool:
    """True when ``rule_id`` matches one of ``patterns`` (see :class:`InhibitRule`)."""
    if not patterns:
        return True
    return any(rule_id == p or (p.endswith(".") and rule_id.startswith(p)) for p in patterns)


#: The default inhibition rules (docs/alerts.md explains them).
DEFAULT_INHIBIT_RULES: Final = (
    InhibitRule(
        name="device_offline_mutes_no_data",
        source_rules=("device.offline", "gateway.offline", "device.offline."),
        source_category=Category.TECHNICAL,
        target_rules=("checkin.",),
    ),
    InhibitRule(
        name="emergency_mutes_lesser",
        source_severity=Severity.EMERGENCY,
        source_category=Category.CLINICAL,
        target_category=Category.CLINICAL,
        target_lesser=True,
    ),
)


@dataclass(frozen=True, slots=True)
class Mute:
    """Why a case is muted: the rule and the case (by index into the others given) muting it."""

    rule: str
    source: int


def muted_by(
    case: Case, others: Iterable[Case], rules: Iterable[InhibitRule] = DEFAULT_INHIBIT_RULES
) -> Mute | None:
    """The first inhibition muting ``case``, given the resident's other cases (same station)."""
    if not case.active:
        return None
    candidates = list(others)
    for rule in rules:
        if rule.target_category is not None and case.category is not rule.target_category:
            continue
        if rule.target_rules and not rule_matches(rule.target_rules, case.rule_id):
            continue
        for index, source in enumerate(candidates):
            if source is case or not source.active or source.key == case.key:
                continue
            if (source.station_id, source.subject_id) != (case.station_id, case.subject_id):
                continue
            if rule.source_category is not None and source.category is not rule.source_category:
                continue
            if rule.source_severity is not None and source.severity is not rule.source_severity:
                continue
            if rule.source_rules and not rule_matches(rule.source_rules, source.rule_id):
                continue
            if rule.target_lesser and not source.severity.rank < case.severity.rank:
                continue
            return Mute(rule=rule.name, source=index)
    return None


# ------------------------------------------------------------------------------ silences


@dataclass(frozen=True, slots=True)
class Silence:
    """Quiet a station's matching cases until ``ends_at``; emergencies are never silenced."""

    station_id: str
    author: int
    reason: str
    starts_at: datetime
    ends_at: datetime
    subject_id: str | None = None
    rule_id: str | None = None


#: The longest silence a person may set.
MAX_SILENCE: Final = timedelta(days=30)


def check_silence(silence: Silence, now: datetime, *, emergency_rules: Iterable[str] = ()) -> None:
    """Raise :class:`SilenceRefused` unless ``silence`` may be created at ``now``."""
    if not silence.reason.strip():
        msg = "a silence needs a reason"
        raise SilenceRefused(msg, reason="reason")
    if silence.subject_id is None and silence.rule_id is None:
        msg = "name a resident, a rule or both: a whole station cannot be silenced"
        raise SilenceRefused(msg, reason="too_broad")
    if silence.ends_at <= max(now, silence.starts_at):
        msg = "the silence must end in the future and after it starts"
        raise SilenceRefused(msg, reason="ends_at")
    if silence.ends_at - silence.starts_at > MAX_SILENCE:
        msg = f"a silence may last at most {MAX_SILENCE.days} days"
        raise SilenceRefused(msg, reason="too_long")
    if silence.rule_id is not None and silence.rule_id in set(emergency_rules):
        msg = "emergency alerts cannot be silenced"
        raise SilenceRefused(msg, reason="emergency")


def silences_case(silence: Silence, case: Case, now: datetime) -> bool:
    """True when ``silence`` is in force at ``now`` and matches ``case`` (never an emergency)."""
    if case.severity is Severity.EMERGENCY or not case.active:
        return False
    if not silence.starts_at <= now < silence.ends_at:
        return False
    if silence.station_id != case.station_id:
        return False
    if silence.subject_id is not None and silence.subject_id != case.subject_id:
        return False
    return silence.rule_id is None or silence.rule_id == case.rule_id


def silenced_until(silences: Iterable[Silence], case: Case, now: datetime) -> datetime | None:
    """The latest end of the silences that hold ``case`` at ``now``, or ``None``."""
    ends = [s.ends_at for s in silences if silences_case(s, case, now)]
    return max(ends) if ends else None


# --------------------------------------------------------------------------------- timers


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours with no non-urgent contact or escalation (``start`` may be after ``end``)."""

    start: time
    end: time
    tz: tzinfo

    def contains(self, at: datetime) -> bool:
        """True when ``at`` falls in the quiet hours (local time)."""
        local = at.astimezone(self.tz).timetz().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, at: datetime) -> datetime:
        """The first moment at or after ``at`` outside the quiet hours."""
        if not self.contains(at):
            return at
        local = at.astimezone(self.tz)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end


def contact_allowed(severity: Severity, at: datetime, quiet: QuietHours | None) -> bool:
    """Non-urgent contact waits for the end of quiet hours; emergencies and urgent never wait."""
    if quiet is None or severity in (Severity.EMERGENCY, Severity.URGENT):
        return True
    return not quiet.contains(at)


@dataclass(frozen=True, slots=True)
class Policy:
    """Timings per severity, with per-rule overrides of the escalation step."""

    #: minutes per escalation step while nobody acknowledges (0: never escalate)
    escalation_minutes: Mapping[Severity, int]
    #: highest escalation level (1: the whole station, 2: the supervisors)
    max_escalation_level: int
    #: minutes an acknowledged case may go without activity before it re-opens (0: never)
    ack_timeout_minutes: Mapping[Severity, int]
    #: minutes from opening to the target response; past it an open case is overdue
    response_minutes: Mapping[Severity, int]
    escalation_minutes_by_rule: Mapping[str, int] = field(default_factory=dict)
    #: days from a referral to its follow-up
    referral_follow_up_days: int = 14

    def escalation_step(self, case: Case) -> timedelta | None:
        """The escalation step for ``case``, or ``None`` when it never escalates."""
        minutes = self.escalation_minutes_by_rule.get(
            case.rule_id, self.escalation_minutes.get(case.severity, 0)
        )
        return timedelta(minutes=minutes) if minutes > 0 else None

    def ack_timeout(self, case: Case) -> timedelta | None:
        """How long an acknowledged case may sit without activity, or ``None``."""
        minutes = self.ack_timeout_minutes.get(case.severity, 0)
        return timedelta(minutes=minutes) if minutes > 0 else None

    def respond_by(self, case: Case) -> datetime | None:
        """When the case becomes overdue: response target if open, due date if parked."""
        if case.state is CaseState.OPEN:
            base = case.open_since or case.opened_at
            return base + timedelta(minutes=self.response_minutes.get(case.severity, 0))
        if case.state is CaseState.FOLLOW_UP:
            return case.due_at
        if case.state in (CaseState.CLAIMED, CaseState.IN_PROGRESS):
            timeout = self.ack_timeout(case)
            base = case.last_activity_at or case.opened_at
            return base + timeout if timeout else None
        return None


#: Defaults after research §1.10 (target response) and PagerDuty-style 10-minute steps.
DEFAULT_POLICY: Final = Policy(
    escalation_minutes={
        Severity.EMERGENCY: 10,
        Severity.URGENT: 30,
        Severity.FOLLOW_UP: 24 * 60,
        Severity.ENGAGEMENT: 0,
    },
    max_escalation_level=2,
    ack_timeout_minutes={
        Severity.EMERGENCY: 60,
        Severity.URGENT: 4 * 60,
        Severity.FOLLOW_UP: 3 * 24 * 60,
        Severity.ENGAGEMENT: 14 * 24 * 60,
    },
    response_minutes={
        Severity.EMERGENCY: 10,
        Severity.URGENT: 2 * 60,
        Severity.FOLLOW_UP: 2 * 24 * 60,
        Severity.ENGAGEMENT: 7 * 24 * 60,
    },
)


@dataclass(frozen=True, slots=True)
class Hold:
    """What holds a case's timers back: an inhibiting case or a silence."""

    muted: bool = False
    silenced_until: datetime | None = None

    def holds(self, now: datetime) -> bool:
        """True when the timers must wait at ``now``."""
        return self.muted or (self.silenced_until is not None and now < self.silenced_until)


def timers(
    case: Case,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
    *,
    quiet: QuietHours | None = None,
    hold: Hold = Hold(),
) -> list[Event]:
    """Time-driven events due at ``now`` (escalation, acknowledgement timeout, follow-up due)."""
    if not case.active:
        return []
    if case.state is CaseState.FOLLOW_UP:
        if case.due_at is not None and now >= case.due_at:
            return [FollowUpDue(at=now)]
        return []
    if hold.holds(now) or not contact_allowed(case.severity, now, quiet):
        return []
    if case.state is CaseState.OPEN:
        step = policy.escalation_step(case)
        if step is None:
            return []
        base = case.open_since or case.opened_at
        level = min(policy.max_escalation_level, math.floor((now - base) / step))
        return [Escalate(at=now, level=level)] if level > case.escalation_level else []
    timeout = policy.ack_timeout(case)
    base = case.last_activity_at or case.opened_at
    if timeout is not None and now - base >= timeout:
        return [AckTimeout(at=now)]
    return []


def next_timer(
    case: Case,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
    *,
    quiet: QuietHours | None = None,
    hold: Hold = Hold(),
) -> datetime | None:
    """When :func:`timers` may next have something to say about ``case`` (``None``: never)."""
    if not case.active:
        return None
    if case.state is CaseState.FOLLOW_UP:
        return case.due_at
    if hold.muted:
        return None  # re-evaluated when the muting case changes
    candidate: datetime | None
    if case.state is CaseState.OPEN:
        step = policy.escalation_step(case)
        if step is None or case.escalation_level >= policy.max_escalation_level:
            return None
        candidate = (case.open_since or case.opened_at) + step * (case.escalation_level + 1)
    else:
        timeout = policy.ack_timeout(case)
        if timeout is None:
            return None
        candidate = (case.last_activity_at or case.opened_at) + timeout
    if hold.silenced_until is not None:
        candidate = max(candidate, hold.silenced_until)
    if quiet is not None and not contact_allowed(case.severity, candidate, quiet):
        candidate = quiet.ends_after(candidate)
    return candidate


# ---------------------------------------------------------------------------- the queue


def queue_sort_key(
    case: Case, now: datetime, policy: Policy = DEFAULT_POLICY
) -> tuple[int, int, datetime]:
    """Overdue first, then by severity (emergency first), then oldest first."""
    respond_by = policy.respond_by(case)
    overdue = respond_by is not None and respond_by < now
    return (0 if overdue else 1, case.severity.rank, case.opened_at)
