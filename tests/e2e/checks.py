"""What a fault test checks once the readings stopped: nothing acknowledged lost, nothing twice.

:func:`verify` first waits (polling, up to a deadline) until every acknowledged reading
has reached every place it must reach, then until the pipeline is quiet (every consumer
group of the run has consumed its topics to the end and the gateway's outbox is empty),
and then compares the final state exactly:

* Kafka ``readings`` holds every acknowledged observation id at least once (delivery is
  at-least-once) and no observation the driver did not send;
* InfluxDB holds exactly one ``reading`` point for each of those observations, with the
  values sent, and no other point. InfluxDB keeps no observation id; a point's identity is
  its tags and time (``storage.points``), and the driver gives every reading of a device its
  own time, so observation ids and points correspond one to one and "each id stored once"
  is "the set of points equals the set of expected points";
* the alert service's store has exactly one case per (resident, rule), and it is a
  ``bp.urgent_referral`` case for each acknowledged crisis of every phase (so alerts raised
  during and after the fault reached the queue), and no other case;
* ``readings.rejected`` holds nothing but the harness's probes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from carepulse.pseudonym import pseudonymise
from storage.points import LinePoint, time_ms, to_point
from storage.writer import open_client
from tests.e2e.harness import Pipeline
from tests.e2e.traffic import CRISIS_RULE, Ledger, Phase, Sent

PointKey = tuple[str, tuple[tuple[str, str], ...], int]


@dataclass
class Evidence:
    """The state of the run's Kafka topics, InfluxDB bucket and case store at one moment."""

    readings: Counter[str] = field(default_factory=Counter)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    points: dict[PointKey, dict[str, float]] = field(default_factory=dict)
    cases: Counter[tuple[str, str]] = field(default_factory=Counter)


async def read_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every JSON message on ``topic``, from the start to the end it had when assigned."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []

    async def fetch() -> None:
        batch = await consumer.getmany(timeout_ms=200)
        found.extend(json.loads(r.value) for rs in batch.values() for r in rs if r.value)

    try:
        async with asyncio.timeout(60):
            while not consumer.assignment():  # all partitions, once the metadata is in
                await fetch()
            partitions = list(consumer.assignment())
            end = await consumer.end_offsets(partitions)
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                await fetch()
        return found
    finally:
        await consumer.stop()


async def influx_points(pipeline: Pipeline, tag_names: Iterable[str]) -> dict[PointKey, Any]:
    """Every ``reading`` point of the run's bucket: identity → {field: value}."""
    tags = list(tag_names)
    flux = (
        f'from(bucket: "{pipeline.storage.influx_bucket}") |> range(start: 0)'
        ' |> filter(fn: (r) => r._measurement == "reading") |> group()'
    )
    async with open_client(pipeline.storage) as client:
        tables = await client.query_api().query(flux)
    points: dict[PointKey, dict[str, float]] = {}
    for table in tables:
        for record in table.records:
            key = (
                "reading",
                tuple((name, str(record.values.get(name))) for name in tags),
                time_ms(record.get_time()),
            )
            points.setdefault(key, {})[record.get_field()] = float(record.get_value())
    return points


