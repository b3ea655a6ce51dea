"""The rules and the assess command import no I/O or stream library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import stream.rules

#: Modules that must stay free of I/O (STYLE "pure").
PURE_MODULES = [
    "stream.errors",
    "stream.assess_cli",
    "stream.rules",
    *(f"stream.rules.{m.name}" for m in pkgutil.iter_modules(stream.rules.__path__)),
]

IO_LIBRARIES = {
    "aiokafka",
    "aiomqtt",
    "bleak",
    "bumble",
    "faust",
    "fastapi",
    "influxdb_client",
    "mode",
    "paho",
    "sqlalchemy",
}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_rules_module_imports_no_io_library(module: str) -> None:
    """Importing a rules module loads none of the I/O or stream libraries."""
    probe = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, module], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    assert not loaded & IO_LIBRARIES, f"{module} pulls in {sorted(loaded & IO_LIBRARIES)}"


def test_every_rules_module_is_probed() -> None:
    """The probe list covers the rule families and the combiner."""
    for name in ("news2", "bp", "anthropometry", "glucose", "rhythm", "weight_change", "vitals"):
        assert f"stream.rules.{name}" in PURE_MODULES
    assert "stream.rules.assess" in PURE_MODULES
