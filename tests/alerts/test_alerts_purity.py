"""The alert service's pure modules import no I/O library (each in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE = ["alerts.errors", "alerts.lifecycle", "alerts.i18n"]
IO_LIBRARIES = {"aiokafka", "fastapi", "sqlalchemy", "starlette", "psycopg", "uvicorn", "faust"}


@pytest.mark.parametrize("module", PURE)
def test_pure_alert_modules_import_no_io_library(module: str) -> None:
    """Importing the module alone loads none of the I/O libraries."""
    probe = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, module], check=True, capture_output=True, text=True
    ).stdout
    assert not set(json.loads(out)) & IO_LIBRARIES
