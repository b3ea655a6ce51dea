"""Builders for the stream worker's tests: observations as the gateway sends them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from carepulse.observation import Observation

SUBJECT = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
#: 2026-11-27 00:00 UTC = 08:00 in China.
T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)

MakeObservation = Callable[..., Observation]


def make_observation(
    kind: str = "heart_rate",
    values: Mapping[str, Any] | None = None,
    *,
    at: datetime = T0,
    received: datetime | None = None,
    subject: str = SUBJECT,
    device: str = "C4:7C:8D:6A:12:34",
    flags: Mapping[str, Any] | None = None,
) -> Observation:
    defaults: dict[str, Mapping[str, Any]] = {
        "heart_rate": {"heart_rate_bpm": 72},
        "blood_pressure": {"systolic_mmhg": 128.0, "diastolic_mmhg": 82.0},
        "weight": {"weight_kg": 70.0},
        "spo2": {"spo2_percent": 97.0},
        "temperature": {"temperature_c": 36.6},
        "glucose": {"glucose_mmol_l": 6.0},
        "steps": {"steps": 100},
    }
    return Observation.create(
        station_id="st-001",
        subject_id=subject,
        device_id=device,
        device_kind="band",
        kind=kind,
        values=values if values is not None else defaults[kind],
        measured_at=at,
        received_at=received or at + timedelta(seconds=2),
        source="sim",
        flags=flags,
    )
