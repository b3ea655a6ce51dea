"""The Faust agents in-process: agent.test_context(), the memory store, event timestamps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import AsyncMock

import pytest

from carepulse.alert import Alert, Category, Status
from carepulse.observation import Observation, format_time
from stream.app import StreamApp, create_app
from stream.config import StreamSettings
from stream.intake import ReadBack, RecordPosition
from stream.messages import Valid
from tests.stream.factories import T0, MakeObservation

NOW = (T0 + timedelta(minutes=5)).timestamp()


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@asynccontextmanager
async def built_app(
    tmp_path: Any, clock: Clock, read_back: Any = None, **overrides: Any
) -> AsyncIterator[StreamApp]:
    settings = StreamSettings(
        app_id="carepulse-test",
        store="memory://",
        sink_enabled=False,
        kafka_bootstrap="127.0.0.1:1",
        datadir=tmp_path,
        **{"flush_interval_s": 0, **overrides},  # 0: every batch flushed at once
    )
    built = (
        create_app(settings, clock=clock)
        if read_back is None
        else create_app(settings, clock=clock, read_back=read_back)
    )
    app = built.app
    app.loop = asyncio.get_running_loop()
    app.finalize()
    app.conf.store = "memory://"  # type: ignore[assignment]  # faust's documented fixture
    app.flow_control.resume()
    built.outbox.send = AsyncMock()
    yield built
    # Iterating a stream creates the (never started) consumer, whose thread owns a fresh
    # event loop; close it so the test run leaks no loop or socket.
    consumer: Any = app._consumer
    if consumer is not None:
        consumer._thread.thread_loop.close()


@pytest.fixture
async def parts(tmp_path: Any, clock: Clock) -> AsyncIterator[StreamApp]:
    async with built_app(tmp_path, clock) as built:
        yield built


def sent(parts: StreamApp, topic: str) -> list[dict[str, Any]]:
    """Every record sent to a topic (by role: valid, metrics, alerts...), in order."""
    name = parts.outbox.names.get(topic, topic)
    send: Any = parts.outbox.send
    return [
        dict(zip(("key", "value", "partition", "timestamp"), call.args[1:], strict=True))
        for call in send.call_args_list
        if call.args[0] == name
    ]


async def put(agent: Any, obs: Observation, offset: int | None = None) -> None:
    """Put an observation on ``readings`` (at ``offset``: a re-read after a crash)."""
    if offset is not None:
        agent.sent_offset = offset
    await agent.put(obs.to_json(), key=obs.subject_id.encode())


async def test_ingest_forwards_valid_reading_keyed_with_event_time(
    parts: StreamApp, make_obs: MakeObservation
) -> None:
    """A valid reading goes to readings.valid on its partition with the event time."""
    obs = make_obs("blood_pressure")
    async with parts.agents["pipeline"].test_context() as agent:
        await agent.put(obs.to_json(), key=obs.subject_id.encode(), partition=2)
    (call,) = sent(parts, "valid")
    assert call["key"] == obs.subject_id.encode()
    assert call["partition"] == 2
    assert call["timestamp"] == obs.measured_at.timestamp()
    forwarded = Valid.from_json(call["value"])
    assert (forwarded.observation, forwarded.src_partition, forwarded.src_offset) == (obs, 2, 0)


async def test_malformed_message_is_rejected_with_reason(parts: StreamApp) -> None:
    """Bytes that are not an observation go to readings.rejected naming the field."""
    async with parts.agents["pipeline"].test_context() as agent:
        await agent.put(b"{not json")
        await agent.put(json.dumps({"schema": 1, "observation_id": "x"}).encode())
    letters = [json.loads(c["value"]) for c in sent(parts, "rejected")]
    assert [(d["stage"], d["field"]) for d in letters] == [
        ("schema", "(root)"),
        ("schema", "station_id"),
    ]
    assert "not valid JSON" in letters[0]["reason"]
    assert bytes.fromhex(letters[0]["raw_hex"]) == b"{not json"
    assert sent(parts, "valid") == []


async def test_implausible_value_is_rejected_with_reason(
    parts: StreamApp, make_obs: MakeObservation
) -> None:
    """Heart rate 400 is rejected as implausible, naming the value and the range."""
    obs = make_obs("heart_rate", {"heart_rate_bpm": 400})
    async with parts.agents["pipeline"].test_context() as agent:
        await agent.put(obs.to_json())
    (letter,) = [json.loads(c["value"]) for c in sent(parts, "rejected")]
    assert letter["stage"] == "plausibility"
    assert letter["field"] == "values.heart_rate_bpm"
    assert "20-300" in letter["reason"]
    assert letter["observation_id"] == obs.observation_id


async def test_duplicate_dropped_but_own_replay_forwarded(
    parts: StreamApp, make_obs: MakeObservation
) -> None:
    """A resend (new offset) is dropped; the same offset read again (a replay) is forwarded."""
    obs = make_obs("weight")
    async with parts.agents["pipeline"].test_context() as agent:
        await agent.put(obs.to_json())
        await agent.put(obs.to_json())
        parts.intake.reset()  # partitions reassigned after a crash: offset 0 read again
        agent.sent_offset = 0
        await agent.put(obs.to_json())
        assert list(agent.results.values()) == ["forwarded", "duplicate", "replayed"]
    assert [Valid.from_json(c["value"]).src_offset for c in sent(parts, "valid")] == [0, 0]
    assert parts.counters.duplicates == 1


async def test_bad_device_clock_uses_receipt_time(
    parts: StreamApp, make_obs: MakeObservation
) -> None:
    """A measured time a day ahead is flagged; the event time is the gateway's receipt time."""
    obs = make_obs("temperature", at=T0 + timedelta(days=1), received=T0)
    async with parts.agents["pipeline"].test_context() as agent:
        await agent.put(obs.to_json())
    (call,) = sent(parts, "valid")
    forwarded = Valid.from_json(call["value"])
    assert call["timestamp"] == T0.timestamp()
    assert (forwarded.event_time, forwarded.clock_suspect) == (T0.timestamp(), "far_future")


