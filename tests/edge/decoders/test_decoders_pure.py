"""The decoders are pure: importing them loads no Bluetooth, MQTT, Kafka or database library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import edge.decoders

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
    "bluetooth_sig",
}
MODULES = ["edge.errors", "edge.decoders", "edge.decode_cli"] + [
    f"edge.decoders.{info.name}" for info in pkgutil.iter_modules(edge.decoders.__path__)
]


@pytest.mark.parametrize("module", MODULES)
def test_decoder_module_imports_no_io_library(module: str) -> None:
    """Importing the module in a fresh interpreter loads none of the I/O libraries."""
    probe = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, module], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out)) & IO_LIBRARIES
    assert not loaded, f"{module} pulls in {sorted(loaded)}"
