"""``carepulse demo``: a simulated station end to end, on the local stack.

One run, isolated from every other by its own topic prefix, InfluxDB buckets, Faust app id,
alert database and consumer groups:

1. InfluxDB buckets for the run (``storage`` set-up);
2. the stream worker (``carepulse worker``) and the alert service (``carepulse alerts
   serve``) as subprocesses, with a supervisor login and the scenario's residents (names
   invented for the demo, keyed by pseudonym) in the alert service;
3. the scenario: virtual BLE devices and the gateway in this process, MQTT devices on
   Mosquitto (``simulators.runner``);
4. a summary compared with the scenario's ground truth: what was sent, what reached
   InfluxDB, what was rejected and why, and which expected alerts became cases.

The services keep running with ``--serve`` so the dashboard can be looked at; otherwise
they stop after the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from sqlalchemy import create_engine, text

from carepulse.kafka_lag import wait_caught_up
from carepulse.settings import StackSettings, state_dir
from carepulse.topics import Topics
from simulators.mqtt_devices import broker_settings_from, provision_mqtt_logins
from simulators.runner import anchor_start, gateway_settings, run_scenario
from simulators.scenario import load_scenario, plan
from simulators.truth import ground_truth
from storage.config import StorageSettings
from storage.setup import StorageSetup

DEFAULT_SCENARIO = Path(__file__).with_name("scenarios") / "default.toml"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "建国秀英桂兰玉珍淑芬志强国华丽娟明德海燕春梅"


@dataclass(frozen=True, slots=True)
class DemoRun:
    """Names and places of one demo run."""

    run_id: str
    folder: Path
    prefix: str
    readings_bucket: str
    metrics_bucket: str
    port: int
    password: str

    @property
    def database_url(self) -> str:
        """The alert service's SQLite file."""
        return f"sqlite:///{self.folder / 'alerts.db'}"

    @property
    def app_id(self) -> str:
        """The worker's Faust app id (its consumer group)."""
        return f"carepulse-demo-{self.run_id}"

    @property
    def alerts_group(self) -> str:
        """The alert service's consumer group."""
        return f"carepulse-demo-alerts-{self.run_id}"

    def consumer_groups(self) -> dict[str, tuple[str, ...]]:
        """The run's consumer groups and the topics each must read to the end."""
        return {
            self.app_id: (f"{self.prefix}readings",),
            f"{self.app_id}-sink": (),
            self.alerts_group: (f"{self.prefix}alerts",),
        }

    def env(self) -> dict[str, str]:
        """The environment of the worker and the alert service."""
        return dict(
            os.environ,
            CAREPULSE_TOPIC_PREFIX=self.prefix,
            CAREPULSE_INFLUX_BUCKET=self.readings_bucket,
            CAREPULSE_METRICS_BUCKET=self.metrics_bucket,
            CAREPULSE_APP_ID=self.app_id,
            CAREPULSE_DATADIR=str(self.folder / "faust"),
            CAREPULSE_RESIDENTS_FILE=str(self.folder / "residents.toml"),
            CAREPULSE_DATABASE_URL=self.database_url,
            CAREPULSE_CONSUMER_GROUP=self.alerts_group,
            CAREPULSE_LISTEN_PORT=str(self.port),
            CAREPULSE_ALERTS_PASSWORD=self.password,
        )


#: Hours a device of each kind may be silent before the worker calls it offline, in the
#: demo (the worker's default is 24 h for every kind). A band is worn by day and charged
#: at night; scales, BP meters, thermometers and glucose meters are used about once a
#: day, and the scenario lets residents skip a day. An oximeter used twice a day keeps
#: the default: the scenario's uncharged oximeter is the device that must go offline.
DEMO_OFFLINE_HOURS = {
    "hr_band": 60.0,
    "scale": 72.0,
    "bp_meter": 72.0,
    "thermometer": 72.0,
    "glucose_meter": 72.0,
}
#: Wall seconds between two watchdog checks in the demo (300 s on a real station).
DEMO_WATCHDOG_INTERVAL_S = 1.0


