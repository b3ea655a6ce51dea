"""The example station file in deploy/ is a valid registry."""

from __future__ import annotations

from pathlib import Path

from edge.registry import load_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "station.example.toml"


def test_example_station_file_loads() -> None:
    """deploy/station.example.toml parses with four devices."""
    registry = load_registry(EXAMPLE.read_text())
    assert registry.station_id == "st-001"
    assert len(registry) == 4
