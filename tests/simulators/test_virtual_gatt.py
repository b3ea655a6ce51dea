"""Virtual GATT devices through real bleak clients: services, reads, writes, indications."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bleak.exc import BleakGATTProtocolError

from edge.decoders import (
    BatteryLevel,
    BloodPressureMeasurement,
    BodyCompositionMeasurement,
    CurrentTime,
    DateTime,
    PLXContinuousMeasurement,
    PLXSpotCheckMeasurement,
    TemperatureMeasurement,
    WeightMeasurement,
    WeightScaleFeature,
    decode,
)
from simulators.ble import (
    BloodPressureMonitor,
    BodyCompositionScale,
    DeviceClock,
    DeviceInfo,
    GlucoseMeter,
    HeartRateBand,
    PulseOximeter,
    Thermometer,
    WeightScale,
)
from tests.simulators.conftest import Inbox, World

STAMP = DateTime(2026, 5, 1, 7, 30, 0)


def _properties(client_services: object, uuid: str) -> list[str]:
    char = client_services.get_characteristic(uuid)  # type: ignore[attr-defined]  # BleakGATTServiceCollection
    assert char is not None, uuid
    return list(char.properties)


@pytest.mark.parametrize(
    ("device_class", "expected"),
    [
        (HeartRateBand, {"2a37": ["notify"], "2a38": ["read"], "2a39": ["write"]}),
        (BloodPressureMonitor, {"2a35": ["indicate"], "2a36": ["notify"], "2a49": ["read"]}),
        (WeightScale, {"2a9e": ["read"], "2a9d": ["indicate"]}),
        (BodyCompositionScale, {"2a9d": ["indicate"], "2a9b": ["read"], "2a9c": ["indicate"]}),
        (PulseOximeter, {"2a5e": ["indicate"], "2a5f": ["notify"], "2a60": ["read"]}),
        (Thermometer, {"2a1c": ["indicate"], "2a1d": ["read"], "2a1e": ["notify"]}),
        (
            GlucoseMeter,
            {
                "2a18": ["notify"],
                "2a34": ["notify"],
                "2a51": ["read"],
                "2a52": ["write", "indicate"],
            },
        ),
    ],
)
async def test_service_discovery_gives_the_standard_characteristics_and_properties(
    world: World, device_class: type[HeartRateBand], expected: dict[str, list[str]]
) -> None:
    """Each device type exposes its health service and DIS, Battery and CTS with SIG properties."""
    async with device_class(world.air) as device, world.client(device) as client:
        services = {service.uuid[4:8] for service in client.services}
        assert {"180a", "180f", "1805"} <= services
        for uuid, properties in expected.items():
            assert _properties(client.services, uuid) == properties
        assert _properties(client.services, "2a19") == ["read", "notify"]
        assert _properties(client.services, "2a2b") == ["read", "write", "notify"]
        for char in client.services.characteristics.values():
            if {"notify", "indicate"} & set(char.properties):
                assert char.get_descriptor("00002902-0000-1000-8000-00805f9b34fb") is not None


async def test_battery_and_device_information_are_readable(world: World) -> None:
    """Battery level and the Device Information strings read as configured."""
    info = DeviceInfo(manufacturer="Acme", model="BP-7", serial="SN123", firmware="2.1.0")
    async with BloodPressureMonitor(world.air, info=info, battery_level=64) as bp:
        async with world.client(bp) as client:
            assert decode("2A19", await client.read_gatt_char("2a19")) == BatteryLevel(64)
            assert await client.read_gatt_char("2a29") == b"Acme"
            assert await client.read_gatt_char("2a24") == b"BP-7"
            assert await client.read_gatt_char("2a25") == b"SN123"
            assert await client.read_gatt_char("2a26") == b"2.1.0"
            assert client.name == bp.name
            assert client.mtu_size == 247


async def test_writing_current_time_sets_the_device_clock(world: World) -> None:
    """A Current Time write sets the device clock, and reads follow the new time."""
    true_now = datetime(2026, 5, 1, 12, 0, 0)
    clock = DeviceClock(lambda: true_now, offset=timedelta(days=-400))
    async with HeartRateBand(world.air, clock=clock) as band, world.client(band) as client:
        before = decode("2A2B", await client.read_gatt_char("2a2b"))
        assert isinstance(before, CurrentTime)
        assert before.date_time == DateTime.from_datetime(true_now - timedelta(days=400))
        await client.write_gatt_char(
            "2a2b", bytes(CurrentTime.from_datetime(true_now)), response=True
        )
        assert band.clock.offset == timedelta(0)
        after = decode("2A2B", await client.read_gatt_char("2a2b"))
        assert isinstance(after, CurrentTime)
        assert after.date_time == DateTime.from_datetime(true_now)


async def test_read_only_values_refuse_writes_with_the_att_error(world: World) -> None:
    """A write to a read-only value answers Write Not Permitted; a bad control point, 0x80."""
    async with HeartRateBand(world.air) as band, world.client(band) as client:
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.write_gatt_char("2a38", b"\x01", response=True)
        assert refused.value.code == 0x03
        with pytest.raises(BleakGATTProtocolError) as unsupported:
            await client.write_gatt_char("2a39", b"\x07", response=True)
        assert unsupported.value.code == 0x80
        await client.write_gatt_char("2a39", b"\x01", response=True)
        assert band.energy_resets == 1
        with pytest.raises(BleakGATTProtocolError) as unreadable:
            await client.read_gatt_char("2a37")
        assert unreadable.value.code == 0x02


async def test_blood_pressure_stored_records_arrive_as_indications(world: World) -> None:
    """Stored BP readings are indicated oldest first when the gateway subscribes, then forgotten."""
    readings = [
        BloodPressureMeasurement(138.0, 88.0, 105.0, timestamp=STAMP, pulse_rate=72.0, user_id=1),
        BloodPressureMeasurement(121.0, 79.0, 93.0, timestamp=STAMP, pulse_rate=64.0, user_id=2),
    ]
    inbox = Inbox()
    async with BloodPressureMonitor(world.air) as bp:
        bp.store(*readings)
        async with world.client(bp) as client:
            await client.start_notify("2a35", inbox)
            assert [decode("2A35", p) for p in await inbox.take(2)] == readings
            assert await bp.records.delivered() is True
            assert bp.records.pending == ()
            later = BloodPressureMeasurement(180.0, 110.0, 133.0, timestamp=STAMP)
            assert await bp.measure(later) is True
            assert [decode("2A35", p) for p in await inbox.take()] == [later]


async def test_scales_indicate_weight_and_body_composition_per_user(world: World) -> None:
    """A multi-user scale announces its features and indicates each user's readings."""
    weights = [
        WeightMeasurement(82.5, timestamp=STAMP, user_id=1, bmi=27.1, height=1.745),
        WeightMeasurement(61.25, timestamp=STAMP, user_id=2),
    ]
    body = BodyCompositionMeasurement(
        24.5, timestamp=STAMP, user_id=1, impedance=512.3, weight=82.5
    )
    weight_inbox, body_inbox = Inbox(), Inbox()
    async with BodyCompositionScale(world.air) as scale:
        scale.store(*weights)
        scale.store_body_composition(body)
        async with world.client(scale) as client:
            feature = decode("2A9E", await client.read_gatt_char("2a9e"))
            assert isinstance(feature, WeightScaleFeature)
            assert feature.multiple_users_supported
            await client.start_notify("2a9d", weight_inbox)
            await client.start_notify("2a9c", body_inbox)
            assert [decode("2A9D", p) for p in await weight_inbox.take(2)] == weights
            assert [decode("2A9C", p) for p in await body_inbox.take()] == [body]


