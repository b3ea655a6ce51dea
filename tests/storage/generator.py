"""A simulated station's readings and alerts, for storage tests and the report demo (pure).

Deterministic for a seed. Each resident has a baseline and habits: most measure blood
pressure most mornings (some in the evening too), weigh themselves every few days, wear a
band that reports heart rate and the day's step count, and diabetics check glucose. A
third of the hypertensive residents bring their pressure down over the period (the
behaviour change the station report looks for).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from carepulse.alert import Alert, alert_id_for
from carepulse.observation import Observation
from carepulse.pseudonym import pseudonymise

SECRET = b"storage-tests-station-secret-0001"
ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class Resident:
    """One simulated resident's baseline and habits."""

    subject_id: str
    systolic: float
    diastolic: float
    weight_kg: float
    height_m: float
    adherence: float
    improving: bool
    diabetic: bool
    steps: int


@dataclass
class Station:
    """What a simulated station produced."""

    station_id: str
    residents: list[Resident]
    observations: list[Observation] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    end: datetime = field(default_factory=lambda: datetime.now(UTC))


def subject(n: int) -> str:
    """The pseudonym of resident number ``n`` of the test station."""
    return pseudonymise(f"resident-{n:03d}", SECRET)


def simulate_station(
    *,
    station_id: str = "st-demo",
    residents: int = 20,
    days: int = 28,
    end: datetime | None = None,
    seed: int = 7,
) -> Station:
    """Readings of ``residents`` over ``days`` local days ending at ``end`` (default now)."""
    rng = random.Random(seed)
    stop = (end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    people = [
        Resident(
            subject_id=subject(n),
            systolic=rng.gauss(138, 12),
            diastolic=rng.gauss(86, 7),
            weight_kg=rng.gauss(66, 10),
            height_m=rng.gauss(1.62, 0.07),
            adherence=rng.choice([0.95, 0.85, 0.7, 0.5, 0.2]),
            improving=n % 3 == 0,
            diabetic=n % 4 == 1,
            steps=int(rng.gauss(6000, 2000)),
        )
        for n in range(residents)
    ]
    station = Station(station_id, people, end=stop)
    first_day = stop.astimezone(ZONE).date() - timedelta(days=days - 1)
    for person in people:
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            progress = offset / max(days - 1, 1)
            drop = 12 * progress if person.improving and person.systolic >= 135 else 0
            if rng.random() < person.adherence:
                at = _local(day, 7, rng)
                _bp(station, person, at, drop, rng)
                if rng.random() < 0.3:
                    _bp(station, person, _local(day, 19, rng), drop, rng)
            if offset % 3 == 0 and rng.random() < person.adherence:
                loss = 1.5 * progress if person.improving else 0
                weight = person.weight_kg - loss + rng.gauss(0, 0.3)
                _add(
                    station,
                    person,
                    "scale",
                    "weight",
                    {"weight_kg": round(weight, 1), "bmi": round(weight / person.height_m**2, 1)},
                    _local(day, 8, rng),
                )
            if person.diabetic and rng.random() < person.adherence:
                _add(
                    station,
                    person,
                    "glucose_meter",
                    "glucose",
                    {"glucose_mmol_l": round(rng.gauss(7.2, 1.1), 1)},
                    _local(day, 6, rng),
                )
            if rng.random() < 0.8:
                for hour in (10, 15, 21):
                    _add(
                        station,
                        person,
                        "band",
                        "heart_rate",
                        {"heart_rate_bpm": round(rng.gauss(74, 6))},
                        _local(day, hour, rng),
                    )
                _add(
                    station,
                    person,
                    "band",
                    "steps",
                    {"steps_count": max(0, int(rng.gauss(person.steps, 1500)))},
                    _local(day, 21, rng).replace(minute=59),
                )
    station.observations = [o for o in station.observations if o.measured_at < stop]
    station.observations.sort(key=lambda o: o.measured_at)
    return station


def _local(day: date, hour: int, rng: random.Random) -> datetime:
    local = datetime.combine(day, datetime.min.time(), tzinfo=ZONE)
    return (
        local + timedelta(hours=hour, minutes=rng.randrange(50), seconds=rng.randrange(60))
    ).astimezone(UTC)


def _bp(station: Station, person: Resident, at: datetime, drop: float, rng: random.Random) -> None:
    systolic = round(person.systolic - drop + rng.gauss(0, 6))
    diastolic = round(person.diastolic - drop / 2 + rng.gauss(0, 4))
    _add(
        station,
        person,
        "bp_meter",
        "blood_pressure",
        {
            "systolic_mmhg": float(systolic),
            "diastolic_mmhg": float(diastolic),
            "pulse_rate_bpm": float(round(rng.gauss(72, 6))),
        },
        at,
    )
    if systolic >= 180 or diastolic >= 110:
        station.alerts.append(
            Alert(
                alert_id=alert_id_for(
                    station.station_id, person.subject_id, "bp.urgent_referral", at.isoformat()
                ),
                station_id=station.station_id,
                subject_id=person.subject_id,
                rule_id="bp.urgent_referral",
                severity="urgent",  # type: ignore[arg-type]
                category="clinical",  # type: ignore[arg-type]
                status="firing",  # type: ignore[arg-type]
                reason=f"Blood pressure {systolic}/{diastolic} mmHg",
                source="2018 Chinese hypertension guideline",
                raised_at=at + timedelta(seconds=2),
            )
        )
    elif systolic >= 160:
        station.alerts.append(
            Alert(
                alert_id=alert_id_for(
                    station.station_id, person.subject_id, "bp.grade_2", at.isoformat()
                ),
                station_id=station.station_id,
                subject_id=person.subject_id,
                rule_id="bp.grade_2",
                severity="follow-up",  # type: ignore[arg-type]
                category="clinical",  # type: ignore[arg-type]
                status="firing",  # type: ignore[arg-type]
                reason=f"Blood pressure {systolic}/{diastolic} mmHg",
                source="2018 Chinese hypertension guideline",
                raised_at=at + timedelta(seconds=2),
            )
        )


def _add(
    station: Station,
    person: Resident,
    device_kind: str,
    kind: str,
    values: dict[str, float | int],
    at: datetime,
) -> None:
    station.observations.append(
        Observation.create(
            station_id=station.station_id,
            subject_id=person.subject_id,
            device_id=f"{device_kind}-{person.subject_id[:6]}",
            device_kind=device_kind,
            kind=kind,
            values=values,
            measured_at=at,
            received_at=at + timedelta(seconds=3),
            source="sim",
        )
    )
