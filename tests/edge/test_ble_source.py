"""The gateway's BLE source on the Bumble virtual air: the same bleak code as on BlueZ.

Virtual devices from `simulators.ble` speak real GATT over Bumble's virtual link; the
source gets real `BleakScanner`/`BleakClient` objects from the `simulators.bleak_bumble`
backend, exactly as it gets BlueZ ones on a station.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from bleak import BleakClient, BleakScanner

from edge.backoff import Backoff
from edge.ble import BleSource
from edge.decoders import (
    BloodPressureMeasurement,
    BodyCompositionMeasurement,
    DateTime,
    GlucoseMeasurement,
    HeartRateMeasurement,
    MiScale,
    PLXSpotCheckMeasurement,
    TemperatureMeasurement,
    WeightMeasurement,
    decode,
)
from edge.registry import load_registry
from simulators.ble import (
    BloodPressureMonitor,
    BodyCompositionScale,
    GlucoseMeter,
    HeartRateBand,
    MiScaleAdvertiser,
    PulseOximeter,
    Thermometer,
    VirtualAir,
    WeightScale,
)
from simulators.bleak_bumble import BumbleBackend
from simulators.faults import Faults

STAMP = DateTime(2026, 11, 27, 7, 30, 0)


@dataclass
class Sink:
    """Collects what the source delivers, like the gateway would."""

    payloads: list[tuple[str, str, bytes]] = field(default_factory=list)
    batteries: dict[str, int] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def payload(self, device_id: str, name: str, payload: bytes, received_at: datetime) -> None:
        self.payloads.append((device_id, name, payload))
        self.arrived.set()

    def battery(self, device_id: str, percent: int) -> None:
        self.batteries[device_id] = percent

    def of(self, name: str) -> list[bytes]:
        return [p for _, n, p in self.payloads if n == name]

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.arrived.clear()
                await self.arrived.wait()


def registry_for(pairing: bool = False, **devices: tuple[str, str, str]) -> str:
    """A registry text: name -> (address, kind, transport), each its own resident."""
    lines = ['[station]\nid = "st-sim"\n']
    for n, (address, kind, transport) in enumerate(devices.values()):
        lines.append(
            f'[[devices]]\nid = "{address}"\nkind = "{kind}"\n'
            f'transport = "{transport}"\nresident = "R{n}"\npairing = {str(pairing).lower()}\n'
        )
    return "\n".join(lines)


@asynccontextmanager
async def running_source(
    air: VirtualAir, registry_text: str, sink: Sink, scanner_watchdog_s: float = 60.0
) -> AsyncIterator[BleSource]:
    backend = BumbleBackend(air)
    source = BleSource(
        load_registry(registry_text),
        sink,
        scanner_factory=lambda callback: BleakScanner(callback, backend=backend.scanner_class),
        client_factory=lambda device, gone: BleakClient(
            device, disconnected_callback=gone, backend=backend.client_class
        ),
        backoff=Backoff(base_s=0.05, cap_s=0.2),
        scanner_watchdog_s=scanner_watchdog_s,
    )
    task = asyncio.create_task(source.run())
    try:
        yield source
    finally:
        task.cancel()
        # A stuck source must fail the test, not hang the suite.
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, "the BLE source did not stop within 10 s of being cancelled"


async def test_band_notifications_and_battery_reach_the_sink() -> None:
    """The source connects to a registered band, subscribes, and reads its battery."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    async with HeartRateBand(air, name="Band") as band:
        await band.set_battery(64)
        text = registry_for(band=(band.address, "hr_band", "ble"))
        async with running_source(air, text, sink):
            async with asyncio.timeout(5):
                while not band.connected:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # subscriptions are made right after connecting
            for bpm in (71, 72, 73):
                await band.notify_heart_rate(HeartRateMeasurement(bpm, True, rr_intervals=(0.8,)))
            await sink.until(lambda: len(sink.of("heart_rate_measurement")) == 3)
    assert [
        decode("2A37", p).as_dict()["heart_rate_bpm"] for p in sink.of("heart_rate_measurement")
    ] == [71, 72, 73]
    assert sink.batteries == {band.address: 64}
    assert {d for d, _, _ in sink.payloads} == {band.address}


