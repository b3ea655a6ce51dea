"""The case store on SQLite and PostgreSQL: ingest, actions, inhibition, silences, timers, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from alerts import lifecycle as lc
from alerts.errors import (
    AppendOnlyError,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    SilenceRefused,
)
from alerts.store import (
    AuditContext,
    AuditRow,
    CaseEventRow,
    CaseStore,
    IngestResult,
    QueueQuery,
    ResidentRecord,
    Role,
    Viewer,
    _read_only,
)
from carepulse.alert import Category, Severity, Status
from tests.alerts.factories import SUBJECT, T0, Clock, alert

OTHER = "0a1b" * 8


def users(store: CaseStore) -> dict[str, Viewer]:
    """Alice and Bob at st-001, Carol at st-002, Sam the supervisor, Ada the admin."""
    made = {
        "alice": store.add_user("alice", "password-a", Role.SOCIAL_WORKER, "st-001", "Alice"),
        "bob": store.add_user("bob", "password-b", Role.SOCIAL_WORKER, "st-001", "Bob"),
        "carol": store.add_user("carol", "password-c", Role.SOCIAL_WORKER, "st-002", "Carol"),
        "sam": store.add_user("sam", "password-s", Role.SUPERVISOR, None, "Sam"),
        "ada": store.add_user("ada", "password-x", Role.ADMIN, None, "Ada"),
    }
    out = {}
    for name, info in made.items():
        viewer = store.viewer(info.id)
        assert viewer is not None
        out[name] = viewer
    return out


def only_case(store: CaseStore, viewer: Viewer, **query: object) -> int:
    page = store.queue(viewer, QueueQuery(**query))  # type: ignore[arg-type]
    assert page.total == 1, page
    return page.items[0].id


def test_repeats_fold_into_one_case_and_redelivery_changes_nothing(store: CaseStore) -> None:
    """Same rule and resident: one case with a repeat counter; the same alert twice is a no-op."""
    u = users(store)
    first = alert(episode="e1")
    assert store.ingest([first]) == IngestResult(opened=1)
    assert store.ingest([first]) == IngestResult(duplicates=1)
    assert store.ingest([alert(episode="e2", at=T0 + timedelta(hours=1))]) == IngestResult(
        repeated=1
    )
    page = store.queue(u["alice"], QueueQuery())
    assert page.total == 1
    assert page.items[0].repeat_count == 2
    detail = store.case_detail(u["alice"], page.items[0].id)
    assert [h.kind for h in detail.history] == ["opened", "fire"]


def test_a_cleared_follow_up_closes_itself_but_an_urgent_case_waits_for_a_person(
    store: CaseStore,
) -> None:
    """Automatic resolution only for follow-up and engagement cases."""
    u = users(store)
    store.ingest([alert("vitals.fever", severity=Severity.FOLLOW_UP), alert()])
    result = store.ingest(
        [
            alert("vitals.fever", severity=Severity.FOLLOW_UP, status=Status.RESOLVED),
            alert(status=Status.RESOLVED),
        ]
    )
    assert result == IngestResult(cleared=2)
    page = store.queue(u["alice"], QueueQuery())
    assert [(i.rule_id, i.cleared) for i in page.items] == [("bp.urgent_referral", True)]
    closed = store.queue(u["alice"], QueueQuery(states=(lc.CaseState.CLOSED,)))
    assert [(i.rule_id, i.outcome) for i in closed.items] == [("vitals.fever", "cleared")]


def test_firing_after_closure_opens_a_new_case(store: CaseStore) -> None:
    """A closed case stays closed; the next firing is a new case."""
    u = users(store)
    store.ingest([alert(episode="e1")])
    case_id = only_case(store, u["alice"])
    store.act(u["alice"], case_id, lc.Resolve(T0, u["alice"].user_id, lc.Outcome.REACHED))
    store.ingest([alert(episode="e2")])
    new_id = only_case(store, u["alice"])
    assert new_id != case_id
    with pytest.raises(Conflict):
        store.act(u["alice"], case_id, lc.Reopen(T0, u["alice"].user_id, "mistake"))


def test_technical_alerts_stay_out_of_the_clinical_queue(store: CaseStore) -> None:
    """Device offline goes to the technical list only."""
    u = users(store)
    store.ingest(
        [alert("device.offline", severity=Severity.FOLLOW_UP, category=Category.TECHNICAL)]
    )
    assert store.queue(u["alice"], QueueQuery()).total == 0
    assert store.queue(u["alice"], QueueQuery(category=Category.TECHNICAL)).total == 1


def test_device_offline_mutes_no_data_until_it_closes(store: CaseStore) -> None:
    """The no-data case is held while the device is offline, and comes back after."""
    u = users(store)
    store.ingest([alert("checkin.none", severity=Severity.ENGAGEMENT)])
    store.ingest(
        [alert("device.offline", severity=Severity.FOLLOW_UP, category=Category.TECHNICAL)]
    )
    assert store.queue(u["alice"], QueueQuery()).total == 0
    held = store.queue(u["alice"], QueueQuery(include_held=True))
    assert [i.muted for i in held.items] == [True]
    offline = only_case(store, u["alice"], category=Category.TECHNICAL)
    store.act(u["alice"], offline, lc.Resolve(T0, u["alice"].user_id, lc.Outcome.DEVICE_ISSUE))
    assert store.queue(u["alice"], QueueQuery()).total == 1


def test_an_emergency_mutes_the_residents_lesser_cases(store: CaseStore) -> None:
    """NEWS2 high holds the same resident's urgent case, not another resident's."""
    u = users(store)
    store.ingest([alert(), alert(subject_id=OTHER)])
    store.ingest([alert("news2.high", severity=Severity.EMERGENCY)])
    page = store.queue(u["alice"], QueueQuery())
    assert [(i.rule_id, i.subject_id) for i in page.items] == [
        ("news2.high", SUBJECT),
        ("bp.urgent_referral", OTHER),
    ]
    detail = store.case_detail(u["alice"], page.items[0].id)
    assert [o.rule_id for o in detail.others] == ["bp.urgent_referral"]


def test_silences_hold_cases_but_never_emergencies(store: CaseStore, clock: Clock) -> None:
    """A resident silence hides the urgent case until it ends; emergencies stay loud."""
    u = users(store)
    store.ingest([alert(subject_id=OTHER, rule_id="news2.high", severity=Severity.EMERGENCY)])
    store.ingest([alert()])
    silence = store.add_silence(
        u["alice"],
        station_id="st-001",
        subject_id=SUBJECT,
        ends_at=T0 + timedelta(hours=2),
        reason="in hospital, family informed",
        by=AuditContext(u["alice"]),
    )
    assert silence.active
    assert [i.rule_id for i in store.queue(u["alice"], QueueQuery()).items] == ["news2.high"]
    with pytest.raises(SilenceRefused) as caught:
        store.add_silence(
            u["alice"],
            station_id="st-001",
            rule_id="news2.high",
            ends_at=T0 + timedelta(hours=1),
            reason="x",
        )
    assert caught.value.reason == "emergency"
    silenced_emergency = store.add_silence(
        u["alice"],
        station_id="st-001",
        subject_id=OTHER,
        ends_at=T0 + timedelta(hours=1),
        reason="test",
    )
    assert silenced_emergency.active
    assert store.queue(u["alice"], QueueQuery()).total == 1  # the emergency is still shown
    clock.advance(hours=2)
    store.expire_silences()
    assert store.queue(u["alice"], QueueQuery()).total == 2
    with pytest.raises(Forbidden):
        store.add_silence(
            u["carol"],
            station_id="st-001",
            subject_id=SUBJECT,
            ends_at=clock() + timedelta(hours=1),
            reason="x",
        )


def test_the_whole_flow_claim_call_note_resolve(store: CaseStore, clock: Clock) -> None:
    """Claim, a failed call, a note, a reached call, resolve: history in order, case closed."""
    u = users(store)
    store.ingest([alert()])
    alice = u["alice"]
    case_id = only_case(store, alice)
    by = AuditContext(alice, "127.0.0.1")
    store.act(alice, case_id, lc.Claim(clock.advance(minutes=4), alice.user_id), by=by)
    store.act(
        alice,
        case_id,
        lc.Attempt(clock.advance(minutes=1), alice.user_id, lc.AttemptResult.NO_ANSWER),
        by=by,
    )
    store.act(
        alice,
        case_id,
        lc.Note(clock.advance(minutes=1), alice.user_id, "daughter's number: ask"),
        by=by,
    )
    store.act(
        alice,
        case_id,
        lc.Attempt(clock.advance(minutes=10), alice.user_id, lc.AttemptResult.REACHED),
        by=by,
    )
    item = store.act(
        alice,
        case_id,
        lc.Resolve(
            clock.advance(minutes=5),
            alice.user_id,
            lc.Outcome.REFERRED,
            due=clock() + timedelta(days=14),
        ),
        by=by,
    )
    assert (item.state, item.due_at) == ("follow_up", clock() + timedelta(days=14))
    assert store.queue(alice, QueueQuery()).total == 0
    detail = store.case_detail(alice, case_id, by=by)
    assert [h.kind for h in detail.history] == [
        "opened",
        "claim",
        "attempt",
        "note",
        "attempt",
        "refer",
    ]
    assert detail.acknowledged_at == T0 + timedelta(minutes=4)
    actions = [e.action for e in reversed(store.audit_entries(u["sam"])) if e.username == "alice"]
    assert actions == ["claim", "attempt", "note", "attempt", "resolve", "view_case"]


def test_social_workers_see_only_their_station(store: CaseStore) -> None:
    """Carol (st-002) cannot see st-001's cases or residents; Sam sees all; Ada sees none."""
    u = users(store)
    store.ingest([alert()])
    store.import_residents(
        [ResidentRecord(SUBJECT, "st-001", "王秀英", "13800000000", ("diabetes",), "given")]
    )
    case_id = only_case(store, u["alice"])
    assert store.queue(u["carol"], QueueQuery()).total == 0
    with pytest.raises(NotFound):
        store.case_detail(u["carol"], case_id, by=AuditContext(u["carol"]))
    with pytest.raises(NotFound):
        store.resident(u["carol"], SUBJECT)
    with pytest.raises(NotFound):
        store.act(u["carol"], case_id, lc.Claim(T0, u["carol"].user_id))
    assert store.residents(u["carol"]) == []
    assert store.queue(u["sam"], QueueQuery()).total == 1
    assert store.resident(u["sam"], SUBJECT)[0].name == "王秀英"
    with pytest.raises(Forbidden):
        store.queue(u["ada"], QueueQuery())
    denied = [e for e in store.audit_entries(u["sam"]) if e.outcome == "denied"]
    assert [(e.username, e.action) for e in denied] == [("carol", "view_case")]


