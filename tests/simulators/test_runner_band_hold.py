"""The runner's band holds a notification no central received until one subscribes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from edge.decoders import HeartRateMeasurement, decode
from simulators.ble import HeartRateBand, VirtualDevice
from simulators.runner import RunSummary, perform
from simulators.scenario import Action, DeviceKind, Link
from tests.simulators.conftest import Inbox, World

AT = datetime(2026, 11, 27, tzinfo=UTC)


def band_action(device_id: str, bpm: int) -> Action:
    measurement = HeartRateMeasurement(bpm)
    return Action(
        at=AT,
        resident="R1",
        device_id=device_id,
        device_kind=DeviceKind.HR_BAND,
        link=Link.BLE,
        name="heart_rate_measurement",
        measurement=measurement,
        payload=bytes(measurement),
    )


async def test_a_notification_sent_while_reconnecting_arrives_after_subscription(
    world: World,
) -> None:
    """Sent with nobody listening, the reading waits; a new subscriber receives it once."""
    summary = RunSummary("t", 1, 1.0, AT, AT)
    late: set[asyncio.Task[None]] = set()
    inbox = Inbox()
    async with HeartRateBand(world.air, name="Band hold") as band:
        devices: dict[str, VirtualDevice] = {band.address: band}
        await perform(band_action(band.address, 77), devices, None, summary, late)
        assert len(late) == 1  # nobody was subscribed: the band holds it
        async with world.client(band) as client:
            await client.start_notify("2a37", inbox)
            received = await inbox.take(1, timeout=5)
            await asyncio.gather(*late)
            assert await inbox.quiet()
    assert decode("2A37", received[0]).as_dict()["heart_rate_bpm"] == 77
    assert summary.undelivered == 0
    assert summary.sent["R1/heart_rate"] == 1


async def test_without_a_late_set_the_reading_counts_as_undelivered(world: World) -> None:
    """The old behaviour stays available: no holding, the reading is undelivered."""
    summary = RunSummary("t", 1, 1.0, AT, AT)
    async with HeartRateBand(world.air, name="Band drop") as band:
        await perform(band_action(band.address, 70), {band.address: band}, None, summary)
    assert summary.undelivered == 1
