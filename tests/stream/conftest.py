"""Fixtures of the stream worker's tests."""

from __future__ import annotations

import pytest

from tests.stream.factories import MakeObservation, make_observation


@pytest.fixture
def make_obs() -> MakeObservation:
    """A builder of valid observations (kind, values, at=, received=, subject=, flags=)."""
    return make_observation
