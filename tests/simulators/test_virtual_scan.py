"""Scanning the virtual air with a real ``BleakScanner`` on the Bumble backend."""

from __future__ import annotations

import asyncio

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from edge.decoders import DateTime, MiBandHeartRate, MiBodyScale, MiScale, decode
from edge.decoders.xiaomi import XIAOMI_COMPANY_ID
from simulators.ble import (
    BloodPressureMonitor,
    GlucoseMeter,
    HeartRateBand,
    MiBandBroadcaster,
    MiBodyScaleAdvertiser,
    MiScaleAdvertiser,
    Thermometer,
)
from tests.simulators.conftest import World

STAMP = DateTime(2026, 5, 1, 7, 30, 0)
WEIGHT_SCALE = "0000181d-0000-1000-8000-00805f9b34fb"
BODY_COMPOSITION = "0000181b-0000-1000-8000-00805f9b34fb"


async def _scan(
    world: World, seconds: float = 0.1, **kwargs: object
) -> dict[str, AdvertisementData]:
    seen = await BleakScanner.discover(
        timeout=seconds,
        return_adv=True,
        backend=world.backend.scanner_class,
        **kwargs,  # type: ignore[call-overload]  # test-only pass-through of scanner options
    )
    return {address: adv for address, (_device, adv) in seen.items()}


async def test_scan_finds_every_device_with_its_advertised_service(world: World) -> None:
    """Every running GATT device shows up with its local name and health service UUID."""
    devices = [
        HeartRateBand(world.air, name="Band 1"),
        BloodPressureMonitor(world.air, name="BP 1"),
        Thermometer(world.air, name="Thermo 1"),
        GlucoseMeter(world.air, name="Gluco 1"),
    ]
    expected = {"Band 1": "180d", "BP 1": "1810", "Thermo 1": "1809", "Gluco 1": "1808"}
    for device in devices:
        await device.start()
    try:
        seen = await _scan(world)
    finally:
        for device in devices:
            await device.stop()
    assert {d.address for d in devices} <= set(seen)
    for device in devices:
        adv = seen[device.address]
        assert adv.local_name == device.name
        assert adv.service_uuids == [f"0000{expected[device.name]}-0000-1000-8000-00805f9b34fb"]
        assert adv.rssi == -50


async def test_scanner_service_filter_keeps_only_matching_devices(world: World) -> None:
    """A scan filtered on the Heart Rate service reports the band and not the BP monitor."""
    async with HeartRateBand(world.air) as band, BloodPressureMonitor(world.air) as bp:
        seen = await _scan(world, service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"])
    assert band.address in seen
    assert bp.address not in seen


async def test_mi_scale_adverts_decode_with_edge_decoders(world: World) -> None:
    """Mi scale v1 and v2 service data decode back to the readings they advertise."""
    v1 = MiScale(0x22, 72.5, STAMP)
    v2 = MiBodyScale(0x0602, 68.4, STAMP, impedance=480)
    async with MiScaleAdvertiser(world.air) as scale, MiBodyScaleAdvertiser(world.air) as body:
        await scale.advertise_weight(v1)
        await body.advertise_weight(v2)
        seen = await _scan(world)
    assert seen[scale.address].local_name == "MI_SCALE"
    assert decode("mi_scale", seen[scale.address].service_data[WEIGHT_SCALE]) == v1
    assert seen[body.address].local_name == "MIBFS"
    assert decode("mi_body_scale", seen[body.address].service_data[BODY_COMPOSITION]) == v2


async def test_band_broadcast_carries_heart_rate_and_the_band_address(world: World) -> None:
    """The band's manufacturer data decodes to its heart rate and its own MAC address."""
    updates: list[int | None] = []

    def on_advert(device: BLEDevice, adv: AdvertisementData) -> None:
        data = adv.manufacturer_data.get(XIAOMI_COMPANY_ID)
        if device.address == band.address and data is not None:
            updates.append(
                MiBandHeartRate.from_manufacturer_data(XIAOMI_COMPANY_ID, data).heart_rate
            )

    async with MiBandBroadcaster(world.air) as band:
        await band.broadcast_heart_rate(71)
        async with BleakScanner(on_advert, backend=world.backend.scanner_class):
            await asyncio.sleep(0.05)
            await band.broadcast_heart_rate(None)
            await asyncio.sleep(0.05)
        seen = await _scan(world, 0.05)
    frame = MiBandHeartRate.from_manufacturer_data(
        XIAOMI_COMPANY_ID, seen[band.address].manufacturer_data[XIAOMI_COMPANY_ID]
    )
    assert frame.mac == band.address
    assert updates[0] == 71
    assert updates[-1] is None