async def test_a_connected_band_reports_a_new_battery_level() -> None:
    """A band that stays connected is charged: the source hears the level it notifies."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    async with HeartRateBand(air, name="Band", battery_level=3) as band:
        text = registry_for(band=(band.address, "hr_band", "ble"))
        async with running_source(air, text, sink):
            async with asyncio.timeout(5):
                while sink.batteries.get(band.address) != 3:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # subscriptions are made right after the battery read
            await band.set_battery(100)
            async with asyncio.timeout(5):
                while sink.batteries.get(band.address) != 100:
                    await asyncio.sleep(0.01)
            assert band.connected  # the same link: no reconnect read it


async def test_stored_blood_pressure_records_arrive_after_connecting() -> None:
    """A BP meter that needs pairing is paired, then indicates the readings it stored."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    readings = [
        BloodPressureMeasurement(138.0, 88.0, 105.0, timestamp=STAMP),
        BloodPressureMeasurement(182.0, 112.0, 135.0, timestamp=DateTime(2026, 11, 27, 7, 35, 0)),
    ]
    async with BloodPressureMonitor(air, name="BP") as meter:
        meter.store(*readings)
        text = registry_for(pairing=True, bp=(meter.address, "bp_meter", "ble"))
        async with running_source(air, text, sink) as source:
            await sink.until(lambda: len(sink.of("blood_pressure_measurement")) == 2)
            assert next(iter(source._gatt.values())).paired  # pairing=true honoured
    assert [decode("2A35", p) for p in sink.of("blood_pressure_measurement")] == readings


async def test_glucose_records_are_pulled_through_the_control_point() -> None:
    """The source asks a glucose meter's RACP for every stored record."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    stored = [
        GlucoseMeasurement(1, STAMP, concentration=0.0055, type=1, sample_location=1),
        GlucoseMeasurement(
            2, DateTime(2026, 11, 27, 12, 0), concentration=0.0031, type=1, sample_location=1
        ),
    ]
    async with GlucoseMeter(air, name="Glucose") as meter:
        for record in stored:
            meter.store(record)
        text = registry_for(meter=(meter.address, "glucose_meter", "ble"))
        async with running_source(air, text, sink):
            await sink.until(lambda: len(sink.of("glucose_measurement")) == 2)
    got = [decode("2A18", p) for p in sink.of("glucose_measurement")]
    assert all(isinstance(g, GlucoseMeasurement) for g in got)
    # Compared without the times: the gateway set the meter's clock before the pull.
    assert [(g.sequence_number, g.concentration) for g in got] == [  # type: ignore[attr-defined]
        (r.sequence_number, r.concentration) for r in stored
    ]


async def test_scale_adverts_are_heard_without_connecting() -> None:
    """A registered Mi scale's adverts are delivered as mi_scale payloads."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    reading = MiScale(0x22, 61.7, STAMP)
    async with MiScaleAdvertiser(air, name="MI SCALE2") as scale:
        text = registry_for(scale=(scale.address, "scale", "advert"))
        async with running_source(air, text, sink):
            await scale.advertise_weight(reading)
            await sink.until(lambda: bool(sink.of("mi_scale")))
    assert decode("mi_scale", sink.of("mi_scale")[0]) == reading


async def test_unregistered_devices_are_not_connected() -> None:
    """A band that is not in the registry is left alone."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    async with (
        HeartRateBand(air, name="Neighbour") as stranger,
        HeartRateBand(air, name="Ours") as ours,
    ):
        text = registry_for(band=(ours.address, "hr_band", "ble"))
        async with running_source(air, text, sink) as source:
            async with asyncio.timeout(5):
                while not ours.connected:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            assert not stranger.connected
            assert source.adverts > 0


async def test_device_that_drops_the_link_is_reconnected() -> None:
    """After a disconnect mid-stream the source reconnects and readings flow again."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    async with HeartRateBand(air, name="Band") as band:
        await band.set_faults(Faults(disconnect_after=2))
        async with running_source(air, registry_for(band=(band.address, "hr_band", "ble")), sink):
            for round_ in range(2):
                async with asyncio.timeout(5):
                    while not band.connected:
                        await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)
                for bpm in (60 + 2 * round_, 61 + 2 * round_):
                    await band.notify_heart_rate(HeartRateMeasurement(bpm))
                async with asyncio.timeout(5):
                    while band.connected:
                        await asyncio.sleep(0.01)
            await sink.until(lambda: len(sink.of("heart_rate_measurement")) == 4)
    assert sorted(
        decode("2A37", p).as_dict()["heart_rate_bpm"] for p in sink.of("heart_rate_measurement")
    ) == [60, 61, 62, 63]


