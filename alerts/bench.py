"""``python -m alerts.bench``: queue page latency with 10,000 open cases, and alert ingest rate.

1. Fills a fresh case store (SQLite in a temporary folder, or ``--database-url``) with
   ``--cases`` open cases of one station through :meth:`CaseStore.ingest` (store ingest rate).
2. Serves the real app with uvicorn on loopback and times ``--requests`` GETs of the queue
   page (HTML, first 50 rows, as a social worker of that station) and of ``/api/v1/cases``:
   p50 and p95 in milliseconds (goal: p95 under 200 ms).
3. If the stack's Kafka answers, produces ``--kafka-alerts`` alerts to a fresh topic and times
   :class:`AlertConsumer` until all are stored (end-to-end ingest rate from Kafka).
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import uvicorn

from alerts.store import CaseStore, Role
from alerts.web import WebConfig, create_app
from carepulse.alert import Alert, Category, Severity, Status, alert_id_for
from carepulse.settings import StackSettings

SEVERITIES = list(Severity)
RULES = [
    "bp.urgent_referral",
    "news2.medium",
    "vitals.fever",
    "glucose.hyper",
    "anthropometry.obese",
]


def make_alerts(
    n: int, *, station: str = "st-bench", start: datetime | None = None, tag: str = ""
) -> list[Alert]:
    """``n`` firing alerts for ``n`` residents (one case each), mixed severities and ages."""
    start = start or datetime.now(UTC) - timedelta(days=3)
    out = []
    for i in range(n):
        subject = f"{i:032x}"
        rule = RULES[i % len(RULES)]
        at = start + timedelta(seconds=17 * i)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(
            Alert(
                alert_id=alert_id_for(station, subject, rule, f"{tag}{i}"),
                station_id=station,
                subject_id=subject,
                rule_id=rule,
                severity=SEVERITIES[(i * 7) % 4],
                category=Category.CLINICAL,
                status=Status.FIRING,
                reason=f"Benchmark alert {i}: blood pressure 182/112 mmHg.",
                source="benchmark",
                raised_at=at,
                evidence={
                    "readings": [
                        {
                            "observation_id": f"o{i}",
                            "kind": "blood_pressure",
                            "measured_at": stamp,
                            "values": {"systolic_mmhg": 182.0, "diastolic_mmhg": 112.0},
                        }
                    ]
                },
            )
        )
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_requests(base: str, cookies: httpx.Cookies, path: str, n: int) -> dict[str, float]:
    timings = []
    with httpx.Client(base_url=base, cookies=cookies, timeout=30) as client:
        client.get(path).raise_for_status()  # warm-up
        for _ in range(n):
            t0 = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "max_ms": round(max(timings), 1),
        "requests": n,
    }


async def kafka_rate(store: CaseStore, n: int) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from alerts.consumer import AlertConsumer

    settings = StackSettings.load()
    host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return {"skipped": f"Kafka not reachable at {settings.kafka_bootstrap}"}
    topic = f"bench.alerts.{uuid.uuid4().hex[:8]}"
    alerts = make_alerts(n, station="st-kafka", tag="k")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        for a in alerts:
            await producer.send(topic, a.to_json(), key=a.subject_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AlertConsumer(
        store, bootstrap=settings.kafka_bootstrap, topic=topic, group=f"bench-{topic}"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    t0 = time.perf_counter()
    while consumer.stats.messages < n:
        await asyncio.sleep(0.01)
        if time.perf_counter() - t0 > 300:
            break
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    return {
        "alerts": consumer.stats.messages,
        "seconds": round(elapsed, 2),
        "alerts_per_s": round(consumer.stats.messages / elapsed, 1),
        "batches": consumer.stats.batches,
    }


def run_bench(
    cases: int, requests: int, kafka_alerts: int, database_url: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="carepulse-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        store = CaseStore(CaseStore.engine_for(url))
        store.create_schema()
        user = store.add_user(
            f"bench-{uuid.uuid4().hex[:6]}", "bench-password", Role.SOCIAL_WORKER, "st-bench"
        )
        alerts = make_alerts(cases, tag=uuid.uuid4().hex[:6])
        t0 = time.perf_counter()
        for i in range(0, len(alerts), 500):
            store.ingest(alerts[i : i + 500])
        ingest_s = time.perf_counter() - t0
        app = create_app(store, WebConfig(secret_key=uuid.uuid4().hex * 2))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            login = httpx.post(
                f"{base}/api/v1/session",
                json={"username": user.username, "password": "bench-password"},
            )
            login.raise_for_status()
            page = time_requests(base, login.cookies, "/", requests)
            api = time_requests(base, login.cookies, "/api/v1/cases?limit=50", requests)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        kafka = (
            asyncio.run(kafka_rate(store, kafka_alerts))
            if kafka_alerts
            else {"skipped": "--kafka-alerts 0"}
        )
        store.engine.dispose()
    return {
        "database": url.split("://", 1)[0],
        "open_cases": cases,
        "store_ingest": {
            "alerts": cases,
            "seconds": round(ingest_s, 2),
            "alerts_per_s": round(cases / ingest_s, 1),
        },
        "queue_page_html": page,
        "queue_api_json": api,
        "kafka_ingest": kafka,
        "goal_p95_ms": 200,
        "goal_met": page["p95_ms"] < 200,
    }


@click.command()
@click.option("--cases", type=int, default=10_000, show_default=True)
@click.option("--requests", type=int, default=200, show_default=True)
@click.option("--kafka-alerts", type=int, default=5_000, show_default=True, help="0 skips Kafka.")
@click.option("--database-url", default=None, help="Another store, e.g. the stack's PostgreSQL.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def main(
    cases: int, requests: int, kafka_alerts: int, database_url: str | None, as_json: bool
) -> None:
    """Queue page latency with many open cases, and alert ingest rate."""
    result = run_bench(cases, requests, kafka_alerts, database_url)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"database            {result['database']}")
    click.echo(f"open cases          {result['open_cases']}")
    s = result["store_ingest"]
    click.echo(
        f"store ingest        {s['alerts_per_s']} alerts/s ({s['alerts']} in {s['seconds']} s)"
    )
    for name in ("queue_page_html", "queue_api_json"):
        r = result[name]
        click.echo(f"{name:<19} p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  max {r['max_ms']} ms")
    k = result["kafka_ingest"]
    if "skipped" in k:
        click.echo(f"kafka ingest        skipped: {k['skipped']}")
    else:
        click.echo(
            f"kafka ingest        {k['alerts_per_s']} alerts/s ({k['alerts']} in {k['seconds']} s)"
        )
    click.echo(f"goal p95 < 200 ms   {'met' if result['goal_met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
