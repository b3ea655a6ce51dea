"""Fixtures for the BLE simulator tests: one virtual air per test and a bleak backend on it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from simulators.ble import VirtualAir
from simulators.bleak_bumble import BumbleBackend


@dataclass(frozen=True, slots=True)
class World:
    """A virtual air and the bleak backend bound to it."""

    air: VirtualAir
    backend: BumbleBackend


@pytest.fixture
async def world() -> World:
    """A fresh virtual air with fast adverts, and its bleak backend."""
    air = VirtualAir(advertising_interval_ms=10)
    return World(air, BumbleBackend(air))
