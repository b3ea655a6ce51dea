"""Bad input at every door, and no personal data anywhere, on one run of the real pipeline.

The ``bad-input`` scenario (truncated BLE and MQTT payloads, implausible SpO2, duplicate
rebroadcasts, a device clock reset to 2000) runs through virtual BLE devices, Mosquitto,
the gateway, Kafka, the worker, InfluxDB and the alert service. Among its good readings
a Wi-Fi scale and thermometer also send every kind of bad MQTT input (the matrix in
docs/security.md), and bad messages are written straight onto ``readings``. Then:

* every bad input is rejected with its reason and counted, where the matrix says;
* every good reading is stored, including the one sent after all the bad ones;
* no Kafka message of the run (its topics and Faust's) and no InfluxDB row holds a
  resident's name, phone number or raw id; every subject is a pseudonym.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from carepulse.observation import Observation
from carepulse.settings import StackSettings
from simulators.scenario import PROXY_BASE, Action, DeviceKind, Link, Plan
from tests.e2e.privacy import (
    INFLUX_SUBJECTS,
    PersonalData,
    find_leaks,
    influx_series,
    kafka_messages,
    topics_of_run,
)
from tests.e2e.security_run import PipelineRun, run_pipeline
from tests.integration.kafka_json import consume_json

pytestmark = [pytest.mark.kafka, pytest.mark.mosquitto, pytest.mark.influxdb]

SCENARIO = Path(__file__).resolve().parents[2] / "simulators" / "scenarios" / "bad-input.toml"
DURATION_S = 90.0
OVERSIZED = b'{"pad": "' + b"x" * 70_000 + b'"}'


@dataclass(frozen=True, slots=True)
class BadInput:
    """One bad MQTT message and what must become of it.

    ``door`` is where it is refused: ``gateway`` (a dead letter from the gateway),
    ``worker`` (a dead letter from the worker's plausibility check), ``unknown`` (an
    unregistered device: counted, nothing sent) or ``kept`` (a wrong device clock: stored,
    flagged, at the receipt time).
    """

    label: str
    device: str  # "scale", "thermometer", "stranger" or "proxy"
    measurement: str
    payload: bytes
    door: str
    words: str
    raw: bytes | None = None  # what the dead letter keeps, when not the payload


BAD = [
    BadInput("json_truncated", "scale", "weight_measurement", b'{"weight_kg": 70.', "gateway",
             "not valid JSON"),
    BadInput("json_not_an_object", "scale", "weight_measurement", b"[70.5]", "gateway",
             "expected a JSON object"),
    BadInput("empty", "scale", "weight_measurement", b"", "gateway", "not valid JSON"),
    BadInput("binary", "scale", "weight_measurement", bytes(range(128, 256)), "gateway",
             "not valid JSON"),
    BadInput("oversized", "scale", "weight_measurement", OVERSIZED, "gateway",
             "exceeds 65536"),
    BadInput("unknown_measurement", "scale", "ecg_measurement", b'{"weight_kg": 70}', "gateway",
             "unknown measurement"),
    BadInput("hex_not_hex", "thermometer", "temperature_measurement", b'{"hex": "zz"}',
             "gateway", "is not hex"),
    BadInput("hex_truncated", "thermometer", "temperature_measurement", b'{"hex": "00"}',
             "gateway", "truncated", raw=b"\x00"),
    BadInput("advert_without_id", "proxy", "", b'{"servicedata": "00"}', "gateway",
             "advert has no 'id'"),
    BadInput("value_not_a_number", "scale", "weight_measurement", b'{"weight_kg": "heavy"}',
             "gateway", "weight_kg must be a number"),
    BadInput("value_nan", "scale", "weight_measurement", b'{"weight_kg": NaN}', "gateway",
             "NaN"),
    BadInput("timestamp_not_a_time", "scale", "weight_measurement",
             b'{"weight_kg": 61.1, "timestamp": "yesterday"}', "gateway", "not an ISO 8601"),
    BadInput("timestamp_year_one", "scale", "weight_measurement",
             b'{"weight_kg": 61.2, "timestamp": "0001-01-01T00:00:00"}', "gateway",
             "outside the range of dates"),
    BadInput("weight_too_high", "scale", "weight_measurement", b'{"weight_kg": 900.0}',
             "worker", "900 is outside the plausible range"),
    BadInput("weight_negative", "scale", "weight_measurement", b'{"weight_kg": -5.0}', "worker",
             "-5 is outside the plausible range"),
    BadInput("unknown_device", "stranger", "weight_measurement", b'{"weight_kg": 70.0}',
             "unknown", ""),
    BadInput("timestamp_far_future", "scale", "weight_measurement",
             b'{"weight_kg": 61.3, "timestamp": "2099-01-01T08:00:00"}', "kept", "61.3"),
    BadInput("timestamp_ancient", "scale", "weight_measurement",
             b'{"weight_kg": 61.4, "timestamp": "1999-01-01T08:00:00"}', "kept", "61.4"),
]  # fmt: skip
#: Sent after every bad input: it must arrive.
LAST_GOOD = b'{"weight_kg": 61.9}'


def worker_door_messages() -> list[bytes]:
    """Bad messages a broken producer could write onto ``readings`` directly."""
    at = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    valid = Observation.create(
        station_id="st-sim-bad",
        subject_id="0" * 32,
        device_id="wifi-scale-999",
        device_kind="scale",
        kind="weight",
        values={"weight_kg": 60.0},
        measured_at=at,
        received_at=at,
        source="mqtt",
    ).as_dict()
    return [
        b"not json at all",
        b'{"schema": 1}',
        json.dumps({**valid, "subject_id": "not-a-pseudonym"}).encode(),
    ]


def device_ids(planned: Plan) -> dict[str, str]:
    """The scenario's Wi-Fi scale and thermometer (registry ids)."""
    found = {}
    for resident in planned.scenario.residents:
        for device in resident.devices:
            if device.link is Link.MQTT:
                found[device.kind.value] = device.id
    return found


