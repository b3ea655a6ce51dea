"""The virtual radio: one Bumble ``LocalLink`` with one controller per radio on it.

Every virtual device and every gateway central gets its own Bumble ``Controller`` on the
same link, with a ``Host`` and a ``Device`` above it, exactly as a real station has one
radio per device. Adverts, connections and ATT traffic pass between them through the link
on the running asyncio loop (``loop.call_soon``), so everything must run on one loop.

A :class:`VirtualAir` is created and passed explicitly (to the virtual devices and to the
bleak backend); there is no module-level link::

    air = VirtualAir()
    band = HeartRateBand(air, name="Band 1")
    backend = BumbleBackend(air)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from simulators.errors import AddressInUseError

logger = logging.getLogger(__name__)

#: Default advertising interval of virtual devices, in ms. Real devices use 100-1000 ms;
#: the virtual air uses a short one so that scans and connections take milliseconds.
DEFAULT_ADVERTISING_INTERVAL_MS: Final = 20.0

_PERIPHERAL_PREFIX: Final = 0xCA7E00000000
_CENTRAL_PREFIX: Final = 0xC0DE00000000


@dataclass(frozen=True, slots=True)
class Listing:
    """What the air knows about a virtual peripheral: its address and name."""

    address: str
    name: str


def normalize_address(address: str) -> str:
    """An address in any usual spelling (``aa:bb:..``, ``AA-BB-..``, ``../P``) as ``AA:BB:..``."""
    text = address.strip().upper().replace("-", ":")
    if "/" in text:
        text = text.split("/", 1)[0]
    return text


def address_to_str(address: Address) -> str:
    """A Bumble address as ``AA:BB:CC:DD:EE:FF`` (no ``/P`` type suffix)."""
    return address.to_string(with_type_qualifier=False)


class VirtualAir:
    """One in-process radio world: a ``LocalLink`` and the radios on it.

    Radios are Bumble ``Device``s built on their own ``Controller``; :meth:`open_radio`
    creates and powers one, :meth:`close_radio` takes it off the link. Peripherals list
    themselves (:meth:`list_peripheral`) so that a central can look up a name or learn that
    an address is unknown, as a real stack that has never seen the device does.
    """

    def __init__(
        self,
        *,
        advertising_interval_ms: float = DEFAULT_ADVERTISING_INTERVAL_MS,
        logger: logging.Logger | None = None,
    ) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]  # bumble leaves LocalLink.__init__ unannotated
        self.advertising_interval_ms = advertising_interval_ms
        self._log = logger or globals()["logger"]
        self._in_use: set[str] = set()
        self._peripherals: dict[str, Listing] = {}
        self._controllers: dict[int, Controller] = {}
        self._next_peripheral = 1
        self._next_central = 1

    # -- addresses -----------------------------------------------------------------
    def allocate_address(self, *, central: bool = False) -> str:
        """A fresh static random address (``CA:7E:...`` devices, ``C0:DE:...`` centrals)."""
        while True:
            if central:
                value = _CENTRAL_PREFIX + self._next_central
                self._next_central += 1
            else:
                value = _PERIPHERAL_PREFIX + self._next_peripheral
                self._next_peripheral += 1
            text = ":".join(f"{value >> shift & 0xFF:02X}" for shift in range(40, -8, -8))
            if text not in self._in_use:
                return text

    # -- peripherals ---------------------------------------------------------------
    def list_peripheral(self, listing: Listing) -> None:
        """Make a peripheral known by address (called by the device when it starts)."""
        self._peripherals[listing.address] = listing

    def unlist_peripheral(self, address: str) -> None:
        """Forget a peripheral (called by the device when it stops)."""
        self._peripherals.pop(normalize_address(address), None)

    def lookup(self, address: str) -> Listing | None:
        """The listing of a running peripheral, or ``None`` if nothing runs at ``address``."""
        return self._peripherals.get(normalize_address(address))

    @property
    def peripherals(self) -> tuple[Listing, ...]:
        """Every running peripheral, in start order."""
        return tuple(self._peripherals.values())

    # -- radios --------------------------------------------------------------------
    async def open_radio(self, name: str, address: str) -> Device:
        """Create a controller on the link and a powered-on Bumble ``Device`` above it.

        Must be called on the loop that runs the air. A second radio on an address in
        use raises ``AddressInUseError``.
        """
        address = normalize_address(address)
        if address in self._in_use:
            raise AddressInUseError(address)
        controller = Controller(name, link=self.link)
        device = Device(
            name=name,
            address=Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        device.advertising_interval_min = self.advertising_interval_ms
        device.advertising_interval_max = self.advertising_interval_ms
        self._in_use.add(address)
        self._controllers[id(device)] = controller
        try:
            await device.power_on()
        except BaseException:
            self._release(device, address)
            raise
        self._log.debug("radio %s up at %s", name, address)
        return device

    async def close_radio(self, device: Device) -> None:
        """Power a radio off and take its controller off the link (idempotent)."""
        address = address_to_str(device.random_address)
        try:
            await device.power_off()
        finally:
            self._release(device, address)
        self._log.debug("radio %s down", address)

    def _release(self, device: Device, address: str) -> None:
        controller = self._controllers.pop(id(device), None)
        if controller is not None and controller in self.link.controllers:
            self.link.remove_controller(controller)
        self._in_use.discard(address)
