"""``BumbleScanner``: bleak's scanner backend over a central radio on the virtual air."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from bleak.backends.scanner import AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakError
from bumble.device import Advertisement, Device

from simulators.ble.air import VirtualAir, address_to_str
from simulators.bleak_bumble.convert import advertisement_to_bleak

logger = logging.getLogger(__name__)


class BumbleScanner(BaseBleakScanner):
    """Scans the virtual air with its own central radio while started.

    bleak instantiates backend classes itself, so the air is bound to a subclass:
    use ``BumbleBackend(air).scanner_class``, not this class directly.
    """

    #: The air this class scans; set on the subclass ``BumbleBackend`` makes.
    air: ClassVar[VirtualAir | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        air = type(self).air
        if air is None:
            msg = "BumbleScanner has no air; pass BumbleBackend(air).scanner_class as backend="
            raise BleakError(msg)
        self._air = air
        self._active = scanning_mode == "active"
        self._radio: Device | None = None

    async def start(self) -> None:
        """Power a central radio and scan (active unless ``scanning_mode="passive"``)."""
        self.seen_devices = {}
        if self._radio is not None:
            return
        radio = await self._air.open_radio(
            "bleak scanner", self._air.allocate_address(central=True)
        )
        self._radio = radio
        radio.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await radio.start_scanning(active=self._active, filter_duplicates=False)
        logger.debug("scanning the virtual air from %s", address_to_str(radio.random_address))

    async def stop(self) -> None:
        """Stop scanning and take the central radio off the air."""
        radio, self._radio = self._radio, None
        if radio is None:
            return
        radio.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        try:
            await radio.stop_scanning()
        finally:
            await self._air.close_radio(radio)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement_to_bleak(advertisement)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = address_to_str(advertisement.address)
        name = data.local_name
        if name is None and address in self.seen_devices:
            name = self.seen_devices[address][0].name
        details = {"address": address, "advertisement": advertisement}
        device = self.create_or_update_device(address, address, name, details, data)
        self.call_detection_callbacks(device, data)
