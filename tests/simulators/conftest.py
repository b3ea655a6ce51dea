"""Fixtures for the BLE simulator tests: one virtual air per test and a bleak backend on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic

from simulators.ble import VirtualAir, VirtualDevice
from simulators.bleak_bumble import BumbleBackend


@dataclass(frozen=True, slots=True)
class World:
    """A virtual air and the bleak backend bound to it."""

    air: VirtualAir
    backend: BumbleBackend

    @asynccontextmanager
    async def client(self, device: VirtualDevice, **kwargs: object) -> AsyncIterator[BleakClient]:
        """A connected real ``BleakClient`` on the backend, found by a real scan."""
        found = await BleakScanner.find_device_by_address(
            device.address, timeout=2, backend=self.backend.scanner_class
        )
        assert found is not None, f"{device.name} not seen on the air"
        async with BleakClient(found, backend=self.backend.client_class, **kwargs) as client:  # type: ignore[arg-type]  # test-only pass-through of BleakClient options
            yield client


class Inbox:
    """Collects notification/indication payloads; a bleak callback."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def __call__(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        """Receive one payload."""
        self.queue.put_nowait(bytes(data))

    async def take(self, count: int = 1, timeout: float = 2.0) -> list[bytes]:
        """The next ``count`` payloads, waiting at most ``timeout`` s for each."""
        return [await asyncio.wait_for(self.queue.get(), timeout) for _ in range(count)]

    async def quiet(self, wait: float = 0.05) -> bool:
        """Whether nothing arrives within ``wait`` s."""
        await asyncio.sleep(wait)
        return self.queue.empty()


@pytest.fixture
async def world() -> World:
    """A fresh virtual air with fast adverts, and its bleak backend."""
    air = VirtualAir(advertising_interval_ms=10)
    return World(air, BumbleBackend(air))
