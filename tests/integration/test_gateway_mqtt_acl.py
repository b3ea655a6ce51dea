"""The gateway under the ACL: a read-only gateway user, devices with their own logins.

Both devices belong to one resident, so their readings share a Kafka key and partition
and arrive in the order the gateway took them: when the genuine reading published after
the forbidden one is the first to arrive, the forbidden one never became a reading.
"""

from __future__ import annotations

import json

import pytest

from carepulse.settings import StackSettings
from tests.integration.kafka_json import consume_json
from tests.integration.test_gateway_mqtt import (  # the subprocess gateway's harness
    GatewayRun,
    connected_publisher,
    gateway_run,
    publish,
    wait_for_subscription,
)
from tests.integration.test_mosquitto_acl import Provision, provision

pytestmark = [pytest.mark.mosquitto, pytest.mark.kafka]
__all__ = ["gateway_run", "provision"]


async def test_the_gateway_reads_devices_as_a_read_only_user(
    gateway_run: GatewayRun,
    mqtt: StackSettings,
    kafka: StackSettings,
    provision: Provision,
    unique: str,
) -> None:
    """With a gateway login and device logins, only a device's own readings get through."""
    scale, meter, gateway_user = f"scale-{unique}", f"bp-{unique}", f"gw-{unique}"
    gateway_run.config.write_text(
        '[station]\nid = "st-it"\ntimezone = "Asia/Shanghai"\n'
        + "".join(
            f'\n[[devices]]\nid = "{d}"\nkind = "{k}"\ntransport = "mqtt"\nresident = "R0042"\n'
            for d, k in ((scale, "scale"), (meter, "bp_meter"))
        )
    )
    gateway_run.env.update(
        CAREPULSE_MQTT_USERNAME=gateway_user,
        CAREPULSE_MQTT_PASSWORD=provision("gateway", gateway_user),
    )
    scale_password = provision("device", scale)
    provision("device", meter)
    process = gateway_run.start()
    try:
        await wait_for_subscription(gateway_run, kafka)
        with connected_publisher(mqtt, scale, scale_password) as client:
            forged = json.dumps({"systolic_mmhg": 190.0, "diastolic_mmhg": 120.0}).encode()
            publish(client, f"carepulse/devices/{meter}/blood_pressure_measurement", forged)
            publish(client, f"carepulse/devices/{scale}/weight_measurement", b'{"weight_kg": 61.5}')
        readings = await consume_json(kafka.kafka_bootstrap, gateway_run.topic("readings"), 1, 60)
    finally:
        process.terminate()
        process.wait(30)
    assert readings, gateway_run.log.read_text()
    assert (readings[0]["device_id"], readings[0]["values"]) == (scale, {"weight_kg": 61.5})
    assert "refused" not in gateway_run.log.read_text()
