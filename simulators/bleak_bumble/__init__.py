"""A bleak backend over Bumble: real ``BleakScanner``/``BleakClient`` on the virtual air.

``BumbleBackend(air)`` gives ``scanner_class`` and ``client_class`` for bleak's
``backend=`` argument; see ``docs/simulators.md``.
"""

from simulators.bleak_bumble.backend import BumbleBackend
from simulators.bleak_bumble.client import BumbleClient
from simulators.bleak_bumble.scanner import BumbleScanner

__all__ = ["BumbleBackend", "BumbleClient", "BumbleScanner"]
