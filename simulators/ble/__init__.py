"""Virtual BLE health devices on Bumble, on one in-process virtual air.

See ``docs/simulators.md``.
"""

from simulators.ble.air import Listing, VirtualAir
from simulators.ble.blood_pressure import BloodPressureFeature, BloodPressureMonitor
from simulators.ble.glucose import GlucoseFeature, GlucoseMeter
from simulators.ble.heart_rate import BodySensorLocation, HeartRateBand
from simulators.ble.peripheral import DeviceInfo, VirtualDevice, VirtualPeripheral
from simulators.ble.pulse_oximeter import PLXSupportedFeatures, PulseOximeter
from simulators.ble.thermometer import Thermometer
from simulators.ble.weight_scale import BodyCompositionFeature, BodyCompositionScale, WeightScale
from simulators.ble.xiaomi import MiBandBroadcaster, MiBodyScaleAdvertiser, MiScaleAdvertiser
from simulators.clock import DeviceClock, TimeSource
from simulators.faults import Faults

__all__ = [
    "BloodPressureFeature",
    "BloodPressureMonitor",
    "BodyCompositionFeature",
    "BodyCompositionScale",
    "BodySensorLocation",
    "DeviceClock",
    "DeviceInfo",
    "Faults",
    "GlucoseFeature",
    "GlucoseMeter",
    "HeartRateBand",
    "Listing",
    "MiBandBroadcaster",
    "MiBodyScaleAdvertiser",
    "MiScaleAdvertiser",
    "PLXSupportedFeatures",
    "PulseOximeter",
    "Thermometer",
    "TimeSource",
    "VirtualAir",
    "VirtualDevice",
    "VirtualPeripheral",
    "WeightScale",
]
