"""The README's example prints what the code really prints."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from carepulse.errors import ObservationError
from carepulse.observation import Observation
from carepulse.pseudonym import pseudonymise

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_example_output_is_current() -> None:
    """The ids and the error shown in the README come from this code."""
    at = datetime(2026, 11, 27, 7, 31, 2, tzinfo=UTC)
    obs = Observation.create(
        station_id="st-001",
        subject_id=pseudonymise("resident-0042", b"station secret, 16+ bytes"),
        device_id="C4:7C:8D:6A:12:34",
        device_kind="bp_meter",
        kind="blood_pressure",
        values={"systolic_mmhg": 138.0, "diastolic_mmhg": 88.0},
        measured_at=at,
        received_at=at,
        source="ble",
    )
    assert f"('{obs.observation_id}', '{obs.subject_id}')" in README
    with pytest.raises(ObservationError) as caught:
        Observation.from_json(obs.to_json().replace(b"blood_pressure", b"bp"))
    shown = "kind: 'bp' is not one of: heart_rate, blood_pressure, ..."
    assert shown in README
    assert str(caught.value).startswith(shown.removesuffix(", ..."))
