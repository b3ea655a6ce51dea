"""``carepulse bench``: run every benchmark, keep the JSON, and fill docs/benchmarks.md.

Each benchmark is its package's own command (``python -m edge.bench --json`` and so on),
run here as a subprocess so that one benchmark's memory and threads do not colour the
next. The figures each issue set a goal for are picked out of the JSON into one table,
next to their goals; the whole JSON of every run is kept beside it.

    carepulse bench                      # all, full size (about 15 minutes)
    carepulse bench --quick              # all, small sizes (a smoke run, not for the docs)
    carepulse bench --only decode --only storage
    carepulse bench --docs docs/benchmarks.md --out docs/benchmarks.json

Everything except ``decode`` needs the local stack (``carepulse stack up``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from carepulse.settings import CarepulseSettings

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- carepulse bench: begin (generated; edit outside these markers) -->"
END = "<!-- carepulse bench: end -->"

Row = tuple[str, str, str]  # figure, value, goal


def _get(data: dict[str, Any], *keys: str) -> Any:
    """``data[k1][k2]...``, or None when any key is missing."""
    value: Any = data
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _num(value: Any, digits: int = 0, unit: str = "") -> str:
    if not isinstance(value, int | float):
        return "missing"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def _decode(d: dict[str, Any]) -> list[Row]:
    return [
        ("decode, µs per payload (ours)", _num(d.get("carepulse_us_per_payload"), 1), "—"),
        (
            "decode speed-up vs bluetooth-sig `parse_characteristic`",
            _num(d.get("speedup"), 1, "x"),
            "≥ 20x",
        ),
        ("payloads where bluetooth-sig is wrong", _num(d.get("disagreements")), "—"),
    ]


def _gateway(d: dict[str, Any]) -> list[Row]:
    return [
        ("gateway: decode → outbox → Kafka, obs/s", _num(d.get("gateway_obs_per_s")), "—"),
        ("gateway: ingest alone, obs/s", _num(d.get("ingest_obs_per_s")), "—"),
        ("gateway: uplink alone, obs/s", _num(d.get("uplink_obs_per_s")), "—"),
    ]


def _memory(d: dict[str, Any]) -> list[Row]:
    devices = d.get("devices", "?")
    return [
        (
            f"gateway memory with {devices} virtual BLE devices, MiB",
            _num(d.get("gateway_mb"), 1),
            "—",
        ),
        ("  devices connected", f"{d.get('connected', '?')} / {devices}", "all"),
    ]


def _load(d: dict[str, Any]) -> list[Row]:
    return [("load generator into Kafka, obs/s", _num(d.get("achieved_rate")), "≥ 20,000")]


def _worker(d: dict[str, Any]) -> list[Row]:
    rate = d.get("latency_rate", d.get("rate", 1000))
    return [
        ("worker: sustained obs/s (one worker)", _num(d.get("throughput_obs_per_s")), "10,000"),
        (f"worker: receipt → alert p50 at {rate}/s, ms", _num(d.get("latency_p50_ms")), "—"),
        (f"worker: receipt → alert p99 at {rate}/s, ms", _num(d.get("latency_p99_ms")), "< 500"),
    ]


def _scaleout(d: dict[str, Any]) -> list[Row]:
    moved = d.get("rebalance", {})
    return [
        ("one worker, end to end, obs/s", _num(d.get("one_worker_obs_per_s")), "—"),
        ("two workers on one machine, obs/s", _num(d.get("two_workers_obs_per_s")), "—"),
        ("  speed-up of the second worker", _num(d.get("speedup"), 2, "x"), "—"),
        (
            "residents' 1 h windows exact across a rebalance",
            f"{moved.get('windows_exact', '?')} / {moved.get('residents', '?')}",
            "all",
        ),
    ]


def _storage(d: dict[str, Any]) -> list[Row]:
    trials = _get(d, "throughput", "trials") or {}
    lines = trials.get("lines, 2 in flight, gzip 1, batch 5000", {})
    observations = trials.get("after: observations, reading_line, 2 in flight", {})
    return [
        (
            "InfluxDB: points/s, one writer, batched (lines, 2 in flight)",
            _num(lines.get("points_per_s")),
            "100,000",
        ),
        ("InfluxDB: points/s from Observations", _num(observations.get("points_per_s")), "—"),
        (
            "  writer speed-up over the first version",
            _num(_get(d, "throughput", "after_over_before"), 2, "x"),
            "—",
        ),
    ]


def _alerts(d: dict[str, Any]) -> list[Row]:
    page = d.get("queue_page_html", {})
    return [
        (
            f"queue page with {d.get('open_cases', '?')} open cases, p95 ms",
            _num(page.get("p95_ms")),
            "< 200",
        ),
        ("alert ingest from Kafka, alerts/s", _num(_get(d, "kafka_ingest", "alerts_per_s")), "—"),
    ]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark command, its full and quick sizes, and how to read its JSON."""

    name: str
    args: tuple[str, ...]
    full: tuple[str, ...]
    quick: tuple[str, ...]
    rows: Callable[[dict[str, Any]], list[Row]]
    needs_stack: bool = True

    def command(self, quick: bool) -> list[str]:
        """The command line (``python -m ...``) for a full or a quick run."""
        sizes = self.quick if quick else self.full
        return [sys.executable, "-m", *self.args, *sizes, "--json"]

    def shown(self, quick: bool) -> str:
        """The command as a person types it."""
        words = self.command(quick)[2:]
        if words[0] == "carepulse":
            return " ".join(words)
        return " ".join(["python", "-m", *words])


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("decode", ("edge.decoders.bench",), (), ("--number", "200"), _decode, False),
    Benchmark("gateway", ("edge.bench",), ("--count", "20000"), ("--count", "2000"), _gateway),
    Benchmark("gateway_memory", ("simulators.gateway_bench",), (), ("--residents", "2"), _memory),
    Benchmark(
        "load",
        ("carepulse", "simulate", "--load", "--devices", "1000", "--rate", "20000"),
        ("--duration", "30"),
        ("--duration", "3"),
        _load,
    ),
    Benchmark("worker", ("stream.bench",), (), ("--count", "2000", "--seconds", "5"), _worker),
    Benchmark(
        "scaleout",
        ("stream.scaleout",),
        (),
        ("--residents", "20", "--per-resident", "10"),
        _scaleout,
    ),
    Benchmark("storage", ("storage.bench",), (), ("--points", "20000"), _storage),
    Benchmark(
        "alerts", ("alerts.bench",), (), ("--cases", "500", "--kafka-alerts", "200"), _alerts
    ),
)


