"""The storage layer's pure modules import no I/O library (STYLE "pure")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE = ["storage.errors", "storage.points", "storage.retry", "storage.analysis", "storage.config"]
IO_LIBRARIES = {"aiohttp", "influxdb_client", "matplotlib", "faust", "aiokafka", "sqlite3"}


@pytest.mark.parametrize("module", PURE)
def test_pure_storage_module_imports_no_io_library(module: str) -> None:
    """Importing a pure storage module loads neither influxdb-client nor aiohttp."""
    probe = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, module], check=True, capture_output=True, text=True
    ).stdout
    assert not set(json.loads(out)) & IO_LIBRARIES