def test_transfer_only_to_a_colleague_of_the_station(store: CaseStore) -> None:
    """Alice can hand a case to Bob or the supervisor, not to Carol of another station."""
    u = users(store)
    store.ingest([alert()])
    case_id = only_case(store, u["alice"])
    store.act(u["alice"], case_id, lc.Claim(T0, u["alice"].user_id))
    with pytest.raises(Forbidden):
        store.act(u["alice"], case_id, lc.Transfer(T0, u["alice"].user_id, u["carol"].user_id))
    item = store.act(
        u["alice"], case_id, lc.Transfer(T0, u["alice"].user_id, u["bob"].user_id, "I'm off at 5")
    )
    assert (item.assignee_id, item.assignee_name) == (u["bob"].user_id, "Bob")


def test_invalid_actions_are_refused_by_the_lifecycle(store: CaseStore) -> None:
    """The table decides: claiming a claimed case is refused and nothing is written."""
    u = users(store)
    store.ingest([alert()])
    case_id = only_case(store, u["alice"])
    store.act(u["alice"], case_id, lc.Claim(T0, u["alice"].user_id))
    with pytest.raises(InvalidTransition):
        store.act(u["bob"], case_id, lc.Claim(T0, u["bob"].user_id))
    assert [h.kind for h in store.case_detail(u["alice"], case_id).history] == ["opened", "claim"]