def print_result(result: dict[str, Any], as_json: bool) -> None:
    """A benchmark module's output: one JSON object (what ``carepulse bench`` reads) or lines."""
    if as_json:
        click.echo(json.dumps(result))
        return
    width = max((len(key) for key in result), default=0) + 2
    for key, value in result.items():
        shown = f"{value:,.0f}" if isinstance(value, float) and abs(value) >= 100 else value
        click.echo(f"{key:{width}}{shown}")


def _last_json(stdout: str) -> dict[str, Any]:
    """The last line of ``stdout`` that is a JSON object (the benchmark's result)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    msg = "the benchmark printed no JSON object"
    raise ValueError(msg)


def run_one(bench: Benchmark, quick: bool, timeout_s: float) -> dict[str, Any]:
    """Run one benchmark; returns its record (command, seconds, result or error)."""
    command = bench.command(quick)
    started = time.monotonic()
    record: dict[str, Any] = {"command": bench.shown(quick)}
    try:
        done = subprocess.run(  # noqa: S603  # our own benchmark modules
            command, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {timeout_s:.0f} s"
    else:
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            record["error"] = f"exit status {done.returncode}: {tail}"
        else:
            try:
                record["result"] = _last_json(done.stdout)
            except ValueError as exc:
                record["error"] = str(exc)
    record["wall_s"] = round(time.monotonic() - started, 1)
    return record


def _stack_versions() -> dict[str, str]:
    """The servers' versions, from the stack script's pins and the installed packages."""
    script = (ROOT / "scripts" / "stack").read_text(encoding="utf-8")
    versions = {}
    for name, variable in (("kafka", "KAFKA_VERSION"), ("influxdb", "INFLUXDB_VERSION")):
        match = re.search(rf"^{variable}=\$\{{CAREPULSE_{variable}:-([^}}]+)\}}", script, re.M)
        versions[name] = os.environ.get(f"CAREPULSE_{variable}") or (
            match.group(1) if match else "?"
        )
    cache = Path(os.environ.get("CAREPULSE_CACHE_DIR", Path.home() / ".cache" / "carepulse"))
    debs = sorted((cache / "mosquitto" / "debs").glob("mosquitto_*.deb"))
    versions["mosquitto"] = debs[-1].name.split("_")[1] if debs else "?"
    postgres = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    versions["postgresql"] = postgres[-1].parent.parent.name if postgres else "?"
    return versions


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    libraries = ("faust-streaming", "aiokafka", "influxdb-client", "paho-mqtt", "bleak", "bumble")
    versions = {}
    for name in libraries:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "servers": _stack_versions(),
        "libraries": versions,
    }


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607  # git from PATH
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return done.stdout.strip()


def table(report: dict[str, Any]) -> str:
    """The Markdown block that goes between the markers of docs/benchmarks.md."""
    m = report["machine"]
    servers = ", ".join(f"{k} {v}" for k, v in m["servers"].items())
    libraries = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    lines = [
        BEGIN,
        "",
        f"Measured {report['date']} at commit `{report['commit']}`"
        f"{' (quick sizes: a smoke run)' if report['quick'] else ''} with `carepulse bench`.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']};"
        f" Python {m['python']}.",
        f"- Servers: {servers}.",
        f"- Libraries: {libraries}.",
        "",
        "| Benchmark | Figure | Value | Goal |",
        "| --- | --- | --- | --- |",
    ]
    commands = []
    for bench in BENCHMARKS:
        record = report["runs"].get(bench.name)
        if record is None:
            continue
        commands.append(f"- {bench.name}: `{record['command']}` ({record['wall_s']} s)")
        if "error" in record:
            first = str(record["error"]).splitlines()[0]
            lines.append(f"| {bench.name} | failed: {first} | — | — |")
            continue
        for figure, value, goal in bench.rows(record["result"]):
            lines.append(f"| {bench.name} | {figure} | {value} | {goal} |")
    lines += ["", "Commands:", "", *commands, "", END]
    return "\n".join(lines)


def write_docs(path: Path, block: str) -> None:
    """Replace the generated block of ``path`` (or append one) with ``block``."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def run_all(names: Sequence[str], quick: bool, timeout_s: float) -> dict[str, Any]:
    """Run the chosen benchmarks (all when ``names`` is empty); returns the report."""
    chosen = [b for b in BENCHMARKS if not names or b.name in names]
    if any(b.needs_stack for b in chosen):
        CarepulseSettings.load()  # a clear error early if the stack was never started
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "quick": quick,
        "machine": machine(),
        "runs": {},
    }
    for bench in chosen:
        click.echo(f"bench: {bench.name} ...", err=True)
        record = run_one(bench, quick, timeout_s)
        report["runs"][bench.name] = record
        status = record.get("error", "ok")
        click.echo(f"bench: {bench.name} {status} ({record['wall_s']} s)", err=True)
    return report


@click.command()
@click.option(
    "--only",
    "names",
    multiple=True,
    type=click.Choice([b.name for b in BENCHMARKS]),
    help="Run only these (repeatable).",
)
@click.option("--quick", is_flag=True, help="Small sizes: a smoke run, not figures for the docs.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the whole report as JSON here.",
)
@click.option(
    "--docs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fill the generated table of this Markdown file (docs/benchmarks.md).",
)
@click.option("--timeout", "timeout_s", default=1800.0, show_default=True, help="Per benchmark, s.")
def bench(
    names: tuple[str, ...], quick: bool, out: Path | None, docs: Path | None, timeout_s: float
) -> None:
    """Run the benchmarks and print their figures next to the issues' goals."""
    report = run_all(names, quick, timeout_s)
    block = table(report)
    if out is not None:
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if docs is not None:
        write_docs(docs, block)
    click.echo(block)
    if any("error" in r for r in report["runs"].values()):
        raise SystemExit(1)
