"""Inhibition (offline mutes no-data, emergency mutes lesser) and silences (never emergencies)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from alerts.errors import SilenceRefused
from alerts.lifecycle import (
    Case,
    CaseState,
    Mute,
    Silence,
    check_silence,
    muted_by,
    silenced_until,
    silences_case,
)
from carepulse.alert import Category, Severity
from tests.alerts.factories import ALICE, SUBJECT, T0, make_case

OTHER_SUBJECT = "0a1b" * 8


def case_of(rule: str, severity: Severity, category: Category = Category.CLINICAL) -> Case:
    return dataclasses.replace(make_case(severity=severity), rule_id=rule, category=category)


def test_device_offline_mutes_no_data_cases_of_the_same_resident_only() -> None:
    """A technical device-offline case mutes checkin.* for that resident, nothing else."""
    offline = case_of("device.offline", Severity.FOLLOW_UP, Category.TECHNICAL)
    no_data = case_of("checkin.none", Severity.ENGAGEMENT)
    fever = case_of("vitals.fever", Severity.FOLLOW_UP)
    elsewhere = dataclasses.replace(no_data, subject_id=OTHER_SUBJECT)
    others = [offline, no_data, fever, elsewhere]
    assert muted_by(no_data, others) == Mute("device_offline_mutes_no_data", 0)
    assert muted_by(fever, others) is None
    assert muted_by(elsewhere, others) is None


def test_a_closed_source_mutes_nothing() -> None:
    """Inhibition lasts only while the source case is active."""
    offline = case_of("device.offline", Severity.FOLLOW_UP, Category.TECHNICAL)
    closed = dataclasses.replace(offline, state=CaseState.CLOSED)
    no_data = case_of("checkin.none", Severity.ENGAGEMENT)
    assert muted_by(no_data, [closed]) is None


@pytest.mark.parametrize(
    ("severity", "muted"),
    [
        (Severity.EMERGENCY, False),
        (Severity.URGENT, True),
        (Severity.FOLLOW_UP, True),
        (Severity.ENGAGEMENT, True),
    ],
)
def test_an_emergency_mutes_lesser_clinical_cases(severity: Severity, muted: bool) -> None:
    """NEWS2 high mutes the resident's lesser cases; another emergency stays loud."""
    emergency = case_of("news2.high", Severity.EMERGENCY)
    target = case_of("bp.hypertensive", severity)
    result = muted_by(target, [emergency, target])
    assert (result is not None) is muted


def test_an_emergency_does_not_mute_technical_cases() -> None:
    """Technical cases go to their own list and are not muted by clinical ones."""
    emergency = case_of("news2.high", Severity.EMERGENCY)
    battery = case_of("device.battery_low", Severity.ENGAGEMENT, Category.TECHNICAL)
    assert muted_by(battery, [emergency]) is None


def silence(**kw: object) -> Silence:
    fields: dict[str, object] = {
        "station_id": "st-001",
        "author": ALICE,
        "reason": "resident in hospital until Monday",
        "starts_at": T0,
        "ends_at": T0 + timedelta(days=3),
        "subject_id": SUBJECT,
    }
    fields.update(kw)
    return Silence(**fields)  # type: ignore[arg-type]


def test_a_silence_holds_matching_cases_until_it_ends() -> None:
    """A resident silence holds that resident's non-emergency cases in its window."""
    s = silence()
    case = make_case(severity=Severity.FOLLOW_UP)
    assert silences_case(s, case, T0 + timedelta(hours=1))
    assert not silences_case(s, case, s.ends_at)
    assert not silences_case(s, dataclasses.replace(case, subject_id=OTHER_SUBJECT), T0)
    assert silenced_until([s], case, T0) == s.ends_at


def test_emergencies_are_never_silenced() -> None:
    """Even a matching silence leaves an emergency case loud."""
    assert not silences_case(silence(), make_case(severity=Severity.EMERGENCY), T0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"reason": " "}, "reason"),
        ({"subject_id": None, "rule_id": None}, "too_broad"),
        ({"ends_at": T0 - timedelta(minutes=1)}, "ends_at"),
        ({"ends_at": T0 + timedelta(days=31)}, "too_long"),
        ({"rule_id": "news2.high"}, "emergency"),
    ],
)
def test_bad_silences_are_refused_with_a_reason(changes: dict[str, object], reason: str) -> None:
    """No reason, a whole station, ended, too long or an emergency rule: refused."""
    with pytest.raises(SilenceRefused) as caught:
        check_silence(silence(**changes), T0, emergency_rules={"news2.high"})
    assert caught.value.reason == reason


def test_a_good_silence_passes() -> None:
    """Author, reason, end within 30 days, a resident: accepted."""
    check_silence(silence(), T0)
