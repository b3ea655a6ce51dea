"""Virtual BLE health devices on Bumble, on one in-process virtual air.

See ``docs/simulators.md``.
"""

from simulators.ble.air import Listing, VirtualAir
from simulators.ble.clock import DeviceClock
from simulators.ble.faults import Faults
from simulators.ble.heart_rate import BodySensorLocation, HeartRateBand
from simulators.ble.peripheral import DeviceInfo, VirtualDevice, VirtualPeripheral

__all__ = [
    "BodySensorLocation",
    "DeviceClock",
    "DeviceInfo",
    "Faults",
    "HeartRateBand",
    "Listing",
    "VirtualAir",
    "VirtualDevice",
    "VirtualPeripheral",
]
