"""The gateway over the stack's real Mosquitto and Kafka: MQTT devices in, readings out.

The gateway runs as `carepulse gateway --config FILE` in a subprocess, with its own topic
prefix, state folder and MQTT client id, so each test run is isolated.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from carepulse.pseudonym import pseudonymise
from carepulse.settings import StackSettings
from tests.integration.kafka_json import consume_json

pytestmark = [pytest.mark.mosquitto, pytest.mark.kafka]

SECRET = "integration-station-secret-0123456789"
REGISTRY = """
[station]
id = "st-it"
timezone = "Asia/Shanghai"

[[devices]]
id = "wifi-scale-1"
kind = "scale"
transport = "mqtt"
resident = "R0042"

[[devices]]
id = "AA:BB:CC:00:11:22"
kind = "scale"
transport = "advert"
resident = "R0043"
"""


@dataclass
class GatewayRun:
    config: Path
    env: dict[str, str]
    prefix: str
    log: Path

    def topic(self, name: str) -> str:
        """The run's name of a pipeline topic."""
        return f"{self.prefix}{name}"

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "carepulse", "gateway", "--config", str(self.config)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )


@pytest.fixture
def gateway_run(
    mqtt: StackSettings, kafka: StackSettings, tmp_path: Path, unique: str
) -> GatewayRun:
    config = tmp_path / "station.toml"
    config.write_text(REGISTRY)
    prefix = f"test.gw.{unique}."
    env = dict(
        os.environ,
        CAREPULSE_TOPIC_PREFIX=prefix,
        CAREPULSE_STATION_SECRET=SECRET,
        CAREPULSE_GATEWAY_STATE_DIR=str(tmp_path / "state"),
        CAREPULSE_MQTT_CLIENT_ID=f"carepulse-test-{unique}",
        CAREPULSE_HEARTBEAT_INTERVAL_S="1",
        CAREPULSE_LOGLEVEL="INFO",
        CAREPULSE_BLE="none",
    )
    return GatewayRun(config, env, prefix, tmp_path / "gateway.log")


@contextmanager
def connected_publisher(
    mqtt: StackSettings, user: str | None = None, password: str | None = None
) -> Iterator[paho.Client]:
    """A connected client: the stack's test user, or ``user`` (a provisioned device)."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    if user is None:
        user, password = mqtt.mqtt_username, mqtt.mqtt_password.get_secret_value()
    client.username_pw_set(user, password)
    client.connect(mqtt.mqtt_host, mqtt.mqtt_port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def publisher(mqtt: StackSettings) -> Iterator[paho.Client]:
    with connected_publisher(mqtt) as client:
        yield client


def publish(client: paho.Client, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def weight(n: int) -> bytes:
    return json.dumps(
        {"weight_kg": 60.0 + n / 10, "timestamp": f"2026-11-27T08:{n // 60:02d}:{n % 60:02d}"}
    ).encode()


async def wait_for_subscription(run: GatewayRun, kafka: StackSettings) -> None:
    """The gateway is subscribed once its first heartbeat reached Kafka and MQTT is up."""
    beats = await consume_json(kafka.kafka_bootstrap, run.topic("heartbeats"), 1, 60)
    assert beats, run.log.read_text()
    await asyncio.sleep(1.0)  # the MQTT subscription is made right after the connection


async def test_wifi_scale_readings_reach_kafka_pseudonymised(
    gateway_run: GatewayRun, publisher: paho.Client, kafka: StackSettings
) -> None:
    """Readings published by a Wi-Fi scale arrive on readings with the resident's pseudonym."""
    gateway = gateway_run.start()
    try:
        await wait_for_subscription(gateway_run, kafka)
        for n in range(20):
            publish(publisher, "carepulse/devices/wifi-scale-1/weight_measurement", weight(n))
        observations = await consume_json(
            kafka.kafka_bootstrap, gateway_run.topic("readings"), 20, 60
        )
    finally:
        gateway.terminate()
        gateway.wait(30)
    assert len(observations) == 20, gateway_run.log.read_text()
    assert {o["subject_id"] for o in observations} == {pseudonymise("R0042", SECRET.encode())}
    assert sorted(o["values"]["weight_kg"] for o in observations) == [
        60.0 + n / 10 for n in range(20)
    ]
    assert all(o["source"] == "mqtt" and o["kind"] == "weight" for o in observations)
    assert b"R0042" not in json.dumps(observations).encode()


