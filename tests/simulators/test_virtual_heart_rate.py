"""The virtual heart-rate band through a real bleak client on the Bumble backend."""

from __future__ import annotations

import asyncio

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic

from edge.decoders import HeartRateMeasurement, decode
from simulators.ble import HeartRateBand
from tests.simulators.conftest import World


async def test_heart_rate_notifications_decode_with_rr_intervals_and_contact(world: World) -> None:
    """A band's heart-rate notifications reach bleak and decode with RR intervals and contact."""
    sent = [
        HeartRateMeasurement(72, True, rr_intervals=(0.8125, 0.78125)),
        HeartRateMeasurement(75, False, energy_expended=12, rr_intervals=(0.75,)),
        HeartRateMeasurement(300),
    ]
    received: list[bytes] = []
    async with HeartRateBand(world.air, name="Band 1") as band:
        device = await BleakScanner.find_device_by_name(
            "Band 1", timeout=2, backend=world.backend.scanner_class
        )
        assert device is not None
        async with BleakClient(device, backend=world.backend.client_class) as client:

            def on_notify(_char: BleakGATTCharacteristic, data: bytearray) -> None:
                received.append(bytes(data))

            await client.start_notify("2a37", on_notify)
            for measurement in sent:
                assert await band.notify_heart_rate(measurement) == 1
            await asyncio.sleep(0.02)
            await client.stop_notify("2a37")
            assert await band.notify_heart_rate(HeartRateMeasurement(80)) == 0
    assert [decode("2A37", payload) for payload in received] == sent
    first = decode("2A37", received[0]).as_dict()
    assert first["rr_intervals_s"] == [0.8125, 0.78125]
    assert first["sensor_contact"] is True
