"""The worker's decision modules are pure: importing one loads no I/O library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE = [
    "stream.plausibility",
    "stream.metrics",
    "stream.risk",
    "stream.watchdog",
    "stream.residents",
]
IO_LIBRARIES = {"aiokafka", "faust", "mode", "influxdb_client", "aiohttp", "sqlite3", "paho"}


@pytest.mark.parametrize("module", PURE)
def test_decision_module_is_pure(module: str) -> None:
    """Importing the module alone pulls in none of the I/O libraries."""
    probe = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, module], check=True, capture_output=True, text=True
    ).stdout
    assert not set(json.loads(out)) & IO_LIBRARIES