async def test_bad_input_is_dead_lettered_and_the_gateway_keeps_going(
    gateway_run: GatewayRun, publisher: paho.Client, kafka: StackSettings
) -> None:
    """Malformed JSON, unknown measurements and undecodable bytes are rejected with reasons."""
    gateway = gateway_run.start()
    try:
        await wait_for_subscription(gateway_run, kafka)
        publish(publisher, "carepulse/devices/wifi-scale-1/weight_measurement", b"{not json")
        publish(publisher, "carepulse/devices/wifi-scale-1/toaster_level", b"{}")
        publish(publisher, "carepulse/devices/wifi-scale-1/weight_measurement", b'{"hex": "01"}')
        publish(publisher, "carepulse/devices/wifi-scale-1/weight_measurement", b"x" * 70000)
        publish(publisher, "carepulse/devices/wifi-scale-1/weight_measurement", weight(1))
        rejected = await consume_json(
            kafka.kafka_bootstrap, gateway_run.topic("readings.rejected"), 4, 60
        )
        readings = await consume_json(kafka.kafka_bootstrap, gateway_run.topic("readings"), 1, 30)
        assert gateway.poll() is None
    finally:
        gateway.terminate()
        gateway.wait(30)
    reasons = sorted(r["reason"] for r in rejected)
    assert len(reasons) == 4, gateway_run.log.read_text()
    assert any("not valid JSON" in r for r in reasons)
    assert any("unknown measurement 'toaster_level'" in r for r in reasons)
    assert any("exceeds" in r for r in reasons)
    assert any(r.get("field") == "weight" for r in rejected)
    assert len(readings) == 1


async def test_proxy_advert_is_decoded_like_a_direct_one(
    gateway_run: GatewayRun, publisher: paho.Client, kafka: StackSettings
) -> None:
    """A Theengs-style BTtoMQTT advert of a Mi scale becomes a weight observation."""
    gateway = gateway_run.start()
    advert = {
        "id": "AA:BB:CC:00:11:22",
        "servicedatauuid": "0x181d",
        "servicedata": "223430e6070b1b080f00",  # stabilized, 61.7 kg, 2022-11-27 08:15:00
        "rssi": -70,
    }
    try:
        await wait_for_subscription(gateway_run, kafka)
        publish(publisher, "home/station-proxy/BTtoMQTT/AABBCC001122", json.dumps(advert).encode())
        readings = await consume_json(kafka.kafka_bootstrap, gateway_run.topic("readings"), 1, 60)
    finally:
        gateway.terminate()
        gateway.wait(30)
    assert len(readings) == 1, gateway_run.log.read_text()
    assert readings[0]["values"] == {"weight_kg": 61.7}
    assert readings[0]["subject_id"] == pseudonymise("R0043", SECRET.encode())


async def test_gateway_killed_with_sigkill_loses_no_mqtt_reading(
    gateway_run: GatewayRun, publisher: paho.Client, kafka: StackSettings
) -> None:
    """Readings published while the gateway was dead arrive after it restarts."""
    gateway = gateway_run.start()
    try:
        await wait_for_subscription(gateway_run, kafka)
        for n in range(10):
            publish(publisher, "carepulse/devices/wifi-scale-1/weight_measurement", weight(n))
        await consume_json(kafka.kafka_bootstrap, gateway_run.topic("readings"), 10, 60)
    finally:
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(30)
    for n in range(10, 30):
        publish(publisher, "carepulse/devices/wifi-scale-1/weight_measurement", weight(n))
    restarted = gateway_run.start()
    try:
        observations = await consume_json(
            kafka.kafka_bootstrap, gateway_run.topic("readings"), 30, 90
        )
    finally:
        restarted.terminate()
        restarted.wait(30)
    weights = {o["values"]["weight_kg"] for o in observations}
    assert weights == {60.0 + n / 10 for n in range(30)}, gateway_run.log.read_text()


STACK = Path(__file__).resolve().parents[2] / "scripts" / "stack"


async def test_gateway_over_tls_rides_out_a_broker_restart(
    gateway_run: GatewayRun, mqtt: StackSettings, kafka: StackSettings
) -> None:
    """Over the TLS listener, readings published before and after a Mosquitto restart arrive."""
    gateway_run.env["CAREPULSE_MQTT_TLS"] = "true"
    topic = "carepulse/devices/wifi-scale-1/weight_measurement"
    gateway = gateway_run.start()
    try:
        await wait_for_subscription(gateway_run, kafka)
        with connected_publisher(mqtt) as publisher:
            for n in range(5):
                publish(publisher, topic, weight(n))
        await consume_json(kafka.kafka_bootstrap, gateway_run.topic("readings"), 5, 60)
        subprocess.run(["bash", str(STACK), "down", "mosquitto"], check=True)
        subprocess.run(["bash", str(STACK), "up", "mosquitto"], check=True)
        await asyncio.sleep(3)  # paho's first reconnect attempt is one second after the loss
        with connected_publisher(mqtt) as publisher:
            for n in range(5, 10):
                publish(publisher, topic, weight(n))
        observations = await consume_json(
            kafka.kafka_bootstrap, gateway_run.topic("readings"), 10, 60
        )
    finally:
        gateway.terminate()
        gateway.wait(30)
    log = gateway_run.log.read_text()
    assert {o["values"]["weight_kg"] for o in observations} == {60.0 + n / 10 for n in range(10)}, (
        log
    )
    assert "lost the broker" in log
    assert "reconnected" in log
