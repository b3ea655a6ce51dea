"""The runner's band holds a notification no central received until one subscribes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from edge.decoders import HeartRateMeasurement, decode
from simulators.ble import HeartRateBand, VirtualDevice
from simulators.runner import BAND_POLL_S, BandQueue, RunSummary, perform
from simulators.scenario import Action, DeviceKind, Link
from tests.simulators.conftest import Inbox, World

AT = datetime(2026, 11, 27, tzinfo=UTC)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition`` holds (a bound, not a measurement: it fails only on a hang)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def band_action(device_id: str, bpm: int, copies: int = 1) -> Action:
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
        copies=copies,
    )


async def test_a_notification_sent_while_reconnecting_arrives_after_subscription(
    world: World,
) -> None:
    """Sent with nobody listening, the reading waits; a new subscriber receives it once."""
    summary = RunSummary("t", 1, 1.0, AT, AT)
    bands = BandQueue(summary)
    inbox = Inbox()
    async with HeartRateBand(world.air, name="Band hold") as band:
        devices: dict[str, VirtualDevice] = {band.address: band}
        await perform(band_action(band.address, 77), devices, None, summary, bands)
        await asyncio.sleep(3 * BAND_POLL_S)  # the band looks for a subscriber meanwhile
        assert bands.waiting == 1  # nobody was subscribed: the band holds it
        async with world.client(band) as client:
            await client.start_notify("2a37", inbox)
            received = await inbox.take(1, timeout=5)
            await bands.wait()
            assert await inbox.quiet()
    assert decode("2A37", received[0]).as_dict()["heart_rate_bpm"] == 77
    assert summary.undelivered == 0
    assert summary.sent["R1/heart_rate"] == 1


async def test_without_a_band_queue_the_reading_counts_as_undelivered(world: World) -> None:
    """Without a queue the band notifies at once: nobody listening, the reading is undelivered."""
    summary = RunSummary("t", 1, 1.0, AT, AT)
    async with HeartRateBand(world.air, name="Band drop") as band:
        await perform(band_action(band.address, 70), {band.address: band}, None, summary)
    assert summary.undelivered == 1


async def test_held_readings_arrive_in_order_each_in_its_own_millisecond(world: World) -> None:
    """Readings held through a reconnection reach the subscriber one at a time, in order.

    The gateway stamps heart rate on arrival and storage keeps one point per subject, kind
    and millisecond, so two readings that arrive within one millisecond are one point: a
    band that handed over all it held at once lost one in the demo (issue #8).
    """
    summary = RunSummary("t", 1, 1.0, AT, AT)
    bands = BandQueue(summary)
    arrivals: list[tuple[datetime, int]] = []

    def stamp(_char: object, data: bytearray) -> None:
        bpm = decode("2A37", bytes(data)).as_dict()["heart_rate_bpm"]
        arrivals.append((datetime.now(UTC), int(bpm)))  # the gateway's clock, as it stamps

    async with HeartRateBand(world.air, name="Band burst") as band:
        devices: dict[str, VirtualDevice] = {band.address: band}
        for bpm in (70, 71, 72):
            await perform(band_action(band.address, bpm), devices, None, summary, bands)
        async with world.client(band) as client:
            await client.start_notify("2a37", stamp)
            await bands.wait()
            await perform(band_action(band.address, 73), devices, None, summary, bands)
            await bands.wait()
            await until(lambda: len(arrivals) == 4)  # the last notification's hops
    assert [bpm for _, bpm in arrivals] == [70, 71, 72, 73]
    milliseconds = [int(at.timestamp() * 1000) for at, _ in arrivals]
    assert len(set(milliseconds)) == 4, arrivals
    assert summary.undelivered == 0


async def test_a_reading_held_past_the_hold_time_counts_as_undelivered(world: World) -> None:
    """With no central subscribing within the hold time, the band gives the reading up."""
    summary = RunSummary("t", 1, 1.0, AT, AT)
    bands = BandQueue(summary, hold_s=0.3)
    async with HeartRateBand(world.air, name="Band gone") as band:
        await perform(band_action(band.address, 70), {band.address: band}, None, summary, bands)
        await bands.wait()
    assert bands.waiting == 0
    assert summary.undelivered == 1
    assert summary.given_up == {"R1/heart_rate": 1}


async def test_each_copy_of_a_reading_is_notified_in_its_own_turn(world: World) -> None:
    """A duplicated band reading arrives as many times as sent, never in one millisecond."""
    summary = RunSummary("t", 1, 1.0, AT, AT)
    bands = BandQueue(summary)
    arrivals: list[datetime] = []
    async with HeartRateBand(world.air, name="Band twice") as band:
        async with world.client(band) as client:
            await client.start_notify("2a37", lambda _c, _d: arrivals.append(datetime.now(UTC)))
            await perform(
                band_action(band.address, 75, copies=3), {band.address: band}, None, summary, bands
            )
            await bands.wait()
            await until(lambda: len(arrivals) == 3)  # the last notification's hops
    assert len({int(at.timestamp() * 1000) for at in arrivals}) == 3, arrivals
    assert summary.sent["R1/heart_rate"] == 3