async def test_dedup_prune_forgets_old_ids(
    parts: StreamApp, clock: Clock, make_obs: MakeObservation
) -> None:
    """The prune timer removes ids older than the TTL from the table."""
    obs = make_obs("weight")
    async with parts.agents["pipeline"].test_context() as agent:
        await agent.put(obs.to_json())
    dedup = parts.tables["dedup"]
    assert obs.observation_id in dedup.data
    await parts.agents["prune"]()
    assert obs.observation_id in dedup.data
    clock.now += parts.settings.dedup_ttl_s + 1
    await parts.agents["prune"]()
    assert obs.observation_id not in dedup.data
    assert parts.tables["windows"].data == {}  # expired windows went too
    tombstone = sent(parts, parts.tables["dedup"].changelog_topic.get_topic_name())[-1]
    assert (tombstone["key"], tombstone["value"]) == (json.dumps(obs.observation_id).encode(), None)


def windows_of(parts: StreamApp, window: str) -> list[dict[str, Any]]:
    messages = [json.loads(c["value"]) for c in sent(parts, "metrics")]
    return [m for m in messages if m["metric"] == "window" and m["window"] == window]


async def test_tumbling_windows_by_event_time(parts: StreamApp, make_obs: MakeObservation) -> None:
    """Readings in one minute share its window; the next minute opens a new one."""
    readings = [
        make_obs("heart_rate", {"heart_rate_bpm": bpm}, at=T0 + timedelta(seconds=s))
        for bpm, s in ((70, 5), (80, 30), (90, 65))
    ]
    async with parts.agents["pipeline"].test_context() as agent:
        for obs in readings:
            await put(agent, obs)
    minute = windows_of(parts, "1m")
    assert [(m["start"], m["values"]["heart_rate_bpm"]["count"]) for m in minute] == [
        ("2026-11-27T00:00:00Z", 1),
        ("2026-11-27T00:00:00Z", 2),
        ("2026-11-27T00:01:00Z", 1),
    ]
    assert minute[1]["values"]["heart_rate_bpm"]["mean"] == 75.0
    assert minute[1]["values"]["heart_rate_bpm"]["std"] == pytest.approx(7.0710678)
    hour = windows_of(parts, "1h")[-1]
    assert (hour["values"]["heart_rate_bpm"]["count"], hour["values"]["heart_rate_bpm"]["max"]) == (
        3,
        90,
    )
    day = windows_of(parts, "1d")[-1]
    assert day["start"] == "2026-11-26T16:00:00Z"  # local (UTC+8) midnight