def test_timers_escalate_and_reopen(store: CaseStore, clock: Clock) -> None:
    """No claim for 30 min escalates an urgent case; a claim idle for 4 h re-opens it."""
    u = users(store)
    store.ingest([alert()])
    case_id = only_case(store, u["alice"])
    assert store.run_timers(T0 + timedelta(minutes=29)) == 0
    assert store.run_timers(T0 + timedelta(minutes=30)) == 1
    assert store.queue(u["alice"], QueueQuery()).items[0].escalation_level == 1
    clock.now = T0 + timedelta(minutes=40)
    store.act(u["alice"], case_id, lc.Claim(clock(), u["alice"].user_id))
    assert store.run_timers(clock() + timedelta(hours=4)) == 1
    item = store.queue(u["alice"], QueueQuery()).items[0]
    assert (item.state, item.escalation_level) == ("open", 0)


def test_queue_order_and_cohort_filters(store: CaseStore, clock: Clock) -> None:
    """Overdue first, then severity, then age; 'diabetic and no check-in for 3 days' works."""
    u = users(store)
    diabetic, other = SUBJECT, OTHER
    store.import_residents(
        [
            ResidentRecord(diabetic, "st-001", "王秀英", conditions=("Diabetes", "hypertension")),
            ResidentRecord(other, "st-001", "李明", conditions=("hypertension",)),
        ]
    )
    store.ingest(
        [
            alert(
                "vitals.fever",
                severity=Severity.FOLLOW_UP,
                at=T0,
                measured_at=T0 - timedelta(days=5),
            )
        ]
    )
    store.ingest(
        [alert(subject_id=other, at=T0 + timedelta(hours=47), measured_at=T0 + timedelta(hours=47))]
    )
    store.ingest(
        [
            alert(
                "news2.high",
                subject_id=other,
                severity=Severity.EMERGENCY,
                at=T0 + timedelta(hours=48),
            )
        ]
    )
    clock.now = T0 + timedelta(hours=48, minutes=1)
    page = store.queue(u["alice"], QueueQuery(include_held=True))
    # the fever case is 48 h old: overdue; then the emergency; then the (muted) urgent case
    assert [i.rule_id for i in page.items] == ["vitals.fever", "news2.high", "bp.urgent_referral"]
    assert [i.overdue for i in page.items] == [True, False, False]
    cohort = QueueQuery(condition="diabetes", no_checkin_days=3)
    assert [i.subject_id for i in store.queue(u["alice"], cohort).items] == [diabetic]
    filter_id = store.save_filter(u["alice"], "diabetic, no check-in 3 days", cohort, shared=True)
    assert [(f[0], f[2]) for f in store.filters(u["bob"])] == [(filter_id, cohort)]
    with pytest.raises(NotFound):
        store.delete_filter(u["bob"], filter_id)
    store.delete_filter(u["alice"], filter_id)
    assert store.filters(u["alice"]) == []


