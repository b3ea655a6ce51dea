"""The case store: SQLAlchemy 2 on SQLite (embedded default) or PostgreSQL.

Tables: ``cases`` (one active per station+subject+rule, enforced by a unique ``open_key``),
``case_events`` (append-only history), ``alert_receipts`` (idempotency by alert id),
``residents`` (name, phone, conditions, consent: the only place they exist in the
pipeline), ``users``, ``silences``, ``saved_filters``, ``resident_days`` (days with readings
seen in alert evidence) and ``audit_log`` (append-only).

Append-only is enforced twice: an ORM ``before_flush`` hook refuses to update or delete
history and audit rows, and database triggers (SQLite and PostgreSQL) refuse ``UPDATE`` and
``DELETE`` on those tables for anyone who bypasses the ORM.

The lifecycle rules live in :mod:`alerts.lifecycle`; this module only maps rows to
:class:`~alerts.lifecycle.Case` snapshots and back, in one transaction per action.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    case,
    create_engine,
    event,
    func,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from alerts import lifecycle as lc
from alerts.errors import AppendOnlyError, Conflict, Forbidden, InvalidTransition, NotFound
from alerts.passwords import DUMMY_HASH, hash_password, verify_password
from alerts.passwords import N as SCRYPT_N
from carepulse.alert import Alert, Category, Severity, Status

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The wall clock in UTC (the store's default clock)."""
    return datetime.now(UTC)


class Role(StrEnum):
    """What a user may see and do (docs/alerts.md, "Roles")."""

    SOCIAL_WORKER = "social_worker"
    DOCTOR = "doctor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


#: Roles bound to one station.
STATION_ROLES: Final = frozenset({Role.SOCIAL_WORKER, Role.DOCTOR})


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user as the store sees them."""

    user_id: int
    username: str
    role: Role
    station_id: str | None
    display_name: str = ""

    @property
    def clinical(self) -> bool:
        """True for roles that work cases (everyone but the administrator)."""
        return self.role is not Role.ADMIN

    def sees_station(self, station_id: str) -> bool:
        """Whether cases and residents of ``station_id`` are visible to this user."""
        if self.role is Role.SUPERVISOR:
            return True
        return self.role in STATION_ROLES and station_id == self.station_id

    def stations_clause(self) -> str | None:
        """The one station this user is limited to (``None``: all stations)."""
        return None if self.role is Role.SUPERVISOR else (self.station_id or "\x00no-station")


# ------------------------------------------------------------------------------- columns


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetime given to the case store; pass an aware UTC datetime"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the case store."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012 - SQLAlchemy's documented class attribute


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    station_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ResidentRow(Base):
    __tablename__ = "residents"

    subject_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    #: ",diabetes,hypertension," (normalised slugs, comma-fenced for portable LIKE matching)
    conditions: Mapped[str] = mapped_column(String(512), default=",")
    consent: Mapped[str] = mapped_column(String(16), default="unknown")
    consent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_reading_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]

    @property
    def condition_list(self) -> list[str]:
        return [c for c in self.conditions.split(",") if c]


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_queue", "category", "state", "station_id", "severity_rank", "opened_at"),
        Index("ix_cases_resident", "station_id", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    severity_rank: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    #: "station|subject|rule" while active, NULL once closed: at most one active case per key
    open_key: Mapped[str | None] = mapped_column(String(256), unique=True, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_alert_id: Mapped[str] = mapped_column(String(64))
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime]
    last_fired_at: Mapped[datetime | None] = mapped_column(nullable=True)
    open_since: Mapped[datetime | None] = mapped_column(nullable=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: derived, refreshed on every change of the resident's cases or silences
    respond_by: Mapped[datetime | None] = mapped_column(nullable=True)
    next_timer_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    muted_by_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    muted_rule: Mapped[str | None] = mapped_column(String(64), nullable=True)
    silenced_until: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's documented class attribute


class AlertReceiptRow(Base):
    __tablename__ = "alert_receipts"

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    received_at: Mapped[datetime]


class CaseEventRow(Base):
    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SilenceRow(Base):
    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]
    ended_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def as_silence(self) -> lc.Silence:
        return lc.Silence(
            station_id=self.station_id,
            author=self.author_id,
            reason=self.reason,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            subject_id=self.subject_id,
            rule_id=self.rule_id,
        )


class SavedFilterRow(Base):
    __tablename__ = "saved_filters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    station_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(128))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class ResidentDayRow(Base):
    __tablename__ = "resident_days"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32), default="")
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    station_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


APPEND_ONLY_TABLES: Final = ("case_events", "audit_log")


@event.listens_for(Session, "before_flush")
def _refuse_history_changes(session: Session, _context: object, _instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, CaseEventRow | AuditRow) and (
            obj in session.deleted or session.is_modified(obj)
        ):
            raise AppendOnlyError(obj.__tablename__)


def _append_only_ddl(connection: Any, dialect_name: str) -> None:
    for table in APPEND_ONLY_TABLES:
        if dialect_name == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                connection.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} "
                    f"ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        elif dialect_name == "postgresql":
            connection.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION carepulse_append_only() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END $$"
            )
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            connection.exec_driver_sql(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION carepulse_append_only()"
            )


# ------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch of alerts did to the store."""

    opened: int = 0
    repeated: int = 0
    cleared: int = 0
    duplicates: int = 0
    ignored: int = 0

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))


