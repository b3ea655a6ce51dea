"""Fault switches for virtual BLE devices (re-exported from :mod:`simulators.faults`).

The pure definitions live in ``simulators.faults`` so that they load without Bumble;
this module keeps the ``simulators.ble.faults`` import path working.
"""

from simulators.faults import DROP_REASON, REFUSE_REASON, Faults, malform, shift_timestamps

__all__ = ["DROP_REASON", "REFUSE_REASON", "Faults", "malform", "shift_timestamps"]
