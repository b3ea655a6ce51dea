"""Faults on demand: each one is observable by a real bleak client on the Bumble backend."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError

from edge.decoders import (
    BatteryLevel,
    BloodPressureMeasurement,
    CurrentTime,
    DateTime,
    DecodeError,
    HeartRateMeasurement,
    MiScale,
    decode,
)
from simulators.ble import (
    BloodPressureMonitor,
    DeviceClock,
    Faults,
    HeartRateBand,
    MiScaleAdvertiser,
)
from tests.simulators.conftest import Inbox, World

BEAT = HeartRateMeasurement(70, True, rr_intervals=(0.859375,))


async def test_disconnect_mid_stream_fires_the_disconnected_callback(world: World) -> None:
    """A device that drops the link after two notifications fires bleak's disconnected callback."""
    lost = asyncio.Event()
    inbox = Inbox()
    async with HeartRateBand(world.air) as band:
        await band.set_faults(Faults(disconnect_after=2))
        async with world.client(band, disconnected_callback=lambda _client: lost.set()) as client:
            await client.start_notify("2a37", inbox)
            await band.notify_heart_rate(BEAT)
            assert client.is_connected
            await band.notify_heart_rate(BEAT)
            await asyncio.wait_for(lost.wait(), 2)
            assert not client.is_connected
            assert len(await inbox.take(2)) == 2
            with pytest.raises(BleakError):
                await client.read_gatt_char("2a19")


async def test_drop_connections_and_reconnect(world: World) -> None:
    """``drop_connections()`` cuts the link; the device advertises again and accepts a new one."""
    lost = asyncio.Event()
    async with HeartRateBand(world.air) as band:
        async with world.client(band, disconnected_callback=lambda _client: lost.set()) as client:
            await band.drop_connections()
            await asyncio.wait_for(lost.wait(), 2)
            await client.connect()
            assert client.is_connected
            assert decode("2A19", await client.read_gatt_char("2a19")) == BatteryLevel(100)


async def test_refused_connection_raises_bleak_error(world: World) -> None:
    """A device that refuses connections makes ``BleakClient.connect()`` raise ``BleakError``."""
    async with HeartRateBand(world.air) as band:
        await band.set_faults(Faults(refuse_connections=True))
        client = BleakClient(band.address, backend=world.backend.client_class, timeout=2)
        with pytest.raises(BleakError):
            await client.connect()
        assert not client.is_connected
        await band.set_faults(Faults())
        async with BleakClient(band.address, backend=world.backend.client_class) as again:
            assert again.is_connected


async def test_unknown_address_raises_device_not_found(world: World) -> None:
    """Connecting to an address nothing on the air uses raises ``BleakDeviceNotFoundError``."""
    client = BleakClient("CA:7E:00:00:0F:FF", backend=world.backend.client_class)
    with pytest.raises(BleakDeviceNotFoundError):
        await client.connect()


async def test_silent_device_vanishes_from_scans_and_sends_nothing(world: World) -> None:
    """A silent device stops advertising and notifying; it comes back when the fault clears."""
    async with HeartRateBand(world.air) as band:
        async with world.client(band) as client:
            inbox = Inbox()
            await client.start_notify("2a37", inbox)
            await band.set_faults(Faults(silent=True))
            assert await band.notify_heart_rate(BEAT) == 0
            assert await inbox.quiet()
        found = await BleakScanner.find_device_by_address(
            band.address, timeout=0.1, backend=world.backend.scanner_class
        )
        assert found is None
        await band.set_faults(Faults())
        found = await BleakScanner.find_device_by_address(
            band.address, timeout=1, backend=world.backend.scanner_class
        )
        assert found is not None