def test_station_stats(store: CaseStore, clock: Clock) -> None:
    """Time to acknowledge and false alarms per rule come from the cases."""
    u = users(store)
    alice = u["alice"]
    for n, (rule, outcome) in enumerate(
        [
            ("bp.urgent_referral", lc.Outcome.FALSE_ALARM),
            ("bp.urgent_referral", lc.Outcome.REACHED),
            ("vitals.fever", lc.Outcome.REACHED),
        ]
    ):
        store.ingest([alert(rule, subject_id=f"{n:032x}", at=T0)])
        case_id = only_case(store, alice)
        store.act(alice, case_id, lc.Claim(T0 + timedelta(minutes=10 * (n + 1)), alice.user_id))
        store.act(alice, case_id, lc.Resolve(T0 + timedelta(hours=1), alice.user_id, outcome))
    clock.now = T0 + timedelta(hours=2)
    stats = store.station_stats(alice, "st-001")
    assert stats.ack_minutes_median == 20
    assert [(r.rule_id, r.closed, r.false_alarms) for r in stats.rules] == [
        ("bp.urgent_referral", 2, 1),
        ("vitals.fever", 1, 0),
    ]
    assert stats.rules[0].false_alarm_rate == 0.5
    assert stats.acknowledged_in_time == 1.0
    assert sum(stats.residents_with_data) == 3
    with pytest.raises(NotFound):
        store.station_stats(u["carol"], "st-001")