def case_counts(pipeline: Pipeline) -> Counter[tuple[str, str]]:
    """Cases in the alert service's store by (subject, rule)."""
    if not pipeline.cases_db.exists():
        return Counter()
    db = sqlite3.connect(f"file:{pipeline.cases_db}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute("SELECT subject_id, rule_id FROM cases").fetchall()
    except sqlite3.OperationalError:  # the service has not made its schema yet
        return Counter()
    finally:
        db.close()
    return Counter((str(s), str(r)) for s, r in rows)


async def gather(pipeline: Pipeline, tag_names: Iterable[str]) -> Evidence:
    """Read the run's state."""
    bootstrap = pipeline.stack.kafka_bootstrap
    readings = await read_topic(bootstrap, pipeline.topic("readings"))
    probe = f"e2e{pipeline.run_id}-probe"
    rejected = [
        r
        for r in await read_topic(bootstrap, pipeline.topic("readings.rejected"))
        if probe not in str(r.get("device_id"))
    ]
    return Evidence(
        readings=Counter(str(r.get("observation_id")) for r in readings),
        rejected=rejected,
        alerts=await read_topic(bootstrap, pipeline.topic("alerts")),
        points=await influx_points(pipeline, tag_names),
        cases=case_counts(pipeline),
    )


async def lags(pipeline: Pipeline) -> dict[str, int]:
    """Messages each consumer group of the run has not yet committed past.

    Every group whose name starts with the worker's app id (Faust's own group, the sink's)
    and the alert service's group count, over the partitions they committed; the worker's
    group must also cover all of ``readings`` and the alert service's all of ``alerts``
    (their documented inputs), where a partition it never committed counts in full.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.stack.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.stack.kafka_bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        inputs = {
            pipeline.app_id: pipeline.topic("readings"),
            pipeline.alerts_group: pipeline.topic("alerts"),
        }
        groups = {str(g[0]) for g in await admin.list_consumer_groups()}
        groups = {g for g in groups if g.startswith(pipeline.app_id)} | set(inputs)
        result: dict[str, int] = {}
        for group in sorted(groups):
            committed = {
                tp: meta.offset
                for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
            }
            if group in inputs:
                for p in range(pipeline.stack.partitions):
                    committed.setdefault(TopicPartition(inputs[group], p), 0)
            end = await consumer.end_offsets(list(committed))
            result[group] = sum(max(0, end[tp] - offset) for tp, offset in committed.items())
        return result
    finally:
        await consumer.stop()
        await admin.close()


async def wait_committed(pipeline: Pipeline, timeout_s: float = 60.0) -> None:
    """Until the worker has committed everything on ``readings`` up to now (steady state)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.stack.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.stack.kafka_bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    readings = [
        TopicPartition(pipeline.topic("readings"), p) for p in range(pipeline.stack.partitions)
    ]
    try:
        end = await consumer.end_offsets(readings)
        async with asyncio.timeout(timeout_s):
            while True:
                pipeline.check_alive()
                done = await admin.list_consumer_group_offsets(pipeline.app_id)
                if all(tp in done and done[tp].offset >= end[tp] for tp in readings if end[tp]):
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        msg = f"the worker did not commit its progress on readings within {timeout_s:.0f} s"
        raise AssertionError(msg + "\n" + pipeline.logs()) from None
    finally:
        await consumer.stop()
        await admin.close()


@dataclass
class Expectation:
    """What the ledger says the run's state must contain."""

    ledger: Ledger
    points: dict[str, LinePoint]  # observation id → its InfluxDB point

    @classmethod
    def of(cls, ledger: Ledger) -> Expectation:
        """Expected points of every reading sent (the driver sends numeric readings only)."""
        points: dict[str, LinePoint] = {}
        for s in ledger:
            point = to_point(s.observation)
            assert point is not None, s.describe()
            points[s.id] = point
        keys = Counter(p.key() for p in points.values())
        assert max(keys.values(), default=1) == 1, "the driver gave two readings one point"
        return cls(ledger, points)

    @property
    def tag_names(self) -> list[str]:
        """The tags of a reading point."""
        first = next(iter(self.points.values()), None)
        return [name for name, _ in first.tags] if first else []

    def missing(self, evidence: Evidence) -> dict[str, list[Sent]]:
        """Acknowledged readings not (yet) where they must be, by place."""
        acked = self.ledger.acked()
        return {
            "Kafka readings": [s for s in acked if s.id not in evidence.readings],
            "InfluxDB": [s for s in acked if self.points[s.id].key() not in evidence.points],
            "alert queue": [
                s
                for s in acked
                if s.crisis and (s.observation.subject_id, CRISIS_RULE) not in evidence.cases
            ],
        }

    def problems(self, evidence: Evidence) -> list[str]:
        """Everything wrong with the final state (empty: the run is correct)."""
        problems = [
            f"{len(lost)} acknowledged reading(s) missing from {place}: "
            + "; ".join(s.describe() for s in lost[:5])
            for place, lost in self.missing(evidence).items()
            if lost
        ]
        for s in self.missing(evidence)["alert queue"]:
            raised = [
                a
                for a in evidence.alerts
                if a.get("subject_id") == s.observation.subject_id
                and a.get("rule_id") == CRISIS_RULE
            ]
            problems.append(
                f"  {s.id}: {len(raised)} {CRISIS_RULE} alert(s) for its resident on the alerts "
                + (
                    "topic, so the alert service did not open the case"
                    if raised
                    else "topic: the worker never raised it"
                )
                + "".join(f"\n    {json.dumps(a)[:400]}" for a in raised)
            )
        sent = {s.id for s in self.ledger}
        strangers = set(evidence.readings) - sent
        if strangers:
            problems.append(f"{len(strangers)} observation(s) on Kafka the driver never sent")
        delivered = {i for i in sent if i in evidence.readings}
        expected = {self.points[i].key(): self.points[i] for i in delivered}
        extra = set(evidence.points) - set(expected)
        if extra:
            problems.append(
                f"{len(extra)} InfluxDB point(s) that belong to no delivered observation "
                f"(a duplicate under another time, or a stranger): {sorted(extra)[:3]}"
            )
        wrong = [
            key
            for key, point in expected.items()
            if key in evidence.points and evidence.points[key] != dict(point.fields)
        ]
        if wrong:
            problems.append(f"{len(wrong)} InfluxDB point(s) with other values than sent")
        unacked = [s for s in self.ledger.crises() if not s.acked]
        if unacked:  # without them "alerts still arrive" would prove nothing
            problems.append(
                "crisis reading(s) never acknowledged: " + "; ".join(s.describe() for s in unacked)
            )
        crises = {(s.observation.subject_id, CRISIS_RULE) for s in self.ledger.crises()}
        doubled = {k: n for k, n in evidence.cases.items() if n > 1}
        if doubled:
            problems.append(f"duplicate cases (subject, rule) → count: {doubled}")
        unexpected = set(evidence.cases) - crises
        if unexpected:
            problems.append(f"unexpected cases: {sorted(unexpected)}")
        if evidence.rejected:
            reasons = Counter(str(r.get("reason"))[:80] for r in evidence.rejected)
            problems.append(f"{len(evidence.rejected)} dead letter(s): {dict(reasons)}")
        return problems


@dataclass
class Verdict:
    """The final state of a correct run, and its counts for the test's log."""

    evidence: Evidence
    summary: dict[str, Any]


async def verify(pipeline: Pipeline, ledger: Ledger, timeout_s: float = 180.0) -> Verdict:
    """Wait for the acknowledged readings to arrive everywhere, then for quiet; judge.

    Raises:
        AssertionError: with what is missing or wrong, the ledger's counts and the logs.
    """
    expect = Expectation.of(ledger)
    started = time.monotonic()
    deadline = started + timeout_s
    evidence = Evidence()
    while True:
        pipeline.check_alive()
        evidence = await gather(pipeline, expect.tag_names)
        missing = expect.missing(evidence)
        if not any(missing.values()):
            break
        if time.monotonic() > deadline:
            report = "; ".join(f"{place}: {len(m)}" for place, m in missing.items() if m)
            msg = (
                f"after {timeout_s:.0f} s acknowledged readings are still missing ({report})\n"
                + "\n".join(expect.problems(evidence))
                + f"\nledger: {ledger.summary()}\n"
                + pipeline.logs()
            )
            raise AssertionError(msg)
        await asyncio.sleep(2.0)
    arrived_s = time.monotonic() - started
    await wait_quiet(pipeline, max(30.0, deadline - time.monotonic()))
    evidence = await gather(pipeline, expect.tag_names)
    problems = expect.problems(evidence)
    summary = {
        "ledger": ledger.summary(),
        "on_kafka": sum(evidence.readings.values()),
        "distinct_on_kafka": len(evidence.readings),
        "influx_points": len(evidence.points),
        "cases": len(evidence.cases),
        "arrived_after_s": round(arrived_s, 1),
    }
    assert not problems, "\n".join(problems) + f"\n{summary}\n" + pipeline.logs()
    return Verdict(evidence, summary)


async def wait_quiet(pipeline: Pipeline, timeout_s: float) -> None:
    """Until every consumer group of the run is at the end of its topics and the outbox is empty."""
    last: dict[str, int] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                pipeline.check_alive()
                last = await lags(pipeline)
                if last and all(v == 0 for v in last.values()) and not pipeline.outbox_depth():
                    return
                await asyncio.sleep(1.0)
    except TimeoutError:
        msg = (
            f"the pipeline did not go quiet within {timeout_s:.0f} s: lags {last}, "
            f"outbox {pipeline.outbox_depth()}\n" + pipeline.logs()
        )
        raise AssertionError(msg) from None


def crisis_subjects(pipeline: Pipeline, phase: Phase) -> set[str]:
    """The pseudonyms of ``phase``'s crisis residents."""
    secret = pipeline.secret.encode()
    return {pseudonymise(d.resident, secret) for d in pipeline.station.crisis_devices(phase)}


async def wait_cases(pipeline: Pipeline, phase: Phase, timeout_s: float = 120.0) -> float:
    """Until ``phase``'s crises are cases in the alert service; returns the seconds it took."""
    wanted = {(s, CRISIS_RULE) for s in crisis_subjects(pipeline, phase)}
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            while not wanted <= set(case_counts(pipeline)):
                pipeline.check_alive()
                await asyncio.sleep(0.5)
    except TimeoutError:
        msg = f"the {phase} crisis cases did not open within {timeout_s:.0f} s\n" + pipeline.logs()
        raise AssertionError(msg) from None
    return time.monotonic() - started


async def wait_raised(pipeline: Pipeline, phase: Phase, timeout_s: float = 120.0) -> None:
    """Until the worker raised ``phase``'s crisis alerts on the ``alerts`` topic."""
    wanted = crisis_subjects(pipeline, phase)
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                pipeline.check_alive()
                alerts = await read_topic(pipeline.stack.kafka_bootstrap, pipeline.topic("alerts"))
                raised = {a.get("subject_id") for a in alerts if a.get("rule_id") == CRISIS_RULE}
                if wanted <= raised:
                    return
                await asyncio.sleep(1.0)
    except TimeoutError:
        msg = f"the {phase} crisis alerts were not raised within {timeout_s:.0f} s\n"
        raise AssertionError(msg + pipeline.logs()) from None


async def wait_stored(pipeline: Pipeline, count: int, timeout_s: float = 120.0) -> None:
    """Until the run's bucket holds at least ``count`` reading points (the sink writes)."""
    points: dict[PointKey, Any] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while len(points) < count:
                pipeline.check_alive()
                await asyncio.sleep(0.5)
                points = await influx_points(pipeline, ["subject", "kind"])
    except TimeoutError:
        msg = f"only {len(points)} of {count} readings reached InfluxDB in {timeout_s:.0f} s\n"
        raise AssertionError(msg + pipeline.logs()) from None