async def test_late_data_within_and_after_grace(
    parts: StreamApp, clock: Clock, make_obs: MakeObservation
) -> None:
    """Late data within the grace period updates its window; after it, only longer windows."""
    on_time = make_obs("spo2", {"spo2_percent": 97.0}, at=T0 + timedelta(minutes=4))
    within = make_obs("spo2", {"spo2_percent": 95.0}, at=T0 + timedelta(minutes=4, seconds=10))
    after = make_obs("spo2", {"spo2_percent": 93.0}, at=T0 - timedelta(hours=2))
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, on_time)
        clock.now = NOW + 1800  # half an hour later: within the minute windows' 1 h grace
        await put(agent, within)
        await put(agent, after)
        results = list(agent.results.values())
    assert results[:2] == ["forwarded", "forwarded"]
    assert results[2] == "late"
    minute = windows_of(parts, "1m")
    assert minute[-1]["values"]["spo2_percent"]["count"] == 2
    hour_starts = {m["start"] for m in windows_of(parts, "1h")}
    assert "2026-11-26T22:00:00Z" in hour_starts  # the 2-hour-old reading reached its hour
    assert parts.counters.late_dropped == 1


async def test_replayed_reading_is_not_counted_twice(
    parts: StreamApp, make_obs: MakeObservation
) -> None:
    """A reading re-forwarded with the same source offset is re-emitted, not re-counted."""
    obs = make_obs("glucose")
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, obs, offset=7)
        parts.intake.reset()  # partitions reassigned: offset 7 read again
        await put(agent, obs, offset=7)
        assert list(agent.results.values()) == ["forwarded", "replayed"]
    counts = [m["values"]["glucose_mmol_l"]["count"] for m in windows_of(parts, "1h")]
    assert counts == [1, 1]


async def test_hrv_and_day_metrics(parts: StreamApp, make_obs: MakeObservation) -> None:
    """RR intervals give a 5-minute HRV; morning BP gives the day's session means."""
    rr = make_obs("heart_rate", {"heart_rate_bpm": 70, "rr_intervals_s": [0.8, 0.85, 0.79, 0.9]})
    bp = make_obs("blood_pressure", at=T0 - timedelta(hours=1))  # 07:00 local
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, rr)
        await put(agent, bp)
    messages = [json.loads(c["value"]) for c in sent(parts, "metrics")]
    (hrv,) = [m for m in messages if m["metric"] == "hrv"]
    assert hrv["values"]["beats"] == 4
    assert hrv["values"]["rmssd_ms"] == pytest.approx(((50**2 + 60**2 + 110**2) / 3) ** 0.5)
    (day,) = [m for m in messages if m["metric"] == "day"]
    assert day["values"]["bp_morning_systolic_mean"] == 128.0
    assert day["values"]["home_bp_count_7d"] == 1


async def test_risk_agent_raises_and_replays_alerts(
    parts: StreamApp, make_obs: MakeObservation
) -> None:
    """A hypertensive crisis raises bp.urgent_referral; a replay re-sends the same alert."""
    obs = make_obs("blood_pressure", {"systolic_mmhg": 186.0, "diastolic_mmhg": 112.0})
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, obs, offset=3)
        parts.intake.reset()  # read again by the next owner of the partition
        await put(agent, obs, offset=3)
    alerts = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")]
    assert [a.rule_id for a in alerts] == ["bp.urgent_referral", "bp.urgent_referral"]
    assert alerts[0].alert_id == alerts[1].alert_id
    assert alerts[0].status is Status.FIRING


async def test_no_checkin_timer_and_resolution(
    parts: StreamApp, clock: Clock, make_obs: MakeObservation
) -> None:
    """Silence past the period raises checkin.none once; the next reading resolves it."""
    first = make_obs("weight")
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, first)
    clock.now = T0.timestamp() + 8 * 86400
    await parts.agents["no_checkin"]()
    await parts.agents["no_checkin"]()
    raised = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")]
    assert [(a.rule_id, a.status) for a in raised] == [("checkin.none", Status.FIRING)]
    back = make_obs("weight", {"weight_kg": 70.2}, at=T0 + timedelta(days=8))
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, back, offset=1)
    resolved = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")][-1]
    assert (resolved.rule_id, resolved.status) == ("checkin.none", Status.RESOLVED)


