"""HTTP schemas of the JSON API (pydantic is used only here and for settings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts import store as st
from alerts.lifecycle import AttemptResult, CaseState
from carepulse.alert import Category, Severity

HumanOutcome = Literal[
    "reached", "home_visit", "referred", "false_alarm", "device_issue", "declined"
]
RoleName = Literal["social_worker", "doctor", "supervisor", "admin"]

_Text = Field(default="", max_length=4000)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """An error: ``code`` for programs, ``detail`` for people."""

    code: str
    detail: str


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    station_id: str | None
    active: bool

    @classmethod
    def of(cls, info: st.UserInfo) -> UserOut:
        return cls.model_validate(_dc(info))


class SessionOut(BaseModel):
    """The signed-in user and the CSRF token to send as ``X-CSRF-Token`` on writes."""

    user: UserOut
    csrf_token: str


class UserIn(_In):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    role: RoleName
    station_id: str | None = Field(default=None, max_length=64)
    display_name: str = Field(default="", max_length=128)


class UserActiveIn(_In):
    active: bool


class CaseOut(BaseModel):
    id: int
    station_id: str
    subject_id: str
    resident_name: str
    rule_id: str
    category: str
    severity: str
    state: str
    reason: str
    repeat_count: int
    opened_at: datetime
    last_fired_at: datetime | None
    assignee_id: int | None
    assignee_name: str
    escalation_level: int
    due_at: datetime | None
    respond_by: datetime | None
    overdue: bool
    cleared: bool
    muted: bool
    silenced_until: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, item: st.QueueItem) -> CaseOut:
        return cls.model_validate(_dc(item))


class QueueOut(BaseModel):
    items: list[CaseOut]
    total: int


class HistoryOut(BaseModel):
    id: int
    at: datetime
    kind: str
    actor_id: int | None
    actor_name: str
    from_state: str | None
    to_state: str
    detail: dict[str, Any]


class ResidentOut(BaseModel):
    subject_id: str
    station_id: str
    name: str
    phone: str
    conditions: list[str]
    consent: str
    consent_at: datetime | None
    last_reading_at: datetime | None

    @classmethod
    def of(cls, info: st.ResidentInfo) -> ResidentOut:
        return cls.model_validate(_dc(info))


class ResidentDetailOut(BaseModel):
    resident: ResidentOut
    cases: list[CaseOut]


class CaseDetailOut(BaseModel):
    case: CaseOut
    source: str
    evidence: dict[str, Any]
    acknowledged_at: datetime | None
    closed_at: datetime | None
    resident: ResidentOut | None
    history: list[HistoryOut]
    others: list[CaseOut]
    allowed_actions: list[str]

    @classmethod
    def of(cls, detail: st.CaseDetail) -> CaseDetailOut:
        return cls(
            case=CaseOut.of(detail.item),
            source=detail.source,
            evidence=detail.evidence,
            acknowledged_at=detail.acknowledged_at,
            closed_at=detail.closed_at,
            resident=ResidentOut.of(detail.resident) if detail.resident else None,
            history=[HistoryOut.model_validate(_dc(h)) for h in detail.history],
            others=[CaseOut.of(o) for o in detail.others],
            allowed_actions=detail.allowed,
        )


class TransferIn(_In):
    to_user_id: int = Field(ge=1, le=2_147_483_647)
    note: str = _Text


class AttemptIn(_In):
    result: AttemptResult
    note: str = _Text


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=4000)


class ScheduleIn(_In):
    due: AwareDatetime
    note: str = _Text


class ResolveIn(_In):
    outcome: HumanOutcome
    note: str = _Text
    #: for "referred": when to follow up (default: the configured days from now)
    due: AwareDatetime | None = None


class ReopenIn(_In):
    reason: str = Field(min_length=1, max_length=4000)


class SilenceIn(_In):
    station_id: str = Field(min_length=1, max_length=64)
    subject_id: str | None = Field(default=None, max_length=32)
    rule_id: str | None = Field(default=None, max_length=128)
    ends_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=4000)


class SilenceOut(BaseModel):
    id: int
    station_id: str
    subject_id: str | None
    rule_id: str | None
    author: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    active: bool

    @classmethod
    def of(cls, info: st.SilenceInfo) -> SilenceOut:
        return cls.model_validate(_dc(info))


class QueryIn(_In):
    """A queue filter (also the body of a saved cohort filter)."""

    category: Category = Category.CLINICAL
    states: list[CaseState] = Field(
        default_factory=lambda: [CaseState.OPEN, CaseState.CLAIMED, CaseState.IN_PROGRESS],
        max_length=5,
    )
    severities: list[Severity] = Field(default_factory=list, max_length=4)
    station_id: str | None = Field(default=None, max_length=64)
    rule_prefix: str = Field(default="", max_length=128)
    condition: str = Field(default="", max_length=64)
    no_checkin_days: int | None = Field(default=None, ge=0, le=3650)
    mine_only: bool = False
    overdue_only: bool = False
    include_held: bool = False

    def to_query(self, limit: int = 50, offset: int = 0) -> st.QueueQuery:
        return st.QueueQuery(
            category=self.category,
            states=tuple(self.states),
            severities=tuple(self.severities),
            station_id=self.station_id,
            rule_prefix=self.rule_prefix,
            condition=self.condition,
            no_checkin_days=self.no_checkin_days,
            mine_only=self.mine_only,
            overdue_only=self.overdue_only,
            include_held=self.include_held,
            limit=limit,
            offset=offset,
        )

    @classmethod
    def of(cls, query: st.QueueQuery) -> QueryIn:
        return cls(
            category=query.category,
            states=list(query.states),
            severities=list(query.severities),
            station_id=query.station_id,
            rule_prefix=query.rule_prefix,
            condition=query.condition,
            no_checkin_days=query.no_checkin_days,
            mine_only=query.mine_only,
            overdue_only=query.overdue_only,
            include_held=query.include_held,
        )


class FilterIn(_In):
    name: str = Field(min_length=1, max_length=128)
    shared: bool = False
    query: QueryIn


class FilterOut(BaseModel):
    id: int
    name: str
    mine: bool
    query: QueryIn


class RuleStatsOut(BaseModel):
    rule_id: str
    closed: int
    false_alarms: int
    false_alarm_rate: float | None


class StationStatsOut(BaseModel):
    station_id: str
    open_by_severity: dict[str, int]
    ack_minutes_median: float | None
    ack_minutes_p90: float | None
    acknowledged_in_time: float | None
    rules: list[RuleStatsOut]
    days: list[str]
    residents_with_data: list[int]

    @classmethod
    def of(cls, stats: st.StationStats) -> StationStatsOut:
        return cls(
            station_id=stats.station_id,
            open_by_severity=stats.open_by_severity,
            ack_minutes_median=stats.ack_minutes_median,
            ack_minutes_p90=stats.ack_minutes_p90,
            acknowledged_in_time=stats.acknowledged_in_time,
            rules=[
                RuleStatsOut(
                    rule_id=r.rule_id,
                    closed=r.closed,
                    false_alarms=r.false_alarms,
                    false_alarm_rate=r.false_alarm_rate,
                )
                for r in stats.rules
            ],
            days=stats.days,
            residents_with_data=stats.residents_with_data,
        )


class AuditOut(BaseModel):
    id: int
    at: datetime
    username: str
    role: str
    action: str
    entity_type: str
    entity_id: str
    station_id: str | None
    outcome: str
    address: str
    detail: dict[str, Any]


def _dc(value: object) -> dict[str, Any]:
    """A slotted dataclass as a dict (shallow)."""
    return {name: getattr(value, name) for name in value.__dataclass_fields__}  # type: ignore[attr-defined]
