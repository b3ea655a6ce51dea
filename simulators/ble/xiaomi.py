"""Xiaomi advertisers: the Mi scales' service data and the band heart-rate broadcast.

These devices send their readings in adverts, not over GATT; a gateway scans for them.
The advert bytes are ``bytes()`` of the ``edge.decoders.xiaomi`` dataclasses:

* :class:`MiScaleAdvertiser`: Mi Smart Scale v1, service data 0x181D (``MiScale``),
  local name ``MI_SCALE``.
* :class:`MiBodyScaleAdvertiser`: Mi Body Composition Scale v2, service data 0x181B
  (``MiBodyScale``), local name ``MIBFS``.
* :class:`MiBandBroadcaster`: Xiaomi/Amazfit band heart-rate broadcast, manufacturer
  data of company 0x0157 (``MiBandHeartRate``) carrying the band's own address. The 26
  bytes fill the advert, so it has no local name.

Faults: ``silent`` stops the adverts; ``malformed`` cuts the payload in half; a clock
error moves the scales' timestamps.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from edge.decoders import MiBandHeartRate, MiBodyScale, MiScale
from simulators.ble.advertising import build_advert
from simulators.ble.air import VirtualAir
from simulators.ble.peripheral import VirtualDevice
from simulators.clock import DeviceClock
from simulators.faults import malform, shift_timestamps


class _Advertiser(VirtualDevice):
    """A device that only advertises a payload, replaced with each reading."""

    def __init__(
        self,
        air: VirtualAir,
        *,
        name: str | None = None,
        address: str | None = None,
        clock: DeviceClock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(air, name=name, address=address, clock=clock, logger=logger)
        self._payload: bytes | None = None

    def _encode(self, reading: MiScale | MiBodyScale | MiBandHeartRate) -> bytes:
        payload = bytes(shift_timestamps(reading, self.clock.offset))
        # Half the frame: long enough to keep the company id, too short to decode.
        return malform(payload, len(payload) // 2) if self._faults.malformed else payload

    async def _show(self, payload: bytes) -> None:
        self._payload = payload
        self._log.debug("virtual advertiser %s advertises %s", self.address, payload.hex())
        await self._advertise()


class MiScaleAdvertiser(_Advertiser):
    """A Mi Smart Scale v1 advertising its weight readings."""

    DEFAULT_NAME: ClassVar[str] = "MI_SCALE"

    def _advert(self) -> bytes:
        data = {MiScale.SERVICE_UUID: self._payload} if self._payload is not None else {}
        return build_advert(self.name, name=self.name, service_data=data)

    async def advertise_weight(self, reading: MiScale) -> None:
        """Advertise ``reading`` until the next one (as the scale repeats its last weight)."""
        self._require()
        await self._show(self._encode(reading))


class MiBodyScaleAdvertiser(_Advertiser):
    """A Mi Body Composition Scale v2 advertising weight and impedance."""

    DEFAULT_NAME: ClassVar[str] = "MIBFS"

    def _advert(self) -> bytes:
        data = {MiBodyScale.SERVICE_UUID: self._payload} if self._payload is not None else {}
        return build_advert(self.name, name=self.name, service_data=data)

    async def advertise_weight(self, reading: MiBodyScale) -> None:
        """Advertise ``reading`` until the next one."""
        self._require()
        await self._show(self._encode(reading))


class MiBandBroadcaster(_Advertiser):
    """A Xiaomi/Amazfit band with heart-rate broadcast enabled."""

    DEFAULT_NAME: ClassVar[str] = "Mi Smart Band"

    def _advert(self) -> bytes:
        if self._payload is None:
            return build_advert(self.name, name=self.name)
        # bleak's form: the company id is the dictionary key, not part of the value.
        company = self._payload[:2]
        data = {int.from_bytes(company, "little"): self._payload[2:]} if len(company) == 2 else {}
        return build_advert(self.name, manufacturer_data=data)

    async def broadcast_heart_rate(self, heart_rate: int | None) -> None:
        """Broadcast a heart rate (``None``: the band has no reading) with the band's address."""
        self._require()
        reading = MiBandHeartRate(heart_rate, self.address)
        await self._show(self._encode(reading))

    async def broadcast(self, reading: MiBandHeartRate) -> None:
        """Broadcast a whole frame as given (its ``mac`` may differ from the address)."""
        self._require()
        await self._show(self._encode(reading))
