"""Devices that store readings and indicate them when a collector subscribes.

Blood pressure monitors, scales, thermometers and spot-check oximeters keep readings
taken while no gateway was near and indicate them, oldest first, as soon as a collector
enables indications; each is forgotten once the collector confirms it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bumble.gatt import Characteristic

from edge.decoders import ByteSerializable
from simulators.ble.peripheral import VirtualPeripheral


class StoredRecords:
    """The stored readings of one indicate characteristic of ``device``."""

    def __init__(self, device: VirtualPeripheral, char: Characteristic[bytes]) -> None:
        self._device = device
        self._char = char
        device._watch_records(char)

    @property
    def pending(self) -> tuple[ByteSerializable, ...]:
        """Readings not yet confirmed by a collector, oldest first."""
        return self._device._pending(self._char)

    def store(self, *readings: ByteSerializable) -> None:
        """Keep readings; they are indicated when (or as soon as) a collector subscribes."""
        self._device._store(self._char, readings)

    async def delivered(self) -> bool:
        """Wait for a delivery in progress; returns whether nothing is left pending."""
        task = self._device._flushes.get(id(self._char))
        if task is not None and not task.done():
            await asyncio.shield(task)
        return not self.pending

    async def measure(self, reading: ByteSerializable) -> bool:
        """Store a reading and, if a collector is subscribed, wait until it is delivered.

        Returns whether every stored reading has been delivered.
        """
        task: asyncio.Task[Any] | None = self._device._store(self._char, (reading,))
        if task is not None:
            await asyncio.shield(task)
        return not self.pending
