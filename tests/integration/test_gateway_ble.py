"""The whole gateway on virtual BLE devices and the stack's real Kafka.

Virtual devices (Bumble) and the gateway share one process and one virtual air; the
gateway's BLE source gets its bleak objects from the Bumble backend and otherwise runs
exactly as on a station.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner

from carepulse.observation import Source
from carepulse.pseudonym import pseudonymise
from carepulse.settings import StackSettings
from edge.config import GatewaySettings
from edge.decoders import BloodPressureMeasurement, DateTime, HeartRateMeasurement
from edge.gateway import BleBackend, run_gateway
from simulators.ble import BloodPressureMonitor, HeartRateBand, VirtualAir
from simulators.bleak_bumble import BumbleBackend
from tests.integration.kafka_json import consume_json

pytestmark = pytest.mark.kafka

SECRET = "ble-integration-secret-0123456789"


async def test_virtual_devices_reach_kafka_through_the_gateway(
    kafka: StackSettings, tmp_path: Path, unique: str
) -> None:
    """A BP meter's stored readings and a band's heart rate arrive on readings, pseudonymised."""
    air = VirtualAir(advertising_interval_ms=10)
    bumble = BumbleBackend(air)
    backend = BleBackend(
        scanner_factory=lambda callback: BleakScanner(callback, backend=bumble.scanner_class),
        client_factory=lambda device, gone: BleakClient(
            device, disconnected_callback=gone, backend=bumble.client_class
        ),
        source=Source.SIM,
    )
    prefix = f"test.ble.{unique}."
    settings = GatewaySettings.load(
        topic_prefix=prefix,
        station_secret=SECRET,
        gateway_state_dir=tmp_path / "state",
        mqtt_enabled=False,
        heartbeat_interval_s=0.5,
    )
    async with (
        BloodPressureMonitor(air, name="BP") as meter,
        HeartRateBand(air, name="Band") as band,
    ):
        meter.store(
            BloodPressureMeasurement(182.0, 112.0, 135.0, timestamp=DateTime(2026, 11, 27, 7, 30)),
            BloodPressureMeasurement(136.0, 86.0, 103.0, timestamp=DateTime(2026, 11, 27, 7, 35)),
        )
        await band.set_battery(15)
        config = tmp_path / "station.toml"
        config.write_text(
            '[station]\nid = "st-sim"\n'
            f'[[devices]]\nid = "{meter.address}"\nkind = "bp_meter"\ntransport = "ble"\n'
            'resident = "R0042"\n'
            f'[[devices]]\nid = "{band.address}"\nkind = "hr_band"\ntransport = "ble"\n'
            'resident = "R0043"\n'
        )
        gateway = asyncio.create_task(run_gateway(settings, config, ble=backend))
        try:
            async with asyncio.timeout(10):
                while not band.connected:
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            for bpm in (118, 121):
                await band.notify_heart_rate(HeartRateMeasurement(bpm, True))
            readings = await consume_json(kafka.kafka_bootstrap, f"{prefix}readings", 4, 30)
            beats = await consume_json(kafka.kafka_bootstrap, f"{prefix}heartbeats", 6, 10)
        finally:
            gateway.cancel()
            await asyncio.gather(gateway, return_exceptions=True)

    by_kind = {k: [r for r in readings if r["kind"] == k] for k in ("blood_pressure", "heart_rate")}
    assert sorted(r["values"]["systolic_mmhg"] for r in by_kind["blood_pressure"]) == [136.0, 182.0]
    assert [r["values"]["heart_rate_bpm"] for r in by_kind["heart_rate"]] == [118, 121]
    assert {r["subject_id"] for r in by_kind["blood_pressure"]} == {
        pseudonymise("R0042", SECRET.encode())
    }
    assert {r["source"] for r in readings} == {"sim"}
    band_beats = [b for b in beats if b["subject"] == f"device/{band.address}"]
    assert band_beats
    assert band_beats[-1]["battery_percent"] == 15