async def test_thermometer_and_oximeter_send_their_measurements(world: World) -> None:
    """Thermometer and oximeter spot-check indications and continuous notifications decode."""
    temperature = TemperatureMeasurement(38.4, timestamp=STAMP, temperature_type=3)
    spot = PLXSpotCheckMeasurement(91.0, 88.0, timestamp=STAMP)
    stream = PLXContinuousMeasurement(97.0, 64.0)
    async with Thermometer(world.air) as thermometer, world.client(thermometer) as client:
        assert await client.read_gatt_char("2a1d") == b"\x03"
        inbox = Inbox()
        await client.start_notify("2a1c", inbox)
        assert await thermometer.measure(temperature)
        assert [decode("2A1C", p) for p in await inbox.take()] == [temperature]
    async with PulseOximeter(world.air) as oximeter, world.client(oximeter) as client:
        spots, continuous = Inbox(), Inbox()
        await client.start_notify("2a5e", spots)
        await client.start_notify("2a5f", continuous)
        assert await oximeter.measure(spot)
        assert await oximeter.notify_continuous(stream) == 1
        assert [decode("2A5E", p) for p in await spots.take()] == [spot]
        assert [decode("2A5F", p) for p in await continuous.take()] == [stream]


async def test_pairing_before_connect_encrypts_the_link(world: World) -> None:
    """``BleakClient(pair=True)`` pairs (Just Works) and the device sees an encrypted link."""
    async with HeartRateBand(world.air) as band, world.client(band, pair=True) as client:
        assert client.is_connected
        assert decode("2A19", await client.read_gatt_char("2a19")) == BatteryLevel(100)
        radio = band._radio
        assert radio is not None
        assert all(c.is_encrypted for c in radio.connections.values())
