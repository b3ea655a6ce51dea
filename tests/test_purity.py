"""Pure modules import no I/O library: each is imported alone in a fresh interpreter.

"Pure" (STYLE) means the module imports none of the I/O libraries below and does no I/O.
Whole packages are listed by walking them, so a new module of a pure package is checked
without anyone remembering to add it.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

#: Packages whose every module is pure.
PURE_PACKAGES = ["edge.decoders", "stream.rules"]
#: Single pure modules inside packages that also hold I/O adapters.
PURE_MODULES = [
    "alerts.errors",
    "alerts.health",
    "alerts.i18n",
    "alerts.lifecycle",
    "carepulse.alert",
    "carepulse.errors",
    "carepulse.observation",
    "carepulse.pseudonym",
    "carepulse.topics",
    "edge.backoff",
    "edge.errors",
    "edge.ingest",
    "edge.mqtt_formats",
    "edge.readings",
    "edge.records",
    "edge.registry",
    "edge.scan_watchdog",
    "simulators.clock",
    "simulators.errors",
    "simulators.faults",
    "simulators.physiology",
    "simulators.racp",
    "simulators.scenario",
    "simulators.truth",
    "storage.analysis",
    "storage.config",
    "storage.errors",
    "storage.i18n",
    "storage.points",
    "storage.retry",
    "stream.assess_cli",
    "stream.errors",
    "stream.messages",
    "stream.metrics",
    "stream.plausibility",
    "stream.residents",
    "stream.risk",
    "stream.sink_points",
    "stream.watchdog",
]

#: Top-level packages a pure module must not pull in, directly or indirectly.
IO_LIBRARIES = {
    "aiohttp",
    "aiokafka",
    "aiomqtt",
    "bleak",
    "bumble",
    "faust",
    "fastapi",
    "influxdb_client",
    "mode",
    "paho",
    "psycopg",
    "sqlalchemy",
    "sqlite3",
    "starlette",
    "uvicorn",
}


def _walk(package: str) -> list[str]:
    path = importlib.import_module(package).__path__
    return [package, *(f"{package}.{m.name}" for m in pkgutil.iter_modules(path))]


ALL_PURE = sorted({*PURE_MODULES, *(m for p in PURE_PACKAGES for m in _walk(p))})


@pytest.mark.parametrize("module", ALL_PURE)
def test_pure_module_imports_no_io_library(module: str) -> None:
    """Importing a pure module loads none of the I/O libraries."""
    probe = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, module], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    assert not loaded & IO_LIBRARIES, f"{module} pulls in {sorted(loaded & IO_LIBRARIES)}"


def test_the_walk_finds_the_rule_families_and_decoders() -> None:
    """Walking the pure packages reaches their modules."""
    for name in ("stream.rules.news2", "stream.rules.assess", "edge.decoders.heart_rate"):
        assert name in ALL_PURE