def topic_of(bad: BadInput, ids: dict[str, str]) -> str:
    if bad.device == "proxy":
        return f"{PROXY_BASE}/station-proxy/BTtoMQTT/AABBCCDDEEFF"
    device = "wifi-stranger-999" if bad.device == "stranger" else ids[bad.device]
    return f"carepulse/devices/{device}/{bad.measurement}"


def extra_actions(planned: Plan) -> list[Action]:
    """The bad inputs spread over the simulated day between good readings, then LAST_GOOD."""
    ids = device_ids(planned)
    period = planned.end - planned.start

    def action(at: datetime, topic: str, payload: bytes, label: str) -> Action:
        return Action(
            at=at,
            resident="R0402",
            device_id=ids["scale"],
            device_kind=DeviceKind.SCALE,
            link=Link.MQTT,
            name="weight_measurement",
            payload=payload,
            topic=topic,
            event=f"security:{label}",
        )

    step = period * 0.8 / (len(BAD) + 1)
    actions = [
        action(planned.start + step * (n + 1), topic_of(bad, ids), bad.payload, bad.label)
        for n, bad in enumerate(BAD)
    ]
    good_topic = f"carepulse/devices/{ids['scale']}/weight_measurement"
    actions.append(action(planned.end - period * 0.05, good_topic, LAST_GOOD, "last_good"))
    return actions


