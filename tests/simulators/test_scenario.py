"""Scenario files, the planner and its outputs (registry, residents file, wire payloads)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from carepulse.pseudonym import pseudonymise
from edge import mqtt_formats
from edge.decoders import DecodeError, decode
from edge.registry import load_registry
from simulators.scenario import (
    DeviceKind,
    EventType,
    Link,
    Op,
    ScenarioError,
    load_scenario,
    parse_scenario,
    plan,
)
from stream.residents import parse_residents
from stream.rules import default_rules

SCENARIOS = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"
START = datetime(2026, 11, 20, tzinfo=ZoneInfo("Asia/Shanghai"))
MINIMAL = """
[station]
id = "st-x"
[[residents]]
id = "R1"
devices = [{ kind = "bp_meter", link = "ble" }]
"""


def test_default_scenario_has_fifty_residents_and_every_event_type_twice() -> None:
    """The shipped station has about 50 residents and at least two of every event type."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    assert len(scenario.residents) == 50
    for event_type in EventType:
        assert sum(e.type is event_type for e in scenario.events) >= 2, event_type


def test_the_same_seed_and_start_give_the_same_plan() -> None:
    """Planning is deterministic: same scenario, seed and start, byte-identical actions."""
    scenario = load_scenario(SCENARIOS / "bad-input.toml")
    assert plan(scenario, start=START).actions == plan(scenario, start=START).actions
    other = plan(scenario, start=START, seed=scenario.seed + 1).actions
    assert [a.payload for a in other] != [a.payload for a in plan(scenario, start=START).actions]


def test_adding_a_resident_does_not_change_anyone_elses_readings() -> None:
    """Each resident draws from their own random stream."""
    one = parse_scenario(MINIMAL)
    two = parse_scenario(MINIMAL + '[[residents]]\nid = "R2"\ndevices = [{ kind = "scale" }]\n')
    first = [a for a in plan(two, start=START).actions if a.resident == "R1"]
    assert first == list(plan(one, start=START).actions)


def test_actions_are_time_ordered_within_the_period() -> None:
    """Every action lies in [start, start + days) and the plan is sorted by time."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    planned = plan(scenario, start=START, days=1.5)
    times = [a.at for a in planned.actions]
    assert times == sorted(times)
    assert planned.start <= times[0]
    assert times[-1] < planned.start + timedelta(days=1.5)


def test_registry_loads_in_the_gateway_and_lists_every_device() -> None:
    """The generated registry file is valid for edge.registry and maps devices to residents."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    planned = plan(scenario, start=START, days=1)
    registry = load_registry(planned.registry_toml())
    assert registry.station_id == "st-sim-001"
    assert len(registry) == sum(len(r.devices) for r in scenario.residents)
    device = scenario.resident("R0031").devices[0]
    found = registry.lookup(device.id)
    assert found is not None
    assert found.resident == "R0031"
    assert found.kind == "scale"


def test_residents_file_loads_in_the_stream_keyed_by_pseudonym() -> None:
    """The residents file validates and gives COPD residents NEWS2 scale 2."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    planned = plan(scenario, start=START, days=1)
    residents = parse_residents(planned.residents_toml(), default_rules())
    copd = pseudonymise("R0037", scenario.station.secret.encode())
    assert residents.rules_for(copd, default_rules()).settings.spo2_scale == 2
    diabetic = scenario.pseudonym("R0023")
    assert residents.get(diabetic).diabetic is True


def test_every_good_payload_decodes_and_every_truncated_one_is_refused() -> None:
    """BLE payloads decode with edge.decoders and MQTT messages parse, except the malformed."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    for action in plan(scenario, start=START).actions:
        if action.op is not Op.SEND:
            continue
        try:
            if action.topic is None:
                decode(action.name, action.payload)
            else:
                parsed = mqtt_formats.parse(action.topic, action.payload)
                if parsed.fields is None:
                    decode(parsed.name, parsed.raw)
        except (DecodeError, ValueError):
            assert action.malformed, action
        else:
            assert not action.malformed, action