#: When the heartbeats of the battery and offline tests were sent, and last heard.
BEAT_SENT = datetime(2026, 11, 27, tzinfo=UTC).timestamp()
BEAT_SEEN = BEAT_SENT - 3600


def device_beat(
    device_id: str, kind: str, sent_at: float, last_seen: float, battery: int = 80
) -> bytes:
    """A gateway heartbeat for one device (times in seconds)."""
    return json.dumps(
        {
            "schema": 1,
            "station_id": "st-001",
            "subject": f"device/{device_id}",
            "sent_at": format_time(datetime.fromtimestamp(sent_at, UTC)),
            "device_kind": kind,
            "last_seen": format_time(datetime.fromtimestamp(last_seen, UTC)),
            "battery_percent": battery,
        }
    ).encode()


async def test_heartbeat_battery_is_a_technical_alert(parts: StreamApp) -> None:
    """A device heartbeat at 3 % battery raises a technical battery_critical alert."""
    beat = device_beat("C4:7C:8D:6A:12:34", "bp_meter", BEAT_SENT, BEAT_SEEN, battery=3)
    async with parts.agents["heartbeats"].test_context() as agent:
        await agent.put(beat, key=b"st-001/device/C4:7C:8D:6A:12:34")
    (alert,) = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")]
    assert (alert.rule_id, alert.category) == ("device.battery_critical", Category.TECHNICAL)


async def test_a_flush_writes_each_key_once(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """Readings of one flush: one changelog record per key, one metrics message per window."""
    readings = [
        make_obs("heart_rate", {"heart_rate_bpm": 60 + n}, at=T0 + timedelta(seconds=n))
        for n in range(5)
    ]
    async with built_app(tmp_path, clock, flush_interval_s=60, flush_max_events=5) as parts:
        async with parts.agents["pipeline"].test_context() as agent:
            for obs in readings:
                await put(agent, obs)
            await asyncio.sleep(0.1)  # the flush the fifth reading started
            assert list(agent.results.values()) == ["forwarded"] * 5
        assert parts.counters.batches == 1
        assert len(sent(parts, "valid")) == 5
        windows = parts.tables["windows"].changelog_topic.get_topic_name()
        assert len(sent(parts, windows)) == 3  # 1m, 1h, 1d of one resident and kind
        residents = parts.tables["residents"].changelog_topic.get_topic_name()
        assert len(sent(parts, residents)) == 1
        minute = windows_of(parts, "1m")
        assert [m["values"]["heart_rate_bpm"]["count"] for m in minute] == [5]
        record = json.loads(sent(parts, residents)[0]["value"])
        assert record["wm"] == 4


async def test_device_alerts_name_the_resident(parts: StreamApp, make_obs: MakeObservation) -> None:
    """A reading announces its device's resident; battery alerts then carry that subject."""
    obs = make_obs("blood_pressure")
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, obs)
    (owner,) = sent(parts, "owner")
    assert owner["key"] == f"st-001/device/{obs.device_id}".encode()
    beat = device_beat(obs.device_id, "bp_meter", BEAT_SENT, BEAT_SEEN, battery=3)
    async with parts.agents["heartbeats"].test_context() as agent:
        await agent.put(owner["value"], key=owner["key"])
        await agent.put(beat, key=owner["key"])
    (alert,) = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")]
    assert (alert.rule_id, alert.subject_id) == ("device.battery_critical", obs.subject_id)
    assert alert.evidence["device_id"] == obs.device_id
    # A second reading from the same device announces nothing new.
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, make_obs("blood_pressure", at=T0 + timedelta(minutes=1)), offset=1)
    assert len(sent(parts, "owner")) == 1


async def test_device_offline_once_and_under_the_resident(
    parts: StreamApp, clock: Clock, make_obs: MakeObservation
) -> None:
    """device.offline is raised once per episode, kept in the devices table's changelog."""
    obs = make_obs("spo2")
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, obs)
    (owner,) = sent(parts, "owner")
    beat = device_beat(obs.device_id, "oximeter", BEAT_SENT, BEAT_SEEN)
    async with parts.agents["heartbeats"].test_context() as agent:
        await agent.put(owner["value"], key=owner["key"])
        await agent.put(beat, key=owner["key"])
    clock.now = T0.timestamp() + 2 * 86400
    await parts.agents["device_offline"]()
    await parts.agents["device_offline"]()
    (alert,) = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")]
    assert (alert.rule_id, alert.subject_id) == ("device.offline", obs.subject_id)
    devices = parts.tables["devices"].changelog_topic.get_topic_name()
    record = json.loads(sent(parts, devices)[-1]["value"])
    assert record["offline"] == alert.alert_id