async def test_device_refusing_connections_is_retried_with_backoff() -> None:
    """A device that refuses the connection is retried until it accepts."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    async with HeartRateBand(air, name="Band") as band:
        await band.set_faults(Faults(refuse_connections=True))
        async with running_source(
            air, registry_for(band=(band.address, "hr_band", "ble")), sink
        ) as source:
            state = next(iter(source._gatt.values()))  # observing retries
            async with asyncio.timeout(10):
                while state.failures < 2:
                    await asyncio.sleep(0.01)
            assert not band.connected
            await band.set_faults(Faults())
            async with asyncio.timeout(5):
                while not band.connected:
                    await asyncio.sleep(0.01)


async def test_two_packet_body_composition_is_delivered_as_one_reading() -> None:
    """The two packets of a multiple-packet body-composition reading reach the sink merged."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    first = BodyCompositionMeasurement(
        22.5, timestamp=STAMP, user_id=1, impedance=480.0, multiple_packet=True
    )
    second = BodyCompositionMeasurement(22.5, weight=70.4, height=1.7, multiple_packet=True)
    async with BodyCompositionScale(air, name="Body") as scale:
        scale.store_body_composition(first, second)
        text = registry_for(scale=(scale.address, "body_scale", "ble"))
        async with running_source(air, text, sink):
            await sink.until(lambda: bool(sink.of("body_composition_measurement")))
            await asyncio.sleep(0.1)
    (merged,) = sink.of("body_composition_measurement")
    fields = decode("2A9C", merged).as_dict()
    assert fields["multiple_packet"] is False
    assert (fields["impedance_ohm"], fields["weight_kg"], fields["body_fat_percent"]) == (
        480.0,
        70.4,
        22.5,
    )


async def test_stored_records_of_every_indicating_device_type_arrive() -> None:
    """Weight scale, thermometer and oximeter records reach the gateway's sink, as sent."""
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    weight = WeightMeasurement(70.5, timestamp=STAMP, user_id=1)
    temperature = TemperatureMeasurement(38.4, timestamp=STAMP, temperature_type=3)
    spot = PLXSpotCheckMeasurement(91.0, 88.0, timestamp=STAMP)
    async with (
        WeightScale(air, name="Scale") as scale,
        Thermometer(air, name="Thermo") as thermometer,
        PulseOximeter(air, name="Oxi") as oximeter,
    ):
        scale.store(weight)
        thermometer.store(temperature)
        oximeter.store(spot)
        text = registry_for(
            scale=(scale.address, "scale", "ble"),
            thermo=(thermometer.address, "thermometer", "ble"),
            oxi=(oximeter.address, "oximeter", "ble"),
        )
        async with running_source(air, text, sink):
            await sink.until(
                lambda: all(
                    sink.of(name)
                    for name in (
                        "weight_measurement",
                        "temperature_measurement",
                        "plx_spot_check_measurement",
                    )
                )
            )
    assert decode("2A9D", sink.of("weight_measurement")[0]) == weight
    assert decode("2A1C", sink.of("temperature_measurement")[0]) == temperature
    assert decode("2A5E", sink.of("plx_spot_check_measurement")[0]) == spot


async def until_true(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_the_scanner_watchdog_waits_for_a_device_that_should_advertise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With every GATT device connected (nothing advertises) the scanner is neither
    restarted nor warned about, through five watchdog limits; once the band is gone and
    silent it is restarted, with one warning, and its return is logged once."""
    caplog.set_level(logging.DEBUG, logger="edge.ble")
    limit = 0.2
    air = VirtualAir(advertising_interval_ms=10)
    sink = Sink()
    async with HeartRateBand(air, name="Band") as band:
        text = registry_for(band=(band.address, "hr_band", "ble"))
        async with running_source(air, text, sink, scanner_watchdog_s=limit) as source:
            await until_true(lambda: not source.adverts_expected())  # its session is up
            await asyncio.sleep(5 * limit)
            assert band.connected
            assert source.scanner_restarts == 0
            assert "restarting the scanner" not in caplog.text
            # Gone: no advert, and no connection either (the source may retry without one).
            await band.set_faults(Faults(silent=True, refuse_connections=True))
            await band.drop_connections()
            await until_true(lambda: source.scanner_restarts >= 2)
            assert source.adverts_expected()
            restarts = [r for r in caplog.records if "restarting the scanner" in r.message]
            assert [r.levelno for r in restarts[:2]] == [logging.WARNING, logging.DEBUG]
            await band.set_faults(Faults())
            await until_true(lambda: not source.adverts_expected())
            # Its return (an advert, or a reconnection on a retry) is logged once.
            await until_true(lambda: "again after" in caplog.text)
            back = [r for r in caplog.records if "again after" in r.message]
            assert [r.levelno for r in back] == [logging.INFO]