@pytest.fixture(scope="module")
def pipeline(
    kafka: StackSettings,
    mqtt: StackSettings,
    influxdb: StackSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> PipelineRun:
    """One run of the whole pipeline, shared by this module's tests."""
    kept = sum(b.door == "kept" for b in BAD)
    return asyncio.run(
        run_pipeline(
            tmp_path_factory.mktemp("security"),
            f"sec{uuid.uuid4().hex[:10]}",
            SCENARIO,
            duration_s=DURATION_S,
            extra=extra_actions,
            extra_stored=kept + 1,
            kafka_values=worker_door_messages(),
        )
    )


def dead_letters(run: PipelineRun) -> list[dict[str, Any]]:
    truth = run.truth["counts"]
    at_least = sum(truth["rejected_gateway"].values()) + sum(truth["rejected_stream"].values())
    return asyncio.run(
        consume_json(
            run.stack.kafka_bootstrap, f"{run.run.prefix}readings.rejected", at_least + len(BAD), 30
        )
    )


def test_every_bad_input_is_rejected_with_its_reason_and_counted(pipeline: PipelineRun) -> None:
    """Each bad input has its dead letter (gateway or worker) with the reason; totals add up."""
    assert pipeline.summary.undelivered == 0
    letters = dead_letters(pipeline)
    gateway = [d for d in letters if "stage" not in d]
    worker = [d for d in letters if "stage" in d]
    truth = pipeline.truth["counts"]
    for bad in (b for b in BAD if b.door == "gateway"):
        raw = (bad.raw if bad.raw is not None else bad.payload)[:4096].hex()
        matches = [d for d in gateway if d["raw_hex"] == raw and bad.words in d["reason"]]
        assert len(matches) == 1, f"{bad.label}: {[d['reason'] for d in gateway]}"
        assert matches[0]["source"] == "mqtt"
        assert matches[0]["raw_length"] == len(bytes.fromhex(raw)) or bad.label == "oversized"
    oversized = next(d for d in gateway if "exceeds" in d["reason"])
    assert (oversized["raw_length"], oversized["raw_truncated"]) == (len(OVERSIZED), True)
    assert len(gateway) == sum(truth["rejected_gateway"].values()) + sum(
        b.door == "gateway" for b in BAD
    )
    for bad in (b for b in BAD if b.door == "worker"):
        found = [d for d in worker if d["stage"] == "plausibility" and bad.words in d["reason"]]
        assert len(found) == 1, f"{bad.label}: {[d['reason'] for d in worker]}"
        assert found[0]["field"] == "values.weight_kg"
    plausibility = [d for d in worker if d["stage"] == "plausibility"]
    assert len(plausibility) == sum(truth["rejected_stream"].values()) + sum(
        b.door == "worker" for b in BAD
    )
    schema = [d for d in worker if d["stage"] == "schema"]
    assert sorted(d["raw_hex"] for d in schema) == sorted(m.hex() for m in worker_door_messages())
    assert "subject_id" in {d["field"] for d in schema}


def test_the_gateway_counts_rejections_and_unknown_devices(pipeline: PipelineRun) -> None:
    """The gateway's last heartbeat counts format errors, field errors and unknown devices."""
    beats = asyncio.run(
        consume_json(pipeline.stack.kafka_bootstrap, f"{pipeline.run.prefix}heartbeats", 10**6, 20)
    )
    counters = Counter([b for b in beats if b.get("subject") == "gateway"][-1]["counters"])
    format_errors = {"json_truncated", "json_not_an_object", "empty", "binary", "oversized",
                     "unknown_measurement", "hex_not_hex", "advert_without_id"}  # fmt: skip
    assert counters["rejected:mqtt_format"] == len(format_errors)
    assert counters["unknown"] == 1
    assert counters["rejected:weight_kg"] == 1  # the text weight
    assert counters["rejected:values.weight_kg"] == 1  # NaN, refused by the observation contract
    assert counters["rejected:timestamp"] == 2
    assert counters["rejected:gateway_error"] == 0


def test_every_good_reading_is_stored_and_the_pipeline_keeps_running(
    pipeline: PipelineRun,
) -> None:
    """All the scenario's observations and the good MQTT ones are in InfluxDB, the last too."""
    assert pipeline.stored == pipeline.expected_stored
    rows = asyncio.run(weights(pipeline))
    assert 61.9 in rows  # sent after every bad input


def test_wrong_device_clocks_are_stored_at_the_receipt_time(pipeline: PipelineRun) -> None:
    """Readings stamped 2099 and 1999 are kept, at the time the gateway received them."""
    rows = asyncio.run(weights(pipeline))
    now = datetime.now(UTC)
    for weight in (61.3, 61.4):
        assert weight in rows
        assert now - timedelta(minutes=30) < rows[weight] <= now


async def weights(run: PipelineRun) -> dict[float, datetime]:
    """Stored weights of the run, with their times."""
    flux = (
        f'from(bucket: "{run.storage.influx_bucket}") |> range(start: 0)'
        ' |> filter(fn: (r) => r._measurement == "reading" and r._field == "weight_kg")'
    )
    async with InfluxDBClientAsync(
        url=run.storage.influx_url,
        token=run.storage.influx_token.get_secret_value(),
        org=run.storage.influx_org,
    ) as client:
        tables = await client.query_api().query(flux)
    return {round(r.get_value(), 3): r.get_time() for t in tables for r in t.records}


def test_no_personal_data_in_kafka_or_influxdb(pipeline: PipelineRun) -> None:
    """Every message of the run's topics (Faust's too) and every InfluxDB row is clean."""
    personal = PersonalData.from_import_file(
        pipeline.people_csv, [r.id for r in pipeline.plan.scenario.residents]
    )
    assert personal.names
    assert personal.phones
    assert personal.resident_ids
    leaks, counted = asyncio.run(scan(pipeline, personal))
    assert leaks == []
    assert counted["readings"] > 0
    assert counted["readings.rejected"] > 0
    assert any("changelog" in t for t in counted), sorted(counted)
    assert counted["influxdb"] > 0


async def scan(run: PipelineRun, personal: PersonalData) -> tuple[list[Any], Counter[str]]:
    bootstrap = run.stack.kafka_bootstrap
    topics = await topics_of_run(bootstrap, run.run.run_id)
    leaks = []
    counted: Counter[str] = Counter()
    injected = set(worker_door_messages())  # this test's own input, not the pipeline's output
    for where, key, value in await kafka_messages(bootstrap, topics):
        topic = where.split()[1].split("[")[0].removeprefix(run.run.prefix)
        if topic == "readings" and value in injected:
            continue
        counted[topic] += 1
        for part in (key, value):
            if part:
                leaks += find_leaks(where, part, personal)
    async with InfluxDBClientAsync(
        url=run.storage.influx_url,
        token=run.storage.influx_token.get_secret_value(),
        org=run.storage.influx_org,
    ) as client:
        for bucket in (run.storage.influx_bucket, run.storage.metrics_bucket):
            for where, text in await influx_series(client, bucket):
                counted["influxdb"] += 1
                leaks += find_leaks(where, text, personal, INFLUX_SUBJECTS)
    return leaks, counted
