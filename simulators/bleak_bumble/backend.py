"""``BumbleBackend``: bleak backend classes bound to one virtual air.

bleak instantiates a backend class itself (``BleakScanner(backend=cls)``), so the air
cannot go through a constructor. ``BumbleBackend(air)`` makes a scanner and a client
subclass that carry the air as a class attribute; one backend per air, created where the
air is created and passed down like any collaborator::

    air = VirtualAir()
    backend = BumbleBackend(air)
    scanner = BleakScanner(callback, backend=backend.scanner_class)
    client = BleakClient(device, backend=backend.client_class)
"""

from __future__ import annotations

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

from simulators.ble.air import VirtualAir
from simulators.bleak_bumble.client import DEFAULT_MTU, BumbleClient
from simulators.bleak_bumble.scanner import BumbleScanner


class BumbleBackend:
    """The scanner and client classes for bleak's ``backend=``, bound to ``air``.

    ``mtu`` is the ATT MTU clients request after connecting.
    """

    def __init__(self, air: VirtualAir, *, mtu: int = DEFAULT_MTU) -> None:
        self.air = air
        self.scanner_class: type[BaseBleakScanner] = type(
            "BumbleScanner", (BumbleScanner,), {"air": air, "__module__": BumbleScanner.__module__}
        )
        self.client_class: type[BaseBleakClient] = type(
            "BumbleClient",
            (BumbleClient,),
            {"air": air, "mtu": mtu, "__module__": BumbleClient.__module__},
        )