def test_mqtt_topics_use_the_gateway_formats() -> None:
    """Wi-Fi devices publish under carepulse/devices/<id>/<name>; proxies as BTtoMQTT adverts."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    actions = [a for a in plan(scenario, start=START, days=1).actions if a.op is Op.SEND]
    wifi = next(a for a in actions if a.link is Link.MQTT and not a.malformed)
    assert wifi.topic == f"carepulse/devices/{wifi.device_id}/{wifi.name}"
    proxy = next(a for a in actions if a.link is Link.PROXY and not a.malformed)
    assert proxy.topic is not None
    assert proxy.topic.split("/")[2] == "BTtoMQTT"
    assert json.loads(proxy.payload)["id"] == proxy.device_id


def test_event_readings_cross_their_thresholds() -> None:
    """Crisis BP >= 180/110, hypoxia SpO2 <= 83, hypoglycaemia < 3.0 mmol/L, fever > 37.3."""
    scenario = load_scenario(SCENARIOS / "default.toml")
    by_event: dict[str, list[dict[str, Any]]] = {}
    for action in plan(scenario, start=START).actions:
        if action.event and action.op is Op.SEND and not action.malformed:
            fields = decode(action.name, bytes(action.measurement)).as_dict()  # type: ignore[arg-type]  # SEND actions carry a measurement
            by_event.setdefault(action.event.split("#")[0], []).append(fields)
    crisis = by_event["hypertensive_crisis"]
    assert all(f["systolic_mmhg"] >= 180 and f["diastolic_mmhg"] >= 110 for f in crisis)
    assert all(f["spo2_percent"] <= 83 for f in by_event["hypoxia"])
    assert min(f["glucose_mmol_l"] for f in by_event["hypoglycaemia"]) < 3.0
    assert all(f["temperature_c"] > 37.5 for f in by_event["fever"])
    assert all(f["heart_rate_bpm"] > 100 for f in by_event["tachycardia"])


def test_a_bad_clock_stamps_readings_with_the_wrong_time() -> None:
    """During a bad_clock event the BP meter stamps 2000-01-01 plus elapsed time."""
    scenario = load_scenario(SCENARIOS / "bad-input.toml")
    stamped = [
        decode(a.name, a.payload).as_dict()["timestamp"]
        for a in plan(scenario, start=START).actions
        if a.clock_suspect
    ]
    assert stamped
    assert all(str(s).startswith("2000-01-01") for s in stamped)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[station]\nid = 'x'\n", "residents"),
        (MINIMAL.replace('link = "ble"', 'link = "zigbee"'), "residents[0].devices[0].link"),
        (
            MINIMAL.replace('"bp_meter", link = "ble"', '"hr_band", link = "mqtt"'),
            "residents[0].devices[0].link",
        ),
        (
            MINIMAL + '[[events]]\ntype = "fever"\nresident = "R1"\nstart_h = 1\n',
            "events[0].device",
        ),
        (MINIMAL + '[[events]]\ntype = "meteor"\nresident = "R1"\nstart_h = 1\n', "events[0].type"),
        (
            MINIMAL + '[[events]]\ntype = "hypertensive_crisis"\nresident = "R9"\nstart_h = 1\n',
            "events[0].resident",
        ),
        ("colour = 'red'\n" + MINIMAL, "colour"),
    ],
)
def test_scenario_mistakes_name_the_key(text: str, key: str) -> None:
    """A wrong scenario raises ScenarioError whose key says where the mistake is."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    assert caught.value.key == key


def test_an_id_range_expands_into_residents() -> None:
    """ids = "R0001-R0003" makes three residents with the same devices."""
    text = MINIMAL.replace('id = "R1"', 'ids = "R0001-R0003"')
    scenario = parse_scenario(text)
    assert [r.id for r in scenario.residents] == ["R0001", "R0002", "R0003"]
    assert all(r.devices[0].kind is DeviceKind.BP_METER for r in scenario.residents)
