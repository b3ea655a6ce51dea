"""A focused scenario through the in-process gateway into the stack's real Kafka.

Virtual BLE devices (Bumble) and MQTT devices (Mosquitto) send what the planner planned;
the observations and dead letters on Kafka must match the ground truth's counts.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from carepulse.settings import StackSettings
from simulators.mqtt_devices import broker_settings_from, provision_mqtt_logins
from simulators.runner import anchor_start, gateway_settings, run_scenario
from simulators.scenario import load_scenario, plan
from simulators.truth import ground_truth
from tests.integration.kafka_json import consume_json

pytestmark = [pytest.mark.kafka, pytest.mark.mosquitto]

SCENARIOS = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"


async def test_bad_input_scenario_reaches_kafka_as_the_truth_says(
    kafka: StackSettings, mqtt: StackSettings, tmp_path: Path, unique: str
) -> None:
    """Observations per resident and kind, dead letters and clock flags match the truth,
    with each MQTT device and the gateway logged in as their own users under the ACL."""
    scenario = load_scenario(SCENARIOS / "bad-input.toml")
    speed = 86400 / 8  # one simulated day in 8 s
    start = anchor_start(scenario, scenario.days, speed, datetime.now(UTC))
    planned = plan(scenario, start=start)
    truth = ground_truth(planned)
    prefix = f"test.sim.{unique}."
    logins = provision_mqtt_logins(planned)
    settings = gateway_settings(
        planned,
        tmp_path,
        topic_prefix=prefix,
        logins=logins,
        mqtt_client_id=f"carepulse-sim-{unique}",
    )
    assert settings.mqtt_username == "gateway-st-sim-bad"
    broker = broker_settings_from(mqtt, f"carepulse-sim-devices-{unique}")
    summary = await run_scenario(
        planned, speed=speed, broker=broker, gateway=settings, state_dir=tmp_path, logins=logins
    )
    assert summary.undelivered == 0
    assert summary.drained
    expected = truth.counts.total_observations()
    readings = await consume_json(kafka.kafka_bootstrap, f"{prefix}readings", expected, 30)
    rejected_total = sum(truth.counts.rejected_gateway.values())
    rejected = await consume_json(
        kafka.kafka_bootstrap, f"{prefix}readings.rejected", rejected_total, 15
    )
    names = {scenario.pseudonym(r.id): r.id for r in scenario.residents}
    got = Counter(f"{names[o['subject_id']]}/{o['kind']}" for o in readings)
    # The stream, not the gateway, rejects implausible values: they are on readings too.
    want = Counter(truth.counts.observations)
    for device, count in truth.counts.rejected_stream.items():
        resident = next(r for r in scenario.residents if any(d.id == device for d in r.devices))
        kind = {"oximeter": "spo2"}[next(d.kind.value for d in resident.devices if d.id == device)]
        want[f"{resident.id}/{kind}"] += count
    assert got == want
    assert len(rejected) == rejected_total
    suspect = sum(bool(o["flags"].get("device_clock_suspect")) for o in readings)
    assert suspect == truth.counts.clock_suspect