def watchdog_env(speed: float) -> dict[str, str]:
    """The worker's watchdog settings for a run at ``speed`` simulated seconds per second.

    Simulation only: the watchdog's silences are wall seconds times ``speed``, checked
    every second, so the scenario's hours and days of silence reach their thresholds.
    """
    return {
        "CAREPULSE_WATCHDOG_TIME_SCALE": repr(speed),
        "CAREPULSE_WATCHDOG_INTERVAL_S": repr(DEMO_WATCHDOG_INTERVAL_S),
        "CAREPULSE_DEVICE_OFFLINE_HOURS_BY_KIND": json.dumps(DEMO_OFFLINE_HOURS),
    }


def new_run(port: int) -> DemoRun:
    """A fresh run id and folder under the state folder."""
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    folder = state_dir() / "demo" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return DemoRun(
        run_id=run_id,
        folder=folder,
        prefix=f"demo{run_id}.",
        readings_bucket=f"demo{run_id}_readings",
        metrics_bucket=f"demo{run_id}_metrics",
        port=port,
        password=secrets.token_urlsafe(12),
    )


def carepulse(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``carepulse ARGS`` as a subprocess (output to ``log``)."""
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(  # noqa: S603  # our own command line
            [sys.executable, "-m", "carepulse", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]  # a file when log is given


def residents_csv(truth: dict[str, Any], station: str) -> str:
    """Invented names and phone numbers for the demo's residents, keyed by pseudonym."""
    lines = ["subject_id,station_id,name,phone,conditions,consent"]
    for n, resident in enumerate(truth["residents"]):
        name = SURNAMES[n % len(SURNAMES)] + GIVEN[(3 * n) % len(GIVEN)]
        conditions = ";".join(resident.get("conditions", []))
        lines.append(f"{resident['subject']},{station},{name},1380000{n:04d},{conditions},given")
    return "\n".join(lines) + "\n"


async def create_topics(stack: StackSettings, prefix: str) -> None:
    """The run's topics, made before the worker starts (Faust ignores missing ones)."""
    names = [*Topics.with_prefix(prefix).all(), f"{prefix}readings.valid"]
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=stack.partitions, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()


async def wait_http(url: str, timeout_s: float) -> None:
    """Until ``url`` answers (any status)."""
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await client.get(url)
                return
            await asyncio.sleep(0.5)


async def wait_log(path: Path, needle: str, timeout_s: float) -> None:
    """Until ``needle`` appears in a log file."""
    async with asyncio.timeout(timeout_s):
        while not (path.exists() and needle in path.read_text(errors="replace")):
            await asyncio.sleep(0.5)


async def count_topic(bootstrap: str, topic: str) -> Counter[str]:
    """Messages on a topic from the start, counted by their ``reason`` (dead letters)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    reasons: Counter[str] = Counter()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    data = json.loads(record.value or b"{}")
                    reasons[str(data.get("reason", "?"))] += 1
    finally:
        await consumer.stop()
    return reasons


async def stored_readings(storage: StorageSettings) -> Counter[tuple[str, str]]:
    """Readings in the run's InfluxDB bucket by (subject, kind), each observation once."""
    # A reading is one (subject, kind, time) series point, however many fields it has.
    flux = (
        f'from(bucket: "{storage.influx_bucket}") |> range(start: 0)'
        ' |> filter(fn: (r) => r._measurement == "reading")'
        ' |> keep(columns: ["_time", "subject", "kind"])'
        ' |> group(columns: ["subject", "kind"]) |> unique(column: "_time")'
        ' |> map(fn: (r) => ({r with n: 1})) |> sum(column: "n")'
    )
    async with InfluxDBClientAsync(
        url=storage.influx_url,
        token=storage.influx_token.get_secret_value(),
        org=storage.influx_org,
    ) as client:
        tables = await client.query_api().query(flux)
    return Counter(
        {
            (str(r.values["subject"]), str(r.values["kind"])): int(r.values["n"])
            for table in tables
            for r in table.records
        }
    )


def missing_readings(
    truth: dict[str, Any],
    stored: Counter[tuple[str, str]],
    given_up: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Expected observations not in storage, by ``resident/kind`` (empty on a good run).

    ``given_up`` (the run's band readings no central ever received, by ``resident/kind``)
    are not expected: the gateway could not have received them.
    """
    subjects = {r["resident"]: r["subject"] for r in truth["residents"]}
    unsent = given_up or {}
    missing = {}
    for key, expected in truth["counts"]["observations"].items():
        resident, _, kind = key.partition("/")
        short = expected - unsent.get(key, 0) - stored.get((subjects[resident], kind), 0)
        if short > 0:
            missing[key] = short
    return missing


def cases(run: DemoRun) -> list[tuple[str, str, str, int]]:
    """(rule, subject, severity, repeats) of every case the alert service opened."""
    engine = create_engine(run.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT rule_id, subject_id, severity, repeat_count FROM cases")
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def received_times(bootstrap: str, topic: str) -> dict[str, datetime]:
    """``received_at`` (the gateway's receipt) of every observation on ``topic``, by id."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    times: dict[str, datetime] = {}
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    data = json.loads(record.value or b"{}")
                    times[data["observation_id"]] = datetime.fromisoformat(data["received_at"])
    finally:
        await consumer.stop()
    return times


async def alert_latencies(
    bootstrap: str, topic: str, received: dict[str, datetime]
) -> dict[str, Any]:
    """Gateway receipt of the newest evidence reading → the alert on the ``alerts`` topic.

    Each firing alert's Kafka record timestamp (when the worker produced it) minus the
    latest ``received_at`` among the readings in its evidence. Under time acceleration a
    device-stamped reading is received long after it was measured, so receipt is the start.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    delays: list[float] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    alert = json.loads(record.value or b"{}")
                    if alert.get("status") != "firing":
                        continue
                    ids = [r.get("observation_id") for r in alert["evidence"].get("readings", [])]
                    stamps = [received[i] for i in ids if i in received]
                    if stamps:
                        produced = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                        delays.append((produced - max(stamps)).total_seconds())
    finally:
        await consumer.stop()
    if not delays:
        return {"alerts": 0}
    ordered = sorted(delays)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "alerts": len(ordered),
        "p50_s": pick(0.5),
        "p99_s": pick(0.99),
        "max_s": round(ordered[-1], 3),
    }


def compare_alerts(truth: dict[str, Any], found: list[tuple[str, str, str, int]]) -> dict[str, Any]:
    """Expected alerts against the cases opened (matched by rule and subject)."""
    watchdog_rules = {w["rule_id"] for w in truth.get("watchdog", [])}
    expected = {(a["rule_id"], a["subject"]) for a in truth["alerts"]}
    opened = {(rule, subject) for rule, subject, _, _ in found if rule not in watchdog_rules}
    allowed = [(m["subject"], m["rule_prefix"]) for m in truth.get("may_fire", [])]
    unexpected = {
        (rule, subject)
        for rule, subject in opened - expected
        if not any(subject == s and rule.startswith(p) for s, p in allowed)
    }
    per_rule: dict[str, dict[str, int]] = {}
    for rule, subject in expected | opened:
        row = per_rule.setdefault(rule, {"expected": 0, "found": 0, "missed": 0, "unexpected": 0})
        if (rule, subject) in expected:
            row["expected"] += 1
            row["found" if (rule, subject) in opened else "missed"] += 1
        elif (rule, subject) in unexpected:
            row["unexpected"] += 1
    duplicated = sum(1 for c in Counter((r, s) for r, s, _, _ in found).values() if c > 1)
    # Watchdog alerts are compared by rule and resident: the stream raises device alerts
    # under the pseudonym of the resident the device belongs to. ``other`` counts cases
    # of the rule under any other subject (a device whose resident the stream had not
    # learned yet keeps a device pseudonym).
    watched = {(w["rule_id"], w["subject"]) for w in truth.get("watchdog", [])}
    raised = {(rule, subject) for rule, subject, _, _ in found if rule in watchdog_rules}
    watchdog = {
        rule: {
            "expected": sum(1 for r, _ in watched if r == rule),
            "found": sum(1 for r, _ in watched & raised if r == rule),
            "other": sum(1 for r, _ in raised - watched if r == rule),
        }
        for rule in sorted(watchdog_rules)
    }
    return {
        "expected": len(expected),
        "found": len(expected & opened),
        "missed": sorted(f"{r} {s}" for r, s in expected - opened),
        "unexpected": sorted(f"{r} {s}" for r, s in unexpected),
        "duplicated_cases": duplicated,
        "by_rule": dict(sorted(per_rule.items())),
        "watchdog": watchdog,
    }


async def run_demo(
    scenario_file: Path, duration_s: float, port: int, serve: bool
) -> dict[str, Any]:
    """Run the whole demo; returns the summary."""
    stack = StackSettings.load()
    run = new_run(port)
    storage = StorageSettings.load(
        influx_bucket=run.readings_bucket, metrics_bucket=run.metrics_bucket
    )
    async with InfluxDBClientAsync(
        url=storage.influx_url,
        token=storage.influx_token.get_secret_value(),
        org=storage.influx_org,
    ) as client:
        await StorageSetup(client, storage).run()

    scenario = load_scenario(scenario_file)
    speed = scenario.days * 86400.0 / duration_s
    planned = plan(scenario, start=anchor_start(scenario, scenario.days, speed, datetime.now(UTC)))
    truth = ground_truth(planned).as_dict(speed=speed)
    (run.folder / "registry.toml").write_text(planned.registry_toml(), encoding="utf-8")
    (run.folder / "residents.toml").write_text(planned.residents_toml(), encoding="utf-8")
    (run.folder / "truth.json").write_text(json.dumps(truth, indent=2), encoding="utf-8")
    station = str(truth["station_id"])
    (run.folder / "people.csv").write_text(residents_csv(truth, station), encoding="utf-8")

    await create_topics(stack, run.prefix)
    env = {**run.env(), **watchdog_env(speed)}
    for args in (
        ("alerts", "users", "add", "demo", "--role", "supervisor", "--display-name", "Demo"),
        ("alerts", "residents", "import", str(run.folder / "people.csv")),
    ):
        subprocess.run(  # noqa: S603  # our own command line
            [sys.executable, "-m", "carepulse", *args], env=env, check=True, capture_output=True
        )
    worker = carepulse("worker", env=env, log=run.folder / "worker.log")
    alerts = carepulse("alerts", "serve", env=env, log=run.folder / "alerts.log")
    started = time.monotonic()
    try:
        await wait_http(f"http://127.0.0.1:{port}/", 60)
        await wait_log(run.folder / "worker.log", "Ready", 120)
        # Each MQTT device, the proxy and the gateway log in as themselves, under the ACL.
        logins = await asyncio.to_thread(provision_mqtt_logins, planned)
        summary = await run_scenario(
            planned,
            speed=speed,
            broker=broker_settings_from(stack, f"carepulse-demo-devices-{run.run_id}"),
            gateway=gateway_settings(planned, run.folder, topic_prefix=run.prefix, logins=logins),
            state_dir=run.folder,
            logins=logins,
            drain_timeout_s=120.0,
        )
        # The worker reads the readings, its sink writes them to InfluxDB, and the alert
        # service takes its alerts into the queue: wait until each has committed all.
        lag = await wait_caught_up(stack.kafka_bootstrap, run.consumer_groups(), 180.0)
        found = cases(run)
        received = await received_times(stack.kafka_bootstrap, f"{run.prefix}readings")
        latency = await alert_latencies(stack.kafka_bootstrap, f"{run.prefix}alerts", received)
        stored = await stored_readings(storage)
        rejected = await count_topic(stack.kafka_bootstrap, f"{run.prefix}readings.rejected")
        expected_obs = int(truth["counts"]["observations_total"]) - sum(summary.given_up.values())
        missing = missing_readings(truth, stored, summary.given_up)
        result = {
            "run": run.run_id,
            "scenario": str(scenario_file),
            "wall_s": round(time.monotonic() - started, 1),
            "sent": summary.as_dict()["readings_sent"],
            "undelivered_ble": summary.undelivered,
            "band_readings_given_up": dict(sorted(summary.given_up.items())),
            "drained": summary.drained,
            "lag_at_end": lag,
            "expected_observations": expected_obs,
            "stored_in_influxdb": sum(stored.values()),
            "lost": sum(missing.values()),
            "lost_by": missing,
            "rejected": dict(rejected),
            "alerts": compare_alerts(truth, found),
            "latency_receipt_to_alert": latency,
            "dashboard": f"http://127.0.0.1:{port}/ (user demo, password {run.password})",
            "reports": render_reports(run, truth, env),
            "alerts_db": run.database_url,
            "serving": serve,
            "folder": str(run.folder),
        }
        if serve:
            click.echo(summary_text(result))
            click.echo("services running; Ctrl-C stops them")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return result
    finally:
        for process in (worker, alerts):
            process.send_signal(signal.SIGTERM)
        for process in (worker, alerts):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def render_reports(run: DemoRun, truth: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    """The station's report and one resident's (the first with an expected alert).

    Each is ``carepulse report ...`` run on the run's buckets; a report that fails is
    named with its error instead of a path, and the demo goes on.
    """
    days = str(math.ceil(_days(truth)))
    wanted: dict[str, tuple[str, ...]] = {
        "station": ("station", "--days", days, "--enrolled", str(len(truth["residents"])))
    }
    if truth["alerts"]:
        subject = truth["alerts"][0]["subject"]
        wanted["resident"] = ("resident", str(subject), "--days", days)
    reports = {}
    for name, args in wanted.items():
        path = run.folder / f"report-{name}.html"
        done = subprocess.run(  # noqa: S603  # our own command line
            [sys.executable, "-m", "carepulse", "report", *args, "--output", str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        error = done.stderr.strip().splitlines()[-1:] if done.returncode else []
        reports[name] = f"failed: {error[0] if error else done.returncode}" if error else str(path)
    return reports


def _days(truth: dict[str, Any]) -> float:
    """The simulated period in days, counting the day it started."""
    start = datetime.fromisoformat(str(truth["start"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(truth["end"]).replace("Z", "+00:00"))
    return (end - start).total_seconds() / 86400 + 1


def summary_text(result: dict[str, Any]) -> str:
    """The summary for people: counts against the truth, latency, where to look."""
    alerts = result["alerts"]
    latency = result["latency_receipt_to_alert"]
    rejected = sum(result["rejected"].values())
    lines = [
        f"carepulse demo {result['run']}: {result['scenario']} in {result['wall_s']} s",
        f"  readings  {result['sent']} sent, {result['expected_observations']} expected,"
        f" {result['stored_in_influxdb']} stored, {result['lost']} lost,"
        f" {rejected} rejected with a reason",
        f"  alerts    {alerts['expected']} expected, {alerts['found']} found,"
        f" {len(alerts['missed'])} missed, {len(alerts['unexpected'])} unexpected,"
        f" {alerts['duplicated_cases']} duplicated cases",
    ]
    for rule, count in sorted(alerts["watchdog"].items()):
        other = f", {count['other']} under another subject" if count.get("other") else ""
        lines.append(f"  watchdog  {rule}: {count['found']} of {count['expected']}{other}")
    if latency.get("alerts"):
        lines.append(
            f"  latency   gateway receipt -> alert: p50 {latency['p50_s'] * 1000:.0f} ms,"
            f" p99 {latency['p99_s'] * 1000:.0f} ms ({latency['alerts']} alerts)"
        )
    for reason, count in sorted(result["rejected"].items()):
        lines.append(f"  rejected  {count} x {reason}")
    for key, count in sorted(result.get("band_readings_given_up", {}).items()):
        lines.append(f"  unsent    {count} x {key} (a band gave it up: no central subscribed)")
    for key, count in sorted(result["lost_by"].items()):
        lines.append(f"  LOST      {count} x {key}")
    for missed in alerts["missed"]:
        lines.append(f"  MISSED    {missed}")
    lines.append(f"  dashboard {result['dashboard']}")
    if not result.get("serving"):
        lines.append(
            "            (stopped with the demo; `carepulse demo --serve` keeps it up, or serve"
            f" this run's queue again: CAREPULSE_DATABASE_URL={result['alerts_db']}"
            " carepulse alerts serve)"
        )
    for name, path in result["reports"].items():
        lines.append(f"  report    {name}: {path}")
    lines.append(f"  folder    {result['folder']} (truth.json, logs, alerts.db)")
    return "\n".join(lines)


@click.command()
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_SCENARIO,
    show_default=True,
)
@click.option("--duration", type=float, default=300.0, show_default=True, help="Wall seconds.")
@click.option("--port", type=int, default=8400, show_default=True, help="Dashboard port.")
@click.option("--serve", is_flag=True, help="Keep the services running after the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(scenario_file: Path, duration: float, port: int, serve: bool, as_json: bool) -> None:
    """Run a simulated station end to end on the local stack and compare with its truth."""
    result = asyncio.run(run_demo(scenario_file, duration, port, serve))
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(summary_text(result))