def test_acknowledgement_figures_are_counts_and_minutes_only(
    store: CaseStore, clock: Clock
) -> None:
    """Time to acknowledge per rule and severity, read-only, with no names or ids in it."""
    u = users(store)
    alice = u["alice"]
    store.import_residents(
        [
            ResidentRecord(f"{n:032x}", "st-001", f"Resident {n}", phone="13800000000")
            for n in range(4)
        ]
    )
    plan = [  # (rule, severity, minutes to claim or None)
        ("bp.urgent_referral", Severity.URGENT, 30),
        ("bp.urgent_referral", Severity.URGENT, 150),
        ("spo2.low", Severity.EMERGENCY, 4),
        ("spo2.low", Severity.EMERGENCY, None),
    ]
    for n, (rule, severity, minutes) in enumerate(plan):
        subject = f"{n:032x}"
        store.ingest([alert(rule, subject_id=subject, severity=severity, at=T0)])
        if minutes is not None:
            case_id = only_case(store, alice, subject_id=subject)
            store.act(alice, case_id, lc.Claim(T0 + timedelta(minutes=minutes), alice.user_id))
    store.ingest([alert(subject_id=f"{9:032x}", at=T0 - timedelta(days=2))])  # before the period
    store.ingest([alert(station_id="st-002", at=T0)])  # another station
    clock.now = T0 + timedelta(hours=3)
    audited = len(store.audit_entries(u["sam"], limit=1000))

    figures = store.acknowledgement_figures("st-001", T0 - timedelta(days=1), clock.now)

    rows = {(f.rule_id, f.severity): f for f in figures}
    assert [(f.rule_id, f.severity) for f in figures] == [
        ("bp.urgent_referral", "urgent"),
        ("spo2.low", "emergency"),
        ("all", "emergency"),
        ("all", "urgent"),
        ("all", "all"),
    ]
    bp = rows[("bp.urgent_referral", "urgent")]
    assert (bp.raised, bp.acknowledged, bp.median_minutes, bp.within_target, bp.due) == (
        2,
        2,
        90.0,
        1,
        2,
    )
    spo2 = rows[("spo2.low", "emergency")]
    assert (spo2.raised, spo2.acknowledged, spo2.median_minutes, spo2.due) == (2, 1, 4.0, 2)
    total = rows[("all", "all")]
    assert (total.raised, total.acknowledged, total.within_target, total.due) == (4, 3, 2, 4)
    assert total.median_minutes == 30.0
    text = repr(figures)
    for private in ("Resident", "1380000", f"{0:032x}", "alice"):
        assert private not in text
    assert len(store.audit_entries(u["sam"], limit=1000)) == audited  # nothing written


def test_acknowledgement_figures_cannot_write(store: CaseStore) -> None:
    """The read-only connection refuses a write, so a report can never change the store."""
    with _read_only(store.engine) as connection, pytest.raises(DBAPIError):
        connection.exec_driver_sql("DELETE FROM saved_filters")


def test_history_and_audit_are_append_only_in_code_and_in_the_database(store: CaseStore) -> None:
    """The ORM refuses to change history; the database refuses UPDATE and DELETE too."""
    u = users(store)
    store.ingest([alert()])
    store.queue(u["alice"], QueueQuery(), by=AuditContext(u["alice"]))
    with Session(store.engine) as s:
        event_row = s.scalars(select(CaseEventRow)).first()
        assert event_row is not None
        event_row.kind = "tampered"
        with pytest.raises(AppendOnlyError):
            s.flush()
    with Session(store.engine) as s:
        audit_row = s.scalars(select(AuditRow)).first()
        assert audit_row is not None
        s.delete(audit_row)
        with pytest.raises(AppendOnlyError):
            s.flush()
    for sql in (
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "UPDATE case_events SET kind = 'x'",
    ):
        with pytest.raises(DBAPIError), store.engine.begin() as connection:
            connection.execute(text(sql))


def test_login_checks_the_password_and_audits_failures(store: CaseStore) -> None:
    """A wrong password or unknown user gives None and a failure row; a right one a viewer."""
    u = users(store)
    assert store.authenticate("alice", "wrong-password") is None
    assert store.authenticate("nobody", "password-a") is None
    viewer = store.authenticate("alice", "password-a", address="10.0.0.5")
    assert viewer == u["alice"]
    rows = [(e.username, e.action, e.outcome) for e in reversed(store.audit_entries(u["sam"]))]
    assert rows[-3:] == [
        ("alice", "login", "failure"),
        ("nobody", "login", "failure"),
        ("alice", "login", "success"),
    ]
    with pytest.raises(Conflict):
        store.add_user("alice", "password-z", Role.SOCIAL_WORKER, "st-001")
    with pytest.raises(ValueError, match="station"):
        store.add_user("dora", "password-d", Role.DOCTOR, None)
