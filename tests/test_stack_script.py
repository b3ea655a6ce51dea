"""The stack script agrees with the Python side and is valid bash."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from carepulse.topics import Topics

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stack"


def test_script_is_valid_bash() -> None:
    """`bash -n` parses the whole script."""
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_script_creates_the_topics_python_expects() -> None:
    """The TOPICS array in scripts/stack names the same topics as carepulse.topics."""
    match = re.search(r"^TOPICS=\(([^)]*)\)", SCRIPT.read_text(), re.MULTILINE)
    assert match is not None
    assert tuple(match.group(1).split()) == Topics.with_prefix("").all()


def test_unknown_command_prints_usage_and_fails() -> None:
    """Without a known command the script prints its usage and exits 2."""
    result = subprocess.run(["bash", str(SCRIPT), "launch"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "scripts/stack up" in result.stderr


def test_unknown_service_is_refused(tmp_path: Path) -> None:
    """Naming a service the stack does not run is an error naming the choices."""
    result = subprocess.run(
        ["bash", str(SCRIPT), "status", "redis"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "unknown service 'redis'" in result.stderr