def _fields(result: IngestResult) -> tuple[int, ...]:
    return dataclasses.astuple(result)


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """Filters of the queue; also the body of a saved cohort filter."""

    category: Category = Category.CLINICAL
    states: tuple[lc.CaseState, ...] = (
        lc.CaseState.OPEN,
        lc.CaseState.CLAIMED,
        lc.CaseState.IN_PROGRESS,
    )
    severities: tuple[Severity, ...] = ()
    station_id: str | None = None
    rule_prefix: str = ""
    condition: str = ""
    no_checkin_days: int | None = None
    mine_only: bool = False
    overdue_only: bool = False
    include_held: bool = False
    subject_id: str | None = None
    limit: int = 50
    offset: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (for saved filters and links)."""
        data = dataclasses.asdict(self)
        data["category"] = self.category.value
        data["states"] = [s.value for s in self.states]
        data["severities"] = [s.value for s in self.severities]
        data.pop("limit")
        data.pop("offset")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueQuery:
        """Inverse of :meth:`as_dict` (unknown keys are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "category" in values:
            values["category"] = Category(values["category"])
        if "states" in values:
            values["states"] = tuple(lc.CaseState(s) for s in values["states"])
        if "severities" in values:
            values["severities"] = tuple(Severity(s) for s in values["severities"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One row of the queue as the pages and the API show it."""

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


@dataclass(frozen=True, slots=True)
class QueuePage:
    """A page of the queue and the total number of matching cases."""

    items: list[QueueItem]
    total: int


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One history row."""

    id: int
    at: datetime
    kind: str
    actor_id: int | None
    actor_name: str
    from_state: str | None
    to_state: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResidentInfo:
    """A resident's profile (visible only to the resident's station and supervisors)."""

    subject_id: str
    station_id: str
    name: str
    phone: str
    conditions: list[str]
    consent: str
    consent_at: datetime | None
    last_reading_at: datetime | None


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """Everything the case page shows."""

    item: QueueItem
    source: str
    evidence: dict[str, Any]
    acknowledged_at: datetime | None
    closed_at: datetime | None
    resident: ResidentInfo | None
    history: list[HistoryItem]
    others: list[QueueItem]
    allowed: list[str]


@dataclass(frozen=True, slots=True)
class ResidentRecord:
    """One row of a residents import."""

    subject_id: str
    station_id: str
    name: str
    phone: str = ""
    conditions: tuple[str, ...] = ()
    consent: str = "unknown"
    consent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as listed (never with the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    station_id: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class SilenceInfo:
    """A silence as listed."""

    id: int
    station_id: str
    subject_id: str | None
    rule_id: str | None
    author: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    active: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row as listed."""

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


@dataclass(frozen=True, slots=True)
class RuleStats:
    """Closed cases and false alarms of one rule at one station."""

    rule_id: str
    closed: int
    false_alarms: int

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.closed if self.closed else None


@dataclass(frozen=True, slots=True)
class StationStats:
    """The station page's figures, all from the case store."""

    station_id: str
    open_by_severity: dict[str, int]
    ack_minutes_median: float | None
    ack_minutes_p90: float | None
    acknowledged_in_time: float | None
    rules: list[RuleStats]
    days: list[str]
    participation: list[tuple[str, str, list[bool]]] = field(default_factory=list)
    residents_with_data: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AckFigures:
    """How fast cases of one rule and severity were acknowledged (no resident, no user).

    ``rule_id`` / ``severity`` are ``"all"`` in the totals rows. Minutes run from the
    alert's ``raised_at`` (the case's ``opened_at``) to its first acknowledgement (claim,
    contact attempt or transfer). ``within_target`` counts cases acknowledged within the
    severity's response target; ``due`` those acknowledged or already past the target.
    """

    rule_id: str
    severity: str
    raised: int
    acknowledged: int
    median_minutes: float | None
    p90_minutes: float | None
    within_target: int
    due: int


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is asking and from where (for the audit log)."""

    viewer: Viewer | None
    address: str = ""


def normalise_condition(value: str) -> str:
    """Lower-case slug of a condition name ("Type 2 diabetes" -> "type_2_diabetes")."""
    return "_".join(value.strip().lower().replace("-", " ").split())


# ------------------------------------------------------------------------------ the store


class CaseStore:
    """All reads and writes of the alert service (one short transaction per call)."""

    def __init__(
        self,
        engine: Engine,
        *,
        policy: lc.Policy = lc.DEFAULT_POLICY,
        quiet: lc.QuietHours | None = None,
        inhibit_rules: Sequence[lc.InhibitRule] = lc.DEFAULT_INHIBIT_RULES,
        clock: Callable[[], datetime] = utcnow,
        scrypt_n: int = SCRYPT_N,
    ) -> None:
        self.engine = engine
        self.scrypt_n = scrypt_n
        self.policy = policy
        self.quiet = quiet
        self.inhibit_rules = tuple(inhibit_rules)
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # ----------------------------------------------------------------- set-up

    @staticmethod
    def engine_for(url: str, *, echo: bool = False) -> Engine:
        """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 30},
                poolclass=StaticPool if memory else None,
            )

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: object) -> None:
                cursor = dbapi_connection.cursor()
                if not memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

            return engine
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)

    def ping(self) -> None:
        """Run ``SELECT 1`` on a pooled connection; raises what the driver raises."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def create_schema(self) -> None:
        """Create missing tables and the append-only triggers (idempotent)."""
        if self.engine.dialect.name == "sqlite" and self.engine.url.database:
            from pathlib import Path

            database = self.engine.url.database
            if database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        Base.metadata.create_all(self.engine)
        with self.engine.begin() as connection:
            _append_only_ddl(connection, self.engine.dialect.name)

    def drop_schema(self) -> None:
        """Drop every table (tests only)."""
        Base.metadata.drop_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    # ------------------------------------------------------------------ users

    def add_user(
        self,
        username: str,
        password: str,
        role: Role,
        station_id: str | None = None,
        display_name: str = "",
        *,
        by: AuditContext | None = None,
    ) -> UserInfo:
        """Create a user; station roles need a station, supervisors and admins have none."""
        if role in STATION_ROLES and not station_id:
            msg = f"a {role.value} belongs to one station: give --station"
            raise ValueError(msg)
        if role not in STATION_ROLES:
            station_id = None
        username = username.strip()
        if not username:
            msg = "a username is needed"
            raise ValueError(msg)
        row = UserRow(
            username=username,
            display_name=display_name or username,
            password_hash=hash_password(password, n=self.scrypt_n),
            role=role.value,
            station_id=station_id,
            active=True,
            created_at=self.clock(),
        )
        try:
            with self.session() as s:
                s.add(row)
                s.flush()
                self._audit(
                    s,
                    by,
                    "user_add",
                    "user",
                    str(row.id),
                    station_id,
                    detail={"role": role.value, "username": username},
                )
        except IntegrityError as exc:
            msg = f"the username {username!r} is taken"
            raise Conflict(msg, what="username") from exc
        return _user_info(row)

    def authenticate(self, username: str, password: str, *, address: str = "") -> Viewer | None:
        """The viewer for a correct password, else ``None``; both are audited."""
        with self.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            ok = verify_password(password, row.password_hash if row else DUMMY_HASH)
            if row is None or not row.active or not ok:
                s.add(
                    AuditRow(
                        at=self.clock(),
                        username=username[:64],
                        action="login",
                        outcome="failure",
                        address=address,
                    )
                )
                return None
            viewer = _viewer(row)
            self._audit(s, AuditContext(viewer, address), "login", "user", str(row.id), None)
            return viewer

    def viewer(self, user_id: int) -> Viewer | None:
        """The active user with ``user_id`` (sessions re-check on every request)."""
        with self.session() as s:
            row = s.get(UserRow, user_id)
            return _viewer(row) if row is not None and row.active else None

    def user(self, user_id: int) -> UserInfo:
        """One user by id (raises NotFound)."""
        with self.session() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFound(what="user", key=user_id)
            return _user_info(row)

    def users(self, viewer: Viewer, *, station_id: str | None = None) -> list[UserInfo]:
        """Users the viewer may list: admins all; others the colleagues they can hand cases to."""
        with self.session() as s:
            query = select(UserRow).where(UserRow.active.is_(True)).order_by(UserRow.username)
            if viewer.role is not Role.ADMIN:
                station = station_id if viewer.role is Role.SUPERVISOR else viewer.station_id
                query = query.where(
                    or_(UserRow.station_id == station, UserRow.role == Role.SUPERVISOR.value)
                    if station
                    else UserRow.role == Role.SUPERVISOR.value
                )
            return [_user_info(r) for r in s.scalars(query)]

    def set_user_active(
        self, viewer: Viewer, user_id: int, active: bool, *, by: AuditContext
    ) -> None:
        """Admins enable or disable a user (disabled users cannot sign in)."""
        _require(viewer.role is Role.ADMIN, "only administrators manage users")
        with self.session() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFound(what="user", key=user_id)
            row.active = active
            self._audit(
                s,
                by,
                "user_update",
                "user",
                str(user_id),
                row.station_id,
                detail={"active": active},
            )

    # -------------------------------------------------------------- residents

    def import_residents(
        self, records: Iterable[ResidentRecord], *, by: AuditContext | None = None
    ) -> int:
        """Insert or update residents by pseudonym; returns how many rows were written."""
        count = 0
        now = self.clock()
        with self.session() as s:
            for record in records:
                row = s.get(ResidentRow, record.subject_id)
                if row is None:
                    row = ResidentRow(subject_id=record.subject_id, updated_at=now)
                    s.add(row)
                row.station_id = record.station_id
                row.name = record.name
                row.phone = record.phone
                row.conditions = _fence(record.conditions)
                row.consent = record.consent
                row.consent_at = record.consent_at
                row.updated_at = now
                count += 1
            self._audit(s, by, "resident_import", "resident", "", None, detail={"count": count})
        return count

    def residents(
        self,
        viewer: Viewer,
        *,
        condition: str = "",
        limit: int = 200,
        by: AuditContext | None = None,
    ) -> list[ResidentInfo]:
        """Residents of the viewer's station(s), optionally with one condition."""
        _require(viewer.clinical, "administrators do not see residents")
        with self.session() as s:
            query = (
                select(ResidentRow).order_by(ResidentRow.station_id, ResidentRow.name).limit(limit)
            )
            station = viewer.stations_clause()
            if station is not None:
                query = query.where(ResidentRow.station_id == station)
            if condition:
                query = query.where(
                    ResidentRow.conditions.like(f"%,{normalise_condition(condition)},%")
                )
            rows = list(s.scalars(query))
            self._audit(
                s,
                by,
                "view_residents",
                "resident",
                "",
                station,
                detail={"condition": condition, "count": len(rows)},
            )
            return [_resident_info(r) for r in rows]

    def resident(
        self, viewer: Viewer, subject_id: str, *, by: AuditContext | None = None
    ) -> tuple[ResidentInfo, list[QueueItem]]:
        """One resident's profile and cases (404 for a resident of another station)."""
        _require(viewer.clinical, "administrators do not see residents")
        with self.session() as s:
            row = s.get(ResidentRow, subject_id)
            if row is None or not viewer.sees_station(row.station_id):
                raise self._denied(by, "view_resident", "resident", subject_id)
            cases = s.scalars(
                select(CaseRow)
                .where(CaseRow.subject_id == subject_id, CaseRow.station_id == row.station_id)
                .order_by(CaseRow.opened_at.desc())
                .limit(100)
            )
            now = self.clock()
            items = [self._item(s, c, now) for c in cases]
            self._audit(
                s,
                by,
                "view_resident",
                "resident",
                subject_id,
                row.station_id,
                subject_id=subject_id,
            )
            return _resident_info(row), items

    # ----------------------------------------------------------------- ingest

    def ingest(self, alerts: Sequence[Alert]) -> IngestResult:
        """Fold alerts into cases in one transaction; re-delivered alerts change nothing."""
        total = IngestResult()
        if not alerts:
            return total
        now = self.clock()
        with self.session() as s:
            touched: set[tuple[str, str]] = set()
            for alert in alerts:
                result = self._ingest_one(s, alert, now)
                total = total + result
                if result != IngestResult(duplicates=1):
                    touched.add((alert.station_id, alert.subject_id))
            for station_id, subject_id in touched:
                self._refresh_resident(s, station_id, subject_id, now)
        return total

    def _ingest_one(self, s: Session, alert: Alert, now: datetime) -> IngestResult:
        receipt_key = (alert.alert_id, alert.status.value)
        if s.get(AlertReceiptRow, receipt_key) is not None:
            return IngestResult(duplicates=1)
        self._note_activity(s, alert)
        key = _open_key(alert.station_id, alert.subject_id, alert.rule_id)
        row = s.scalar(select(CaseRow).where(CaseRow.open_key == key))
        at = alert.raised_at
        if alert.status is Status.RESOLVED:
            s.add(
                AlertReceiptRow(
                    alert_id=alert.alert_id,
                    status=alert.status.value,
                    case_id=row.id if row else None,
                    received_at=now,
                )
            )
            if row is None:
                return IngestResult(ignored=1)
            self._transition(
                s,
                row,
                lc.Clear(at=at, alert_id=alert.alert_id),
                actor=None,
                detail={"alert_id": alert.alert_id},
            )
            return IngestResult(cleared=1)
        fire = lc.Fire(
            at=at,
            alert_id=alert.alert_id,
            severity=alert.severity,
            reason=alert.reason,
            evidence=alert.evidence,
        )
        if row is None:
            case = lc.open_case(
                station_id=alert.station_id,
                subject_id=alert.subject_id,
                rule_id=alert.rule_id,
                category=alert.category,
                fire=fire,
            )
            row = CaseRow(
                station_id=alert.station_id,
                subject_id=alert.subject_id,
                rule_id=alert.rule_id,
                category=alert.category.value,
                source=alert.source,
                first_alert_id=alert.alert_id,
                open_key=key,
            )
            _write_case(row, case)
            s.add(row)
            s.flush()
            s.add(
                CaseEventRow(
                    case_id=row.id,
                    station_id=row.station_id,
                    at=at,
                    kind="opened",
                    from_state=None,
                    to_state=row.state,
                    detail={"alert_id": alert.alert_id, "severity": alert.severity.value},
                )
            )
            s.add(
                AlertReceiptRow(
                    alert_id=alert.alert_id,
                    status=alert.status.value,
                    case_id=row.id,
                    received_at=now,
                )
            )
            return IngestResult(opened=1)
        row.source = alert.source
        self._transition(
            s,
            row,
            fire,
            actor=None,
            detail={"alert_id": alert.alert_id, "severity": alert.severity.value},
        )
        s.add(
            AlertReceiptRow(
                alert_id=alert.alert_id, status=alert.status.value, case_id=row.id, received_at=now
            )
        )
        return IngestResult(repeated=1)

    def _note_activity(self, s: Session, alert: Alert) -> None:
        """Record the days with readings (participation) and the last reading time."""
        times: list[datetime] = []
        readings = alert.evidence.get("readings") if isinstance(alert.evidence, Mapping) else None
        for reading in readings if isinstance(readings, list) else []:
            stamp = reading.get("measured_at") if isinstance(reading, Mapping) else None
            if isinstance(stamp, str):
                try:
                    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                except ValueError:
                    continue
                if parsed.tzinfo is not None:
                    times.append(parsed.astimezone(UTC))
        for day in {t.date().isoformat() for t in times}:
            key = (alert.station_id, alert.subject_id, day)
            if s.get(ResidentDayRow, key) is None:
                s.add(ResidentDayRow(station_id=key[0], subject_id=key[1], day=key[2]))
        if times:
            resident = s.get(ResidentRow, alert.subject_id)
            latest = max(times)
            if resident is not None and (
                resident.last_reading_at is None or resident.last_reading_at < latest
            ):
                resident.last_reading_at = latest

    # ---------------------------------------------------------------- actions

    def act(
        self, viewer: Viewer, case_id: int, action: lc.Event, *, by: AuditContext | None = None
    ) -> QueueItem:
        """Apply a person's action to a case (permission-checked, audited, one transaction)."""
        _require(viewer.clinical, "administrators do not work cases")
        now = self.clock()
        with self.session() as s:
            row = s.get(CaseRow, case_id, with_for_update=True)
            if row is None or not viewer.sees_station(row.station_id):
                raise NotFound(what="case", key=case_id)
            detail: dict[str, Any] = {}
            match action:
                case lc.Transfer():
                    target = s.get(UserRow, action.to)
                    if (
                        target is None
                        or not target.active
                        or not _viewer(target).sees_station(row.station_id)
                    ):
                        msg = "transfer only to an active colleague of this station or a supervisor"
                        raise Forbidden(msg)
                    detail = {"to": action.to, "to_name": target.display_name, "note": action.note}
                case lc.Attempt():
                    detail = {"result": action.result.value, "note": action.note}
                case lc.Note():
                    detail = {"text": action.text}
                case lc.Schedule():
                    detail = {"due": action.due.isoformat(), "note": action.note}
                case lc.Resolve():
                    detail = {"outcome": action.outcome.value, "note": action.note}
                    if action.due is not None:
                        detail["due"] = action.due.isoformat()
                case lc.Reopen():
                    self.reopen_conflict_check(s, row)
                    _require(
                        viewer.role is Role.SUPERVISOR or row.assignee_id == viewer.user_id,
                        "only the case's owner or a supervisor re-opens a closed case",
                    )
                    detail = {"reason": action.reason}
                case lc.Unclaim():
                    _require(
                        viewer.role is Role.SUPERVISOR or row.assignee_id == viewer.user_id,
                        "only the owner or a supervisor gives a case back",
                    )
                case (
                    lc.Claim()
                    | lc.Fire()
                    | lc.Clear()
                    | lc.Escalate()
                    | lc.AckTimeout()
                    | lc.FollowUpDue()
                ):
                    pass
            self._transition(s, row, action, actor=viewer.user_id, detail=detail)
            self._refresh_resident(s, row.station_id, row.subject_id, now)
            self._audit(
                s,
                by,
                type(action).__name__.lower(),
                "case",
                str(case_id),
                row.station_id,
                subject_id=row.subject_id,
                detail=detail,
            )
            return self._item(s, row, now)

    def _transition(
        self,
        s: Session,
        row: CaseRow,
        event_: lc.Event,
        *,
        actor: int | None,
        detail: dict[str, Any],
    ) -> None:
        before = _read_case(row)
        kind = lc.kind_of(before, event_)
        after = lc.apply(before, event_)
        _write_case(row, after)
        if not after.active:
            row.open_key = None
        elif row.open_key is None:
            row.open_key = _open_key(row.station_id, row.subject_id, row.rule_id)
        s.add(
            CaseEventRow(
                case_id=row.id,
                station_id=row.station_id,
                at=event_.at,
                actor_id=actor,
                kind=kind.value,
                from_state=before.state.value,
                to_state=after.state.value,
                detail=detail,
            )
        )

    def reopen_conflict_check(self, s: Session, row: CaseRow) -> None:
        """A closed case cannot re-open while another active case has its key."""
        key = _open_key(row.station_id, row.subject_id, row.rule_id)
        other = s.scalar(select(CaseRow.id).where(CaseRow.open_key == key))
        if other is not None and other != row.id:
            msg = f"case {other} is already open for this resident and rule; work that one"
            raise Conflict(msg, what="case")

    def _refresh_resident(
        self, s: Session, station_id: str, subject_id: str, now: datetime
    ) -> None:
        """Recompute inhibition, silences, overdue and next timer for a resident's active cases."""
        rows = list(
            s.scalars(
                select(CaseRow).where(
                    CaseRow.station_id == station_id,
                    CaseRow.subject_id == subject_id,
                    CaseRow.open_key.is_not(None),
                )
            )
        )
        silences = [
            r.as_silence()
            for r in s.scalars(
                select(SilenceRow).where(
                    SilenceRow.station_id == station_id,
                    SilenceRow.ends_at > now,
                    or_(SilenceRow.subject_id.is_(None), SilenceRow.subject_id == subject_id),
                )
            )
        ]
        cases = [_read_case(r) for r in rows]
        for row, case_ in zip(rows, cases, strict=True):
            mute = lc.muted_by(case_, cases, self.inhibit_rules)
            self._set_derived(row, case_, now, mute, rows, silences)

    def _set_derived(
        self,
        row: CaseRow,
        case_: lc.Case,
        now: datetime,
        mute: lc.Mute | None,
        rows: Sequence[CaseRow],
        silences: Sequence[lc.Silence],
    ) -> None:
        muted_id = rows[mute.source].id if mute is not None else None
        until = lc.silenced_until(silences, case_, now)
        if (row.muted_by_case_id, row.muted_rule) != (muted_id, mute.rule if mute else None):
            row.muted_by_case_id = muted_id
            row.muted_rule = mute.rule if mute else None
        if row.silenced_until != until:
            row.silenced_until = until
        hold = lc.Hold(muted=mute is not None, silenced_until=until)
        respond_by = self.policy.respond_by(case_)
        if row.respond_by != respond_by:
            row.respond_by = respond_by
        next_at = lc.next_timer(case_, now, self.policy, quiet=self.quiet, hold=hold)
        if row.next_timer_at != next_at:
            row.next_timer_at = next_at

    # ----------------------------------------------------------------- timers

    def run_timers(self, now: datetime | None = None, *, limit: int = 500) -> int:
        """Apply due escalations, acknowledgement timeouts and follow-ups; returns the count."""
        now = now or self.clock()
        applied = 0
        with self.session() as s:
            rows = list(
                s.scalars(
                    select(CaseRow)
                    .where(
                        CaseRow.next_timer_at.is_not(None),
                        CaseRow.next_timer_at <= now,
                        CaseRow.open_key.is_not(None),
                    )
                    .order_by(CaseRow.next_timer_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            residents: set[tuple[str, str]] = set()
            for row in rows:
                case_ = _read_case(row)
                hold = lc.Hold(
                    muted=row.muted_by_case_id is not None, silenced_until=row.silenced_until
                )
                for ev in lc.timers(case_, now, self.policy, quiet=self.quiet, hold=hold):
                    detail = {"level": ev.level} if isinstance(ev, lc.Escalate) else {}
                    self._transition(s, row, ev, actor=None, detail=detail)
                    applied += 1
                residents.add((row.station_id, row.subject_id))
            for station_id, subject_id in residents:
                self._refresh_resident(s, station_id, subject_id, now)
        return applied

    # --------------------------------------------------------------- silences

    def add_silence(
        self,
        viewer: Viewer,
        *,
        station_id: str,
        ends_at: datetime,
        reason: str,
        subject_id: str | None = None,
        rule_id: str | None = None,
        by: AuditContext | None = None,
    ) -> SilenceInfo:
        """Create a silence (never for emergencies, at most 30 days, with a reason)."""
        _require(
            viewer.clinical and viewer.sees_station(station_id), "you may not silence this station"
        )
        now = self.clock()
        silence = lc.Silence(
            station_id=station_id,
            author=viewer.user_id,
            reason=reason,
            starts_at=now,
            ends_at=ends_at,
            subject_id=subject_id or None,
            rule_id=rule_id or None,
        )
        with self.session() as s:
            emergency_rules = set(
                s.scalars(
                    select(CaseRow.rule_id)
                    .where(CaseRow.severity == Severity.EMERGENCY.value)
                    .distinct()
                )
            )
            lc.check_silence(silence, now, emergency_rules=emergency_rules)
            row = SilenceRow(
                station_id=station_id,
                subject_id=silence.subject_id,
                rule_id=silence.rule_id,
                author_id=viewer.user_id,
                reason=reason,
                starts_at=now,
                ends_at=ends_at,
                created_at=now,
            )
            s.add(row)
            s.flush()
            self._refresh_station(s, station_id, subject_id or None, now)
            self._audit(
                s,
                by,
                "silence",
                "silence",
                str(row.id),
                station_id,
                subject_id=silence.subject_id,
                detail={
                    "rule_id": silence.rule_id,
                    "ends_at": ends_at.isoformat(),
                    "reason": reason,
                },
            )
            return self._silence_info(s, row, now)

    def end_silence(
        self, viewer: Viewer, silence_id: int, *, by: AuditContext | None = None
    ) -> None:
        """End a silence now (its author, a colleague of the station, or a supervisor)."""
        now = self.clock()
        with self.session() as s:
            row = s.get(SilenceRow, silence_id)
            if row is None or not viewer.sees_station(row.station_id):
                raise NotFound(what="silence", key=silence_id)
            if row.ends_at > now:
                row.ends_at = now
                row.ended_by_id = viewer.user_id
            self._refresh_station(s, row.station_id, row.subject_id, now)
            self._audit(s, by, "silence_end", "silence", str(silence_id), row.station_id)

    def silences(self, viewer: Viewer, *, active_only: bool = True) -> list[SilenceInfo]:
        """Silences of the viewer's station(s)."""
        _require(viewer.clinical, "administrators do not see silences")
        now = self.clock()
        with self.session() as s:
            query = select(SilenceRow).order_by(SilenceRow.ends_at.desc()).limit(200)
            station = viewer.stations_clause()
            if station is not None:
                query = query.where(SilenceRow.station_id == station)
            if active_only:
                query = query.where(SilenceRow.ends_at > now)
            return [self._silence_info(s, r, now) for r in s.scalars(query)]

    def _silence_info(self, s: Session, row: SilenceRow, now: datetime) -> SilenceInfo:
        author = s.get(UserRow, row.author_id)
        return SilenceInfo(
            id=row.id,
            station_id=row.station_id,
            subject_id=row.subject_id,
            rule_id=row.rule_id,
            author=author.display_name if author else "?",
            reason=row.reason,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            active=row.starts_at <= now < row.ends_at,
        )

    def _refresh_station(
        self, s: Session, station_id: str, subject_id: str | None, now: datetime
    ) -> None:
        query = select(CaseRow.subject_id).where(
            CaseRow.station_id == station_id, CaseRow.open_key.is_not(None)
        )
        if subject_id is not None:
            query = query.where(CaseRow.subject_id == subject_id)
        for subject in set(s.scalars(query)):
            self._refresh_resident(s, station_id, subject, now)

    def expire_silences(self, now: datetime | None = None) -> int:
        """Refresh cases whose silence ended (they come back to the queue); returns how many."""
        now = now or self.clock()
        with self.session() as s:
            rows = list(
                s.scalars(
                    select(CaseRow).where(
                        CaseRow.silenced_until.is_not(None), CaseRow.silenced_until <= now
                    )
                )
            )
            for key in {(r.station_id, r.subject_id) for r in rows}:
                self._refresh_resident(s, key[0], key[1], now)
            return len(rows)

    # ------------------------------------------------------------------ reads

    def queue(
        self, viewer: Viewer, query: QueueQuery, *, by: AuditContext | None = None
    ) -> QueuePage:
        """A page of the queue: overdue first, then severity, then age."""
        _require(viewer.clinical, "administrators do not see the queue")
        now = self.clock()
        with self.session() as s:
            conditions: list[Any] = [CaseRow.category == query.category.value]
            if query.states:
                conditions.append(CaseRow.state.in_([st.value for st in query.states]))
            station = viewer.stations_clause()
            if station is not None:
                conditions.append(CaseRow.station_id == station)
            elif query.station_id:
                conditions.append(CaseRow.station_id == query.station_id)
            if query.severities:
                conditions.append(CaseRow.severity.in_([sv.value for sv in query.severities]))
            if query.rule_prefix:
                conditions.append(CaseRow.rule_id.startswith(query.rule_prefix, autoescape=True))
            if query.mine_only:
                conditions.append(CaseRow.assignee_id == viewer.user_id)
            if query.subject_id:
                conditions.append(CaseRow.subject_id == query.subject_id)
            overdue_expr = and_(CaseRow.respond_by.is_not(None), CaseRow.respond_by < now)
            if query.overdue_only:
                conditions.append(overdue_expr)
            if not query.include_held:
                conditions.append(CaseRow.muted_by_case_id.is_(None))
                conditions.append(
                    or_(CaseRow.silenced_until.is_(None), CaseRow.silenced_until <= now)
                )
            joined = bool(query.condition) or query.no_checkin_days is not None
            if query.condition:
                conditions.append(
                    ResidentRow.conditions.like(f"%,{normalise_condition(query.condition)},%")
                )
            if query.no_checkin_days is not None:
                cutoff = now - timedelta(days=query.no_checkin_days)
                conditions.append(
                    or_(ResidentRow.last_reading_at.is_(None), ResidentRow.last_reading_at < cutoff)
                )
            base = select(CaseRow).where(*conditions)
            count = select(func.count()).select_from(CaseRow).where(*conditions)
            if joined:
                base = base.join(ResidentRow, ResidentRow.subject_id == CaseRow.subject_id)
                count = count.join(ResidentRow, ResidentRow.subject_id == CaseRow.subject_id)
            order = (
                case((overdue_expr, 0), else_=1),
                CaseRow.severity_rank,
                CaseRow.opened_at,
                CaseRow.id,
            )
            rows = list(
                s.scalars(
                    base.order_by(*order)
                    .limit(max(1, min(query.limit, 500)))
                    .offset(max(0, query.offset))
                )
            )
            total = s.scalar(count) or 0
            items = self._items(s, rows, now)
            self._audit(
                s,
                by,
                "view_queue",
                "queue",
                "",
                station,
                detail={"filter": query.as_dict(), "shown": len(items)},
            )
            return QueuePage(items=items, total=total)

    def case_detail(
        self, viewer: Viewer, case_id: int, *, by: AuditContext | None = None
    ) -> CaseDetail:
        """The case page (404 for a case of another station; every view audited)."""
        _require(viewer.clinical, "administrators do not see cases")
        now = self.clock()
        with self.session() as s:
            row = s.get(CaseRow, case_id)
            if row is None or not viewer.sees_station(row.station_id):
                raise self._denied(by, "view_case", "case", case_id)
            resident = s.get(ResidentRow, row.subject_id)
            events = list(
                s.scalars(
                    select(CaseEventRow)
                    .where(CaseEventRow.case_id == case_id)
                    .order_by(CaseEventRow.id)
                )
            )
            names = self._names(s, {e.actor_id for e in events if e.actor_id is not None})
            history = [
                HistoryItem(
                    id=e.id,
                    at=e.at,
                    kind=e.kind,
                    actor_id=e.actor_id,
                    actor_name=names.get(e.actor_id, "") if e.actor_id is not None else "",
                    from_state=e.from_state,
                    to_state=e.to_state,
                    detail=dict(e.detail or {}),
                )
                for e in events
            ]
            others = list(
                s.scalars(
                    select(CaseRow).where(
                        CaseRow.station_id == row.station_id,
                        CaseRow.subject_id == row.subject_id,
                        CaseRow.open_key.is_not(None),
                        CaseRow.id != row.id,
                    )
                )
            )
            state = lc.CaseState(row.state)
            self._audit(
                s, by, "view_case", "case", str(case_id), row.station_id, subject_id=row.subject_id
            )
            return CaseDetail(
                item=self._item(s, row, now),
                source=row.source,
                evidence=dict(row.evidence or {}),
                acknowledged_at=row.acknowledged_at,
                closed_at=row.closed_at,
                resident=_resident_info(resident)
                if resident is not None and resident.station_id == row.station_id
                else None,
                history=history,
                others=self._items(s, others, now),
                allowed=sorted(k.value for k in lc.allowed(state)),
            )

    def changes_since(self, viewer: Viewer, after: int) -> int:
        """The newest history id the viewer may see (for live updates); ``after`` if none newer."""
        with self.session() as s:
            query = select(func.max(CaseEventRow.id)).where(CaseEventRow.id > after)
            station = viewer.stations_clause()
            if station is not None:
                query = query.where(CaseEventRow.station_id == station)
            return s.scalar(query) or after

    def latest_change(self, viewer: Viewer) -> int:
        """The newest history id the viewer may see (0 when none)."""
        return self.changes_since(viewer, 0)

    def _items(self, s: Session, rows: Sequence[CaseRow], now: datetime) -> list[QueueItem]:
        names = self._names(s, {r.assignee_id for r in rows if r.assignee_id is not None})
        residents = (
            {
                r.subject_id: r
                for r in s.scalars(
                    select(ResidentRow).where(
                        ResidentRow.subject_id.in_({r.subject_id for r in rows})
                    )
                )
            }
            if rows
            else {}
        )
        items = []
        for row in rows:
            resident = residents.get(row.subject_id)
            name = (
                resident.name
                if resident is not None and resident.station_id == row.station_id
                else ""
            )
            items.append(
                _item(row, now, names.get(row.assignee_id, "") if row.assignee_id else "", name)
            )
        return items

    def _item(self, s: Session, row: CaseRow, now: datetime) -> QueueItem:
        return self._items(s, [row], now)[0]

    @staticmethod
    def _names(s: Session, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        return {u.id: u.display_name for u in s.scalars(select(UserRow).where(UserRow.id.in_(ids)))}

    # ---------------------------------------------------------------- filters

    def save_filter(
        self,
        viewer: Viewer,
        name: str,
        query: QueueQuery,
        *,
        shared: bool = False,
        by: AuditContext | None = None,
    ) -> int:
        """Save a cohort filter for the viewer (shared: for the viewer's station too)."""
        _require(viewer.clinical, "administrators do not use the queue")
        if not name.strip():
            msg = "a saved filter needs a name"
            raise ValueError(msg)
        with self.session() as s:
            row = SavedFilterRow(
                owner_id=viewer.user_id,
                station_id=viewer.station_id,
                name=name.strip()[:128],
                shared=shared,
                query=query.as_dict(),
                created_at=self.clock(),
            )
            s.add(row)
            s.flush()
            self._audit(
                s,
                by,
                "filter_save",
                "filter",
                str(row.id),
                viewer.station_id,
                detail={"name": row.name},
            )
            return row.id

    def filters(self, viewer: Viewer) -> list[tuple[int, str, QueueQuery, bool]]:
        """The viewer's saved filters and those shared with their station."""
        with self.session() as s:
            query = (
                select(SavedFilterRow)
                .where(
                    or_(
                        SavedFilterRow.owner_id == viewer.user_id,
                        and_(
                            SavedFilterRow.shared.is_(True),
                            SavedFilterRow.station_id == viewer.station_id,
                        ),
                    )
                )
                .order_by(SavedFilterRow.name)
            )
            return [
                (r.id, r.name, QueueQuery.from_dict(r.query), r.owner_id == viewer.user_id)
                for r in s.scalars(query)
            ]

    def delete_filter(
        self, viewer: Viewer, filter_id: int, *, by: AuditContext | None = None
    ) -> None:
        """Delete one of the viewer's own saved filters."""
        with self.session() as s:
            row = s.get(SavedFilterRow, filter_id)
            if row is None or row.owner_id != viewer.user_id:
                raise NotFound(what="filter", key=filter_id)
            s.delete(row)
            self._audit(s, by, "filter_delete", "filter", str(filter_id), viewer.station_id)

    # ------------------------------------------------------------------ stats

    def station_stats(
        self, viewer: Viewer, station_id: str, *, days: int = 14, by: AuditContext | None = None
    ) -> StationStats:
        """Participation, time to acknowledge, on-time rate, false alarms per rule, open cases."""
        if not (viewer.clinical and viewer.sees_station(station_id)):
            raise NotFound(what="station", key=station_id)
        now = self.clock()
        since = now - timedelta(days=30)
        with self.session() as s:
            open_counts: dict[str, int] = dict(
                list(
                    s.execute(
                        select(CaseRow.severity, func.count())
                        .where(
                            CaseRow.station_id == station_id,
                            CaseRow.open_key.is_not(None),
                            CaseRow.category == Category.CLINICAL.value,
                        )
                        .group_by(CaseRow.severity)
                    )
                )
            )
            acked = s.execute(
                select(CaseRow.severity, CaseRow.opened_at, CaseRow.acknowledged_at).where(
                    CaseRow.station_id == station_id,
                    CaseRow.category == Category.CLINICAL.value,
                    CaseRow.opened_at >= since,
                )
            )
            minutes: list[float] = []
            in_time = 0
            considered = 0
            for severity, opened, ack in acked:
                target = timedelta(minutes=self.policy.response_minutes.get(Severity(severity), 0))
                if ack is not None:
                    minutes.append((ack - opened).total_seconds() / 60)
                if ack is not None or now - opened > target:
                    considered += 1
                    if ack is not None and ack - opened <= target:
                        in_time += 1
            per_rule = list(
                s.execute(
                    select(
                        CaseRow.rule_id,
                        func.count(),
                        func.sum(
                            case((CaseRow.outcome == lc.Outcome.FALSE_ALARM.value, 1), else_=0)
                        ),
                    )
                    .where(
                        CaseRow.station_id == station_id,
                        CaseRow.state == lc.CaseState.CLOSED.value,
                        CaseRow.outcome.is_not(None),
                    )
                    .group_by(CaseRow.rule_id)
                    .order_by(CaseRow.rule_id)
                )
            )
            day_list = [
                (now.date() - timedelta(days=d)).isoformat() for d in range(days - 1, -1, -1)
            ]
            seen: dict[str, set[str]] = defaultdict(set)
            for subject, day in s.execute(
                select(ResidentDayRow.subject_id, ResidentDayRow.day).where(
                    ResidentDayRow.station_id == station_id, ResidentDayRow.day >= day_list[0]
                )
            ):
                seen[subject].add(day)
            residents = {
                r.subject_id: r.name
                for r in s.scalars(
                    select(ResidentRow).where(ResidentRow.station_id == station_id).limit(500)
                )
            }
            subjects = sorted(set(residents) | set(seen), key=lambda x: (residents.get(x, "~"), x))[
                :60
            ]
            participation = [
                (sub, residents.get(sub, ""), [d in seen[sub] for d in day_list])
                for sub in subjects
            ]
            per_day = Counter(d for days_seen in seen.values() for d in days_seen)
            self._audit(s, by, "view_station", "station", station_id, station_id)
        return StationStats(
            station_id=station_id,
            open_by_severity={sv.value: int(open_counts.get(sv.value, 0)) for sv in Severity},
            ack_minutes_median=statistics.median(minutes) if minutes else None,
            ack_minutes_p90=_percentile(minutes, 0.9) if minutes else None,
            acknowledged_in_time=in_time / considered if considered else None,
            rules=[RuleStats(rule, int(n), int(fa or 0)) for rule, n, fa in per_rule],
            days=day_list,
            participation=participation,
            residents_with_data=[per_day.get(d, 0) for d in day_list],
        )

    def acknowledgement_figures(
        self,
        station_id: str,
        since: datetime,
        until: datetime,
        *,
        category: Category = Category.CLINICAL,
    ) -> list[AckFigures]:
        """Cases raised at ``station_id`` in ``[since, until)`` and their time to acknowledge.

        A read-only query for reports outside the service (``carepulse report station``):
        only counts and durations per rule and severity, plus totals per severity and for
        all (``"all"``); nothing names a resident or a user, so nothing is audited. The
        connection is set read-only (PostgreSQL ``SET TRANSACTION READ ONLY``, SQLite
        ``PRAGMA query_only``), and nothing is created: the schema must exist.
        """
        now = self.clock()
        query = select(
            CaseRow.rule_id, CaseRow.severity, CaseRow.opened_at, CaseRow.acknowledged_at
        ).where(
            CaseRow.station_id == station_id,
            CaseRow.category == category.value,
            CaseRow.opened_at >= since,
            CaseRow.opened_at < until,
        )
        #: (rule, severity) -> [(minutes to acknowledge or None, acknowledged within target,
        #: acknowledged or past target)]
        groups: dict[tuple[str, str], list[tuple[float | None, bool, bool]]] = defaultdict(list)
        with _read_only(self.engine) as connection:
            for rule, severity, opened, acked in connection.execute(query):
                target = timedelta(minutes=self.policy.response_minutes.get(Severity(severity), 0))
                late = acked - opened if acked is not None else None
                case_ = (
                    None if late is None else late.total_seconds() / 60,
                    late is not None and late <= target,
                    late is not None or now - opened > target,
                )
                for key in ((rule, severity), ("all", severity), ("all", "all")):
                    groups[key].append(case_)
        rank = {sv.value: sv.rank for sv in Severity}
        figures = []
        for (rule, severity), cases in sorted(
            groups.items(), key=lambda kv: (kv[0][0] == "all", kv[0][0], rank.get(kv[0][1], 9))
        ):
            minutes = sorted(m for m, _, _ in cases if m is not None)
            figures.append(
                AckFigures(
                    rule_id=rule,
                    severity=severity,
                    raised=len(cases),
                    acknowledged=len(minutes),
                    median_minutes=statistics.median(minutes) if minutes else None,
                    p90_minutes=_percentile(minutes, 0.9) if minutes else None,
                    within_target=sum(1 for _, within, _ in cases if within),
                    due=sum(1 for _, _, due in cases if due),
                )
            )
        return figures

    def stations(self, viewer: Viewer) -> list[str]:
        """Stations the viewer may see (from cases, residents and users)."""
        if viewer.role in STATION_ROLES:
            return [viewer.station_id] if viewer.station_id else []
        if viewer.role is not Role.SUPERVISOR:
            return []
        with self.session() as s:
            names = set(s.scalars(select(CaseRow.station_id).distinct()))
            names |= set(s.scalars(select(ResidentRow.station_id).distinct()))
            names |= {x for x in s.scalars(select(UserRow.station_id).distinct()) if x}
            return sorted(names)

    def rules_seen(self) -> list[tuple[str, str, str, int]]:
        """(rule, category, severity, cases) for every rule that ever opened a case."""
        with self.session() as s:
            rows = s.execute(
                select(
                    CaseRow.rule_id, CaseRow.category, func.min(CaseRow.severity_rank), func.count()
                )
                .group_by(CaseRow.rule_id, CaseRow.category)
                .order_by(CaseRow.rule_id)
            )
            return [(r, c, list(Severity)[rank].value, int(n)) for r, c, rank, n in rows]

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        by: AuditContext | None,
        action: str,
        entity_type: str = "",
        entity_id: str = "",
        station_id: str | None = None,
        *,
        subject_id: str | None = None,
        outcome: str = "success",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one audit row in its own transaction (exports, logouts, refusals)."""
        with self.session() as s:
            self._audit(
                s,
                by,
                action,
                entity_type,
                entity_id,
                station_id,
                subject_id=subject_id,
                outcome=outcome,
                detail=detail,
            )

    def _denied(self, by: AuditContext | None, action: str, what: str, key: object) -> NotFound:
        """Audit a refused look-up in its own transaction; the caller raises the result."""
        self.audit(by, action, what, str(key), outcome="denied")
        return NotFound(what=what, key=key)

    def _audit(
        self,
        s: Session,
        by: AuditContext | None,
        action: str,
        entity_type: str,
        entity_id: str,
        station_id: str | None,
        *,
        subject_id: str | None = None,
        outcome: str = "success",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        if by is None:
            return
        viewer = by.viewer
        s.add(
            AuditRow(
                at=self.clock(),
                user_id=viewer.user_id if viewer else None,
                username=viewer.username if viewer else "",
                role=viewer.role.value if viewer else "",
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                station_id=station_id,
                subject_id=subject_id,
                outcome=outcome,
                address=by.address[:64],
                detail=dict(detail or {}),
            )
        )

    def audit_entries(
        self, viewer: Viewer, *, limit: int = 200, before: int | None = None
    ) -> list[AuditEntry]:
        """The newest audit rows (supervisors and administrators)."""
        _require(
            viewer.role in (Role.SUPERVISOR, Role.ADMIN),
            "only supervisors and administrators read the audit log",
        )
        with self.session() as s:
            query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if before is not None:
                query = query.where(AuditRow.id < before)
            return [
                AuditEntry(
                    id=r.id,
                    at=r.at,
                    username=r.username,
                    role=r.role,
                    action=r.action,
                    entity_type=r.entity_type,
                    entity_id=r.entity_id,
                    station_id=r.station_id,
                    outcome=r.outcome,
                    address=r.address,
                    detail=dict(r.detail or {}),
                )
                for r in s.scalars(query)
            ]

    def export_rows(
        self, viewer: Viewer, *, by: AuditContext | None = None
    ) -> list[dict[str, Any]]:
        """Cases for a CSV export (pseudonyms only, no names or phones); supervisors only."""
        _require(viewer.role is Role.SUPERVISOR, "only supervisors export")
        with self.session() as s:
            rows = s.scalars(select(CaseRow).order_by(CaseRow.id))
            out = [
                {
                    "case_id": r.id,
                    "station_id": r.station_id,
                    "subject_id": r.subject_id,
                    "rule_id": r.rule_id,
                    "category": r.category,
                    "severity": r.severity,
                    "state": r.state,
                    "repeat_count": r.repeat_count,
                    "opened_at": r.opened_at.isoformat(),
                    "acknowledged_at": r.acknowledged_at.isoformat() if r.acknowledged_at else "",
                    "closed_at": r.closed_at.isoformat() if r.closed_at else "",
                    "outcome": r.outcome or "",
                }
                for r in rows
            ]
            self._audit(s, by, "export", "cases", "", None, detail={"rows": len(out)})
            return out


# --------------------------------------------------------------------------- mapping helpers


def _open_key(station_id: str, subject_id: str, rule_id: str) -> str:
    return f"{station_id}|{subject_id}|{rule_id}"


def _fence(conditions: Iterable[str]) -> str:
    slugs = sorted({normalise_condition(c) for c in conditions if c.strip()})
    return "," + ",".join(slugs) + ("," if slugs else "")


def _read_case(row: CaseRow) -> lc.Case:
    return lc.Case(
        station_id=row.station_id,
        subject_id=row.subject_id,
        rule_id=row.rule_id,
        category=Category(row.category),
        severity=Severity(row.severity),
        state=lc.CaseState(row.state),
        opened_at=row.opened_at,
        reason=row.reason,
        evidence=row.evidence or {},
        repeat_count=row.repeat_count,
        last_fired_at=row.last_fired_at,
        open_since=row.open_since,
        last_activity_at=row.last_activity_at,
        acknowledged_at=row.acknowledged_at,
        assignee=row.assignee_id,
        escalation_level=row.escalation_level,
        due_at=row.due_at,
        cleared=row.cleared,
        outcome=lc.Outcome(row.outcome) if row.outcome else None,
        closed_at=row.closed_at,
    )


def _write_case(row: CaseRow, case_: lc.Case) -> None:
    values: dict[str, Any] = {
        "severity": case_.severity.value,
        "severity_rank": case_.severity.rank,
        "state": case_.state.value,
        "reason": case_.reason,
        "evidence": dict(case_.evidence),
        "repeat_count": case_.repeat_count,
        "opened_at": case_.opened_at,
        "last_fired_at": case_.last_fired_at,
        "open_since": case_.open_since,
        "last_activity_at": case_.last_activity_at,
        "acknowledged_at": case_.acknowledged_at,
        "assignee_id": case_.assignee,
        "escalation_level": case_.escalation_level,
        "due_at": case_.due_at,
        "cleared": case_.cleared,
        "outcome": case_.outcome.value if case_.outcome else None,
        "closed_at": case_.closed_at,
    }
    for name, value in values.items():
        if getattr(row, name, None) != value:
            setattr(row, name, value)


def _item(row: CaseRow, now: datetime, assignee_name: str, resident_name: str) -> QueueItem:
    return QueueItem(
        id=row.id,
        station_id=row.station_id,
        subject_id=row.subject_id,
        resident_name=resident_name,
        rule_id=row.rule_id,
        category=row.category,
        severity=row.severity,
        state=row.state,
        reason=row.reason,
        repeat_count=row.repeat_count,
        opened_at=row.opened_at,
        last_fired_at=row.last_fired_at,
        assignee_id=row.assignee_id,
        assignee_name=assignee_name,
        escalation_level=row.escalation_level,
        due_at=row.due_at,
        respond_by=row.respond_by,
        overdue=row.respond_by is not None and row.respond_by < now and row.open_key is not None,
        cleared=row.cleared,
        muted=row.muted_by_case_id is not None,
        silenced_until=row.silenced_until
        if row.silenced_until and row.silenced_until > now
        else None,
        outcome=row.outcome,
    )


def _viewer(row: UserRow) -> Viewer:
    return Viewer(
        user_id=row.id,
        username=row.username,
        role=Role(row.role),
        station_id=row.station_id,
        display_name=row.display_name,
    )


def _user_info(row: UserRow) -> UserInfo:
    return UserInfo(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        station_id=row.station_id,
        active=row.active,
    )


def _resident_info(row: ResidentRow) -> ResidentInfo:
    return ResidentInfo(
        subject_id=row.subject_id,
        station_id=row.station_id,
        name=row.name,
        phone=row.phone,
        conditions=row.condition_list,
        consent=row.consent,
        consent_at=row.consent_at,
        last_reading_at=row.last_reading_at,
    )


@contextmanager
def _read_only(engine: Engine) -> Iterator[Any]:
    """A connection that refuses writes for the length of one transaction."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        elif engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA query_only = ON")
        try:
            yield connection
        finally:
            connection.rollback()
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA query_only = OFF")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise Forbidden(message)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


__all__ = [
    "AckFigures",
    "AuditContext",
    "CaseDetail",
    "CaseStore",
    "IngestResult",
    "InvalidTransition",
    "QueueItem",
    "QueuePage",
    "QueueQuery",
    "ResidentRecord",
    "Role",
    "Viewer",
]
