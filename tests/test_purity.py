"""Pure modules import no I/O library: each is imported alone in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Modules that must stay free of I/O (STYLE "pure"); add each new pure module here.
PURE_MODULES = [
    "carepulse.errors",
    "carepulse.observation",
    "carepulse.pseudonym",
    "carepulse.topics",
]

#: Top-level packages a pure module must not pull in, directly or indirectly.
IO_LIBRARIES = {
    "aiokafka",
    "aiomqtt",
    "bleak",
    "bumble",
    "faust",
    "fastapi",
    "influxdb_client",
    "paho",
    "sqlalchemy",
}


@pytest.mark.parametrize("module", PURE_MODULES)
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