async def test_no_checkin_is_not_sent_again_after_a_restart(
    parts: StreamApp, clock: Clock, make_obs: MakeObservation, tmp_path: Any
) -> None:
    """What the no-check-in timer raised is in the resident's changelog record."""
    first = make_obs("weight")
    async with parts.agents["pipeline"].test_context() as agent:
        await put(agent, first)
    clock.now = T0.timestamp() + 8 * 86400
    await parts.agents["no_checkin"]()
    assert [Alert.from_json(c["value"]).rule_id for c in sent(parts, "alerts")] == ["checkin.none"]
    residents = parts.tables["residents"].changelog_topic.get_topic_name()
    last = sent(parts, residents)[-1]
    # A new worker rebuilds the table from the changelog: it must not raise it again.
    settings = parts.settings.model_copy(update={"datadir": tmp_path / "restarted"})
    restarted = create_app(settings, clock=clock)
    restarted.outbox.send = AsyncMock()
    restarted.tables["residents"].data[json.loads(last["key"])] = json.loads(last["value"])
    await restarted.agents["no_checkin"]()
    assert sent(restarted, "alerts") == []
    clock.now = T0.timestamp() + 15 * 86400  # twice the period: the follow-up is new
    await restarted.agents["no_checkin"]()
    assert [Alert.from_json(c["value"]).rule_id for c in sent(restarted, "alerts")] == [
        "checkin.none_long"
    ]