async def test_duplicate_and_resend_last_repeat_the_same_record(world: World) -> None:
    """With ``duplicate`` each reading arrives twice, and ``resend_last()`` sends it once more."""
    reading = BloodPressureMeasurement(150.0, 95.0, 113.0, timestamp=DateTime(2026, 5, 1, 7, 0))
    async with BloodPressureMonitor(world.air) as bp, world.client(bp) as client:
        inbox = Inbox()
        await client.start_notify("2a35", inbox)
        await bp.set_faults(Faults(duplicate=True))
        assert await bp.measure(reading)
        assert await bp.resend_last() == 1
        payloads = await inbox.take(3)
        assert len(set(payloads)) == 1
        assert decode("2A35", payloads[0]) == reading


async def test_malformed_payloads_reach_the_client_and_fail_to_decode(world: World) -> None:
    """A malformed notification arrives as bytes that ``edge.decoders.decode`` rejects."""
    async with HeartRateBand(world.air) as band, world.client(band) as client:
        inbox = Inbox()
        await client.start_notify("2a37", inbox)
        await band.set_faults(Faults(malformed=True))
        await band.notify_heart_rate(BEAT)
        (payload,) = await inbox.take()
        assert payload
        with pytest.raises(DecodeError):
            decode("2A37", payload)


async def test_malformed_mi_scale_advert_fails_to_decode(world: World) -> None:
    """A malformed Mi scale advert is seen by the scanner and rejected by the decoder."""
    async with MiScaleAdvertiser(world.air) as scale:
        await scale.set_faults(Faults(malformed=True))
        await scale.advertise_weight(MiScale(0x22, 72.5, DateTime(2026, 5, 1, 7, 30)))
        seen = await BleakScanner.discover(
            timeout=0.1, return_adv=True, backend=world.backend.scanner_class
        )
    data = seen[scale.address][1].service_data["0000181d-0000-1000-8000-00805f9b34fb"]
    with pytest.raises(DecodeError):
        decode("mi_scale", data)


async def test_wrong_clock_shows_in_timestamps_and_current_time(world: World) -> None:
    """A device running a wrong clock stamps readings with it and reports it in Current Time."""
    true_now = datetime(2026, 5, 1, 12, 0, 0)
    bp = BloodPressureMonitor(world.air, clock=DeviceClock(lambda: true_now))
    async with bp, world.client(bp) as client:
        await bp.set_clock_error(timedelta(days=-365))
        clock = decode("2A2B", await client.read_gatt_char("2a2b"))
        assert isinstance(clock, CurrentTime)
        assert clock.date_time == DateTime(2025, 5, 1, 12, 0, 0)
        inbox = Inbox()
        await client.start_notify("2a35", inbox)
        await bp.measure(
            BloodPressureMeasurement(120.0, 80.0, 93.0, timestamp=DateTime(2026, 5, 1, 11, 58))
        )
        sent = decode("2A35", (await inbox.take())[0])
        assert isinstance(sent, BloodPressureMeasurement)
        assert sent.timestamp == DateTime(2025, 5, 1, 11, 58)


async def test_low_battery_is_notified_and_readable(world: World) -> None:
    """Setting a low battery notifies subscribers and reads back as the new level."""
    async with HeartRateBand(world.air) as band, world.client(band) as client:
        inbox = Inbox()
        await client.start_notify("2a19", inbox)
        await band.set_battery(5)
        assert [decode("2A19", p) for p in await inbox.take()] == [BatteryLevel(5)]
        assert decode("2A19", await client.read_gatt_char("2a19")) == BatteryLevel(5)


async def test_solicited_disconnect_also_fires_the_callback_as_bluez_does(world: World) -> None:
    """``disconnect()`` fires the disconnected callback too, matching bleak's BlueZ backend."""
    calls: list[bool] = []
    async with HeartRateBand(world.air) as band:
        client = BleakClient(
            band.address,
            disconnected_callback=lambda _client: calls.append(True),
            backend=world.backend.client_class,
        )
        await client.connect()
        await client.disconnect()
        assert calls == [True]
        assert not band.connected
