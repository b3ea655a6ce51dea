"""Which MQTT user publishes which simulated message, and which users a run provisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from simulators.errors import NoLoginError, NoTopicUserError
from simulators.mqtt_devices import BrokerSettings, MqttDevices, MqttLogins, provision_mqtt_logins
from simulators.scenario import PROXY_BASE, PROXY_NAME, Link, load_scenario, plan, topic_user

SCENARIOS = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"
START = datetime(2026, 11, 20, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("carepulse/devices/wifi-scale-001/weight_measurement", ("device", "wifi-scale-001")),
        ("carepulse/devices/x/a/b", ("device", "x")),
        ("sim/station-proxy/BTtoMQTT/C47C8D6A1234", ("proxy", "station-proxy")),
        ("home/other-proxy/BTtoMQTT/AABB", ("proxy", "other-proxy")),
    ],
)
def test_a_topic_belongs_to_the_user_the_acl_lets_publish_on_it(
    topic: str, expected: tuple[str, str]
) -> None:
    """A device topic is its device's, an advert topic its proxy's (docs/security.md)."""
    assert topic_user(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "carepulse/devices//weight_measurement",
        "carepulse/devices/x",
        "sim//BTtoMQTT/AABB",
        "carepulse/alerts/x/y",
        "",
    ],
)
def test_a_topic_no_user_may_publish_on_is_refused_by_name(topic: str) -> None:
    """A topic outside the ACL's shapes raises NoTopicUserError naming the topic."""
    with pytest.raises(NoTopicUserError) as caught:
        topic_user(topic)
    assert caught.value.topic == topic
    assert "carepulse/devices/<id>/<measurement>" in str(caught.value)


def test_the_default_plan_needs_every_mqtt_device_and_the_proxy_as_users() -> None:
    """Every Wi-Fi device that sends is a device user, the proxy a proxy user."""
    planned = plan(load_scenario(SCENARIOS / "default.toml"), start=START)
    users = planned.mqtt_users()
    wifi = {d.id for r in planned.scenario.residents for d in r.devices if d.link is Link.MQTT}
    sending = {a.device_id for a in planned.actions if a.link is Link.MQTT and a.topic}
    assert set(users["device"]) == sending
    assert sending <= wifi
    assert users["proxy"] == (PROXY_NAME,)
    assert planned.gateway_user == "gateway-st-sim-001"
    topics = {a.topic for a in planned.actions if a.topic}
    assert any(t.startswith(f"{PROXY_BASE}/{PROXY_NAME}/") for t in topics)


def test_a_plan_without_mqtt_devices_needs_no_device_users() -> None:
    """The AF scenario is all BLE: no device or proxy user."""
    planned = plan(load_scenario(SCENARIOS / "af-episode.toml"), start=START)
    assert planned.mqtt_users() == {"device": (), "proxy": ()}


def test_provisioning_asks_for_each_role_once_and_keeps_every_password() -> None:
    """Devices, the proxy and the gateway are added with their roles; logins hold them all."""
    planned = plan(load_scenario(SCENARIOS / "default.toml"), start=START)
    calls: list[tuple[str, tuple[str, ...]]] = []

    def add(role: str, names: Sequence[str]) -> dict[str, str]:
        calls.append((role, tuple(names)))
        return {name: f"pw-{name}" for name in names}

    logins = provision_mqtt_logins(planned, add)
    users = planned.mqtt_users()
    assert calls == [
        ("device", users["device"]),
        ("proxy", users["proxy"]),
        ("gateway", ("gateway-st-sim-001",)),
    ]
    assert logins.gateway_user == "gateway-st-sim-001"
    assert logins.gateway_password == "pw-gateway-st-sim-001"
    assert set(logins.devices) == {*users["device"], *users["proxy"]}
    assert all(password == f"pw-{user}" for user, password in logins.devices.items())


async def test_a_message_for_a_user_without_a_login_is_refused_before_connecting() -> None:
    """Publishing on a topic whose owner has no login raises NoLoginError (no broker needed:
    the devices are not entered, so nothing connects)."""
    devices = MqttDevices(BrokerSettings(), MqttLogins("gw", "pw", {}))
    with pytest.raises(NoLoginError) as caught:
        await devices.publish("carepulse/devices/wifi-scale-009/weight_measurement", b"{}")
    assert caught.value.user == "wifi-scale-009"