async def test_alerts_at_once_the_rest_coalesced_until_the_flush(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """With a flush interval, alerts leave with their batch; windows wait for the flush."""
    async with built_app(tmp_path, clock, flush_interval_s=0.2) as parts:
        crisis = make_obs("blood_pressure", {"systolic_mmhg": 186.0, "diastolic_mmhg": 112.0})
        later = make_obs("blood_pressure", at=T0 + timedelta(seconds=20))
        async with parts.agents["pipeline"].test_context() as agent:
            await put(agent, crisis)
            await put(agent, later)
            assert [Alert.from_json(c["value"]).rule_id for c in sent(parts, "alerts")] == [
                "bp.urgent_referral"
            ]
            assert sent(parts, "metrics") == []
            assert sent(parts, "valid") == []
            # Faust's commit flushes the producer first: that writes the pending effects.
            await parts.app.producer.flush()
        minute = windows_of(parts, "1m")
        assert [m["values"]["systolic_mmhg"]["count"] for m in minute] == [2]
        assert len(sent(parts, "valid")) == 2
        residents = parts.tables["residents"].changelog_topic.get_topic_name()
        (record,) = sent(parts, residents)
        assert json.loads(record["value"])["wm"] == 1


async def test_a_failed_flush_stops_the_worker_and_blocks_the_commit(
    parts: StreamApp, make_obs: MakeObservation
) -> None:
    """When Kafka refuses a flush, the app crashes and no later commit may go through."""
    metrics_topic = parts.outbox.names["metrics"]

    async def send(topic: str, *_: Any) -> None:
        if topic == metrics_topic:
            msg = "broker gone"
            raise RuntimeError(msg)

    parts.outbox.send = AsyncMock(side_effect=send)
    crash = AsyncMock()
    parts.app.crash = crash  # type: ignore[method-assign]
    obs = make_obs("heart_rate")
    async with parts.agents["pipeline"].test_context() as agent:
        await agent.put(obs.to_json(), key=obs.subject_id.encode(), wait=False)
        await asyncio.sleep(0.2)
    crash.assert_awaited_once()
    # The commit flushes the pipeline first (hook on the producer's flush): it fails too,
    # so the offsets stay where they were and the readings are read again after a restart.
    with pytest.raises(RuntimeError, match="broker gone"):
        await parts.agents["flush_all"]()


async def test_an_agent_stopped_while_sending_an_alert_loses_no_effect(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """Faust acks the event an agent was stopped in; the commit must still write its effects.

    The alert's send is held back (a full producer buffer) while the agent is stopped
    (SIGTERM). The commit on stop flushes the pipeline: the reading's window, its resident
    record and its alert must all be in it, or the committed offset would skip them.
    """
    async with built_app(tmp_path, clock, flush_interval_s=60.0) as parts:
        alerts_topic = parts.outbox.names["alerts"]
        gate = asyncio.Event()

        async def send(topic: str, *_: Any) -> None:
            if topic == alerts_topic:
                await gate.wait()

        parts.outbox.send = AsyncMock(side_effect=send)
        crisis = make_obs("blood_pressure", {"systolic_mmhg": 186.0, "diastolic_mmhg": 112.0})
        async with parts.agents["pipeline"].test_context() as agent:
            await agent.put(crisis.to_json(), key=crisis.subject_id.encode(), wait=False)
            await asyncio.sleep(0.2)
            assert sent(parts, "metrics") == []
        gate.set()
        await parts.agents["flush_all"]()
        assert [Alert.from_json(c["value"]).rule_id for c in sent(parts, "alerts")] == [
            "bp.urgent_referral"
        ]
        assert [m["values"]["systolic_mmhg"]["count"] for m in windows_of(parts, "1m")] == [1]
        residents = parts.tables["residents"].changelog_topic.get_topic_name()
        assert len(sent(parts, residents)) == 1


async def test_a_skipped_offset_is_read_back_and_a_second_delivery_dropped(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """Offsets 0, 1, 3, 3: offset 2 is read back before 3, and the second 3 is dropped.

    The watermarks take an offset seen after a later one for a replay, so a reading the
    consumer skipped would never be counted; a reading delivered twice is no news.
    """
    readings = [
        make_obs("heart_rate", {"heart_rate_bpm": 60 + n}, at=T0 + timedelta(seconds=n))
        for n in range(4)
    ]
    asked: list[tuple[str, int, int, int]] = []

    async def read_back(_: str, topic: str, partition: int, first: int, end: int) -> Any:
        asked.append((topic, partition, first, end))
        return [
            ReadBack(RecordPosition(topic, partition, o), readings[o].to_json())
            for o in range(first, end)
        ]

    async with built_app(tmp_path, clock, read_back) as parts:
        async with parts.agents["pipeline"].test_context() as agent:
            for offset in (0, 1, 3, 3):
                await put(agent, readings[offset], offset=offset)
            outcomes = list(agent.results.values())
        readings_topic = parts.topics["readings"].get_topic_name()
        assert [(t, f, e) for t, _, f, e in asked] == [(readings_topic, 2, 3)]
        assert outcomes[-1] == "redelivered"
        forwarded = [Valid.from_json(c["value"]).src_offset for c in sent(parts, "valid")]
        assert forwarded == [0, 1, 2, 3]
        hour = windows_of(parts, "1h")[-1]
        assert hour["values"]["heart_rate_bpm"]["count"] == 4
        assert parts.counters.read_back == 1
        assert parts.counters.redelivered == 1


def assert_resolves(parts: StreamApp, firing: Alert) -> None:
    """The latest alert sent resolves ``firing``'s episode (same rule and window start)."""
    resolved = Alert.from_json(sent(parts, "alerts")[-1]["value"])
    assert (resolved.rule_id, resolved.status) == (firing.rule_id, Status.RESOLVED)
    assert resolved.evidence["window"]["start"] == firing.evidence["window"]["start"]


async def test_scaled_no_checkin_counts_receipt_time(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """At 1000x, a reading stamped days ago but received now is a check-in now.

    200 wall seconds later the resident is 2.3 simulated days silent: checkin.none; the
    next reading received resolves that same episode.
    """
    async with built_app(tmp_path, clock, watchdog_time_scale=1000.0, no_checkin_days=2.0) as parts:
        received = datetime.fromtimestamp(NOW, UTC)
        old = make_obs("weight", at=received - timedelta(days=3), received=received)
        async with parts.agents["pipeline"].test_context() as agent:
            await put(agent, old)
        await parts.agents["no_checkin"]()
        assert sent(parts, "alerts") == []  # the event time alone would say 3 days
        clock.now = NOW + 200
        await parts.agents["no_checkin"]()
        await parts.agents["no_checkin"]()
        (raised,) = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")]
        assert (raised.rule_id, raised.evidence["values"]["time_scale"]) == (
            "checkin.none",
            1000.0,
        )
        back_at = received + timedelta(seconds=200)
        back = make_obs(
            "weight", {"weight_kg": 70.3}, at=back_at - timedelta(days=1), received=back_at
        )
        async with parts.agents["pipeline"].test_context() as agent:
            await put(agent, back, offset=1)
        assert_resolves(parts, raised)


async def test_scaled_device_offline_by_kind_and_resolved(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """At 1000x a device heard 100 s ago is 28 h silent: offline at 24 h, not at 48 h.

    A heartbeat showing it heard again resolves it.
    """
    async with built_app(
        tmp_path,
        clock,
        watchdog_time_scale=1000.0,
        device_offline_hours_by_kind={"scale": 48.0},
    ) as parts:
        spo2 = make_obs("spo2", device="CA:7E:5C:00:00:01")
        weight = make_obs("weight", device="CA:7E:5C:00:00:02")
        async with parts.agents["pipeline"].test_context() as agent:
            await put(agent, spo2)
            await put(agent, weight, offset=1)
        async with parts.agents["heartbeats"].test_context() as agent:
            for owner in sent(parts, "owner"):
                await agent.put(owner["value"], key=owner["key"])
            await agent.put(device_beat("CA:7E:5C:00:00:01", "oximeter", NOW, NOW))
            await agent.put(device_beat("CA:7E:5C:00:00:02", "scale", NOW, NOW))
        clock.now = NOW + 100
        await parts.agents["device_offline"]()
        (alert,) = [Alert.from_json(c["value"]) for c in sent(parts, "alerts")]
        assert (alert.rule_id, alert.evidence["device_id"]) == ("device.offline", spo2.device_id)
        assert alert.evidence["values"]["hours"] == 24.0
        async with parts.agents["heartbeats"].test_context() as agent:
            await agent.put(device_beat("CA:7E:5C:00:00:01", "oximeter", NOW + 101, NOW + 101))
        assert_resolves(parts, alert)


async def test_no_device_offline_for_a_resident_who_stopped_measuring(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """A device offline threshold past the check-in period: the resident's silence is
    checkin.none, and their device is not reported offline on top of it."""
    async with built_app(
        tmp_path,
        clock,
        no_checkin_days=2.0,
        device_offline_hours_by_kind={"scale": 72.0},
    ) as parts:
        weight = make_obs("weight", at=datetime.fromtimestamp(NOW, UTC))
        async with parts.agents["pipeline"].test_context() as agent:
            await put(agent, weight)
        (owner,) = sent(parts, "owner")
        async with parts.agents["heartbeats"].test_context() as agent:
            await agent.put(owner["value"], key=owner["key"])
            await agent.put(device_beat(weight.device_id, "scale", NOW, NOW), key=owner["key"])
        clock.now = NOW + 3 * 86400
        await parts.agents["no_checkin"]()
        await parts.agents["device_offline"]()
        rules = [Alert.from_json(c["value"]).rule_id for c in sent(parts, "alerts")]
        assert rules == ["checkin.none"]


async def test_a_failed_read_back_stops_the_worker_and_blocks_the_commit(
    tmp_path: Any, clock: Clock, make_obs: MakeObservation
) -> None:
    """Skipped records that cannot be read back: the app crashes, and no commit follows."""
    readings = [make_obs("heart_rate", at=T0 + timedelta(seconds=n)) for n in range(3)]

    async def read_back(*_: Any) -> Any:
        msg = "kafka gone"
        raise TimeoutError(msg)

    async with built_app(tmp_path, clock, read_back) as parts:
        crash = AsyncMock()
        parts.app.crash = crash  # type: ignore[method-assign]
        async with parts.agents["pipeline"].test_context() as agent:
            await put(agent, readings[0], offset=0)
            agent.sent_offset = 2  # offset 1 never comes
            await agent.put(readings[2].to_json(), key=b"k", wait=False)
            await asyncio.sleep(0.2)
        crash.assert_awaited_once()
        with pytest.raises(TimeoutError, match="kafka gone"):
            await parts.agents["flush_all"]()
