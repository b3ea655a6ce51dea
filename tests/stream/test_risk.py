"""Risk mapping: readings -> rule inputs -> persistence -> alerts."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from carepulse.alert import Alert, Category, Severity, Status
from carepulse.observation import Observation
from stream.residents import parse_residents
from stream.risk import Event, ResidentState, RiskEngine, rule_ids_firing
from stream.rules import Policy, default_rules
from tests.stream.factories import SUBJECT, T0, MakeObservation

RAISED = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def feed(
    engine: RiskEngine, observations: list[Observation], state: ResidentState | None = None
) -> tuple[ResidentState, list[Alert]]:
    state = state or ResidentState()
    alerts: list[Alert] = []
    for obs in observations:
        state, raised = engine.apply(state, Event(obs, obs.measured_at.timestamp()), RAISED)
        # The state survives the table's JSON changelog.
        state = ResidentState.from_dict(json.loads(json.dumps(state.as_dict())))
        alerts.extend(raised)
    return state, alerts


def test_hypertensive_crisis_raises_urgent_referral_at_once(make_obs: MakeObservation) -> None:
    """One reading at or above 180/110 gives a firing bp.urgent_referral with evidence."""
    obs = make_obs("blood_pressure", {"systolic_mmhg": 185.0, "diastolic_mmhg": 115.0})
    _, alerts = feed(RiskEngine(default_rules()), [obs])
    assert [a.rule_id for a in alerts] == ["bp.urgent_referral"]
    alert = alerts[0]
    assert (alert.status, alert.severity, alert.category) == (
        Status.FIRING,
        Severity.URGENT,
        Category.CLINICAL,
    )
    assert "185/115" in alert.reason
    assert alert.evidence["readings"][0]["observation_id"] == obs.observation_id
    assert alert.evidence["values"]["systolic_mmhg"] == 185.0
    assert alert.evidence["window"]["start"] == "2026-11-27T00:00:00Z"
    assert Alert.from_json(alert.to_json()) == alert


def test_emergency_is_never_delayed(make_obs: MakeObservation) -> None:
    """Severe SpO2 fires on the first reading, even under a policy that asks for three."""
    obs = make_obs("spo2", {"spo2_percent": 85.0})
    _, alerts = feed(RiskEngine(default_rules()), [obs])
    assert ("vitals.spo2_severe", Severity.EMERGENCY) in [(a.rule_id, a.severity) for a in alerts]
    rules = default_rules()
    spec = replace(rules.rules["vitals.spo2_severe"], policy=Policy(3, 3, 1))
    patched = replace(rules, rules={**rules.rules, spec.id: spec})
    _, alerts = feed(RiskEngine(patched), [obs])
    assert "vitals.spo2_severe" in [a.rule_id for a in alerts]


def test_persistence_counts_only_readings_of_the_rule(make_obs: MakeObservation) -> None:
    """Resting tachycardia fires at the third high HR; other kinds in between do not count."""
    engine = RiskEngine(default_rules())
    high = [
        make_obs("heart_rate", {"heart_rate_bpm": 118}, at=T0 + timedelta(minutes=n))
        for n in (0, 10, 20)
    ]
    temp = make_obs("temperature", {"temperature_c": 36.5}, at=T0 + timedelta(minutes=5))
    state, alerts = feed(engine, [high[0], temp, high[1]])
    assert alerts == []
    assert "vitals.tachycardia_rest" not in rule_ids_firing(state)
    state, alerts = feed(engine, [high[2]], state)
    assert [a.rule_id for a in alerts] == ["vitals.tachycardia_rest"]
    assert rule_ids_firing(state) == ["vitals.tachycardia_rest"]


def test_moving_resident_is_not_at_rest(make_obs: MakeObservation) -> None:
    """High heart rate right after the step counter went up is not resting tachycardia."""
    engine = RiskEngine(default_rules())
    steps = [
        make_obs("steps", {"steps": 100}, at=T0 - timedelta(minutes=30)),
        make_obs("steps", {"steps": 900}, at=T0 - timedelta(minutes=1)),
    ]
    high = [
        make_obs("heart_rate", {"heart_rate_bpm": 118}, at=T0 + timedelta(minutes=n))
        for n in (0, 1, 2)
    ]
    _, alerts = feed(engine, [*steps, *high])
    assert alerts == []


def test_repeat_and_resolution(make_obs: MakeObservation) -> None:
    """A repeat while open is sent as firing; clearing readings resolve the same episode."""
    engine = RiskEngine(default_rules())
    crisis = [
        make_obs(
            "blood_pressure",
            {"systolic_mmhg": 190.0, "diastolic_mmhg": 100.0},
            at=T0 + timedelta(hours=n),
        )
        for n in (0, 1)
    ]
    calm = [
        make_obs(
            "blood_pressure",
            {"systolic_mmhg": 130.0, "diastolic_mmhg": 80.0},
            at=T0 + timedelta(hours=n),
        )
        for n in (2, 3)
    ]
    state, alerts = feed(engine, [*crisis, calm[0]])
    assert [(a.rule_id, a.status, a.evidence["transition"]) for a in alerts] == [
        ("bp.urgent_referral", Status.FIRING, "fired"),
        ("bp.urgent_referral", Status.FIRING, "repeat"),
    ]
    assert alerts[0].alert_id != alerts[1].alert_id
    state, resolved = feed(engine, [calm[1]], state)
    assert [(a.rule_id, a.status) for a in resolved] == [("bp.urgent_referral", Status.RESOLVED)]
    assert resolved[0].reason.startswith("Resolved:")
    assert resolved[0].evidence["episode"] == alerts[0].evidence["episode"]
    assert rule_ids_firing(state) == []


def test_replay_gives_the_same_alert_ids(make_obs: MakeObservation) -> None:
    """The same readings give the same alert ids (the alert service folds re-sends)."""
    obs = [make_obs("glucose", {"glucose_mmol_l": 2.5})]
    _, first = feed(RiskEngine(default_rules()), obs)
    _, second = feed(RiskEngine(default_rules()), obs)
    assert [a.alert_id for a in first] == [a.alert_id for a in second]
    assert first[0].rule_id == "glucose.hypo_level_2"


def test_cohort_and_height_from_the_residents_file(make_obs: MakeObservation) -> None:
    """A diabetic resident at 3.5 mmol/L needs urgent referral; height gives a BMI."""
    residents = parse_residents(
        f'[residents."{SUBJECT}"]\ncohorts = ["diabetic"]\nheight_m = 1.60\n', default_rules()
    )
    engine = RiskEngine(default_rules(), residents)
    _, alerts = feed(engine, [make_obs("glucose", {"glucose_mmol_l": 3.5})])
    assert [a.rule_id for a in alerts] == ["glucose.urgent_referral"]
    weights = [make_obs("weight", {"weight_kg": 80.0}, at=T0 + timedelta(days=n)) for n in range(3)]
    _, alerts = feed(engine, weights)
    assert [a.rule_id for a in alerts] == ["anthropometry.obese"]  # 31.25 kg/m2, 3 of 3


def test_rapid_weight_gain_from_daily_weights(make_obs: MakeObservation) -> None:
    """More than 2 kg within 3 days fires the configured rule."""
    engine = RiskEngine(default_rules())
    weights = [
        make_obs("weight", {"weight_kg": kg}, at=T0 + timedelta(days=n))
        for n, kg in enumerate([70.0, 70.8, 72.3])
    ]
    _, alerts = feed(engine, weights)
    assert [a.rule_id for a in alerts] == ["weight_change.rapid_gain"]
    assert alerts[0].evidence["values"]["gain_kg"] == 2.3


def test_news2_combines_fresh_readings_of_other_devices(make_obs: MakeObservation) -> None:
    """SpO2, temperature and BP taken together give one partial NEWS2 with all of them."""
    engine = RiskEngine(default_rules())
    readings = [
        make_obs("temperature", {"temperature_c": 39.5}, at=T0),
        make_obs(
            "blood_pressure",
            {"systolic_mmhg": 95.0, "diastolic_mmhg": 60.0, "pulse_rate_bpm": 125},
            at=T0 + timedelta(minutes=1),
        ),
        make_obs("spo2", {"spo2_percent": 91.0}, at=T0 + timedelta(minutes=2)),
    ]
    _, alerts = feed(engine, readings)
    news2 = [a for a in alerts if a.rule_id.startswith("news2.")]
    assert news2[-1].rule_id == "news2.high"
    assert len(news2[-1].evidence["readings"]) == 3


def test_rhythm_screen_every_128_new_beats(make_obs: MakeObservation) -> None:
    """Irregular RR series are screened per 128 new beats and notify at 5 of 6."""
    rng = random.Random(7)
    engine = RiskEngine(default_rules())
    state = ResidentState()
    fired: list[Alert] = []
    for n in range(6):
        rr = [round(rng.uniform(0.45, 1.2), 3) for _ in range(128)]
        obs = make_obs(
            "heart_rate",
            {"heart_rate_bpm": 80, "rr_intervals_s": rr},
            at=T0 + timedelta(minutes=3 * n),
        )
        state, alerts = feed(engine, [obs], state)
        fired.extend(a for a in alerts if a.rule_id == "rhythm.irregular")
        if n < 4:
            assert fired == []
    assert [a.evidence["transition"] for a in fired] == ["fired", "repeat"]
