"""``carepulse bench``'s pure parts: reading a benchmark's JSON, the table, the docs block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carepulse.bench import BEGIN, BENCHMARKS, END, _last_json, table, write_docs

MACHINE = {
    "cpu": "Test CPU",
    "cores": 2,
    "memory": "24 GiB",
    "os": "Linux",
    "python": "3.11.7",
    "servers": {"kafka": "3.9.1"},
    "libraries": {"aiokafka": "0.12.0"},
}


def report(runs: dict[str, Any]) -> dict[str, Any]:
    return {
        "date": "2026-11-27",
        "commit": "abc1234",
        "quick": False,
        "machine": MACHINE,
        "runs": runs,
    }


def test_the_result_is_the_last_json_object_printed() -> None:
    """Log lines before the result, and a stray list, do not get in the way."""
    out = 'starting\n{"a": 1}\nmore log\n[1, 2]\n{"b": 2}\n'
    assert _last_json(out) == {"b": 2}
    with pytest.raises(ValueError, match="no JSON object"):
        _last_json("no figures here\n")


def test_table_puts_each_figure_next_to_its_goal() -> None:
    """The decode speed-up and the queue page p95 appear with their goals from the issues."""
    text = table(
        report(
            {
                "decode": {
                    "command": "python -m edge.decoders.bench --json",
                    "wall_s": 3.0,
                    "result": {"carepulse_us_per_payload": 4.4, "speedup": 25.0},
                },
                "alerts": {
                    "command": "python -m alerts.bench --json",
                    "wall_s": 60.0,
                    "result": {"open_cases": 10000, "queue_page_html": {"p95_ms": 45}},
                },
            }
        )
    )
    assert (
        "| decode | decode speed-up vs bluetooth-sig `parse_characteristic` | 25.0 x | ≥ 20x |"
        in text
    )
    assert "| alerts | queue page with 10000 open cases, p95 ms | 45 | < 200 |" in text
    assert "- decode: `python -m edge.decoders.bench --json` (3.0 s)" in text
    assert "Test CPU, 2 cores, 24 GiB" in text


def test_a_failed_benchmark_and_a_missing_key_are_shown_not_hidden() -> None:
    """A failure is a row that says so; a key the benchmark did not print says missing."""
    text = table(
        report(
            {
                "storage": {"command": "x", "wall_s": 1.0, "error": "exit status 1: boom\nmore"},
                "gateway": {"command": "y", "wall_s": 1.0, "result": {}},
            }
        )
    )
    assert "| storage | failed: exit status 1: boom | — | — |" in text
    assert "| gateway | gateway: decode → outbox → Kafka, obs/s | missing | — |" in text


def test_docs_block_is_replaced_and_the_prose_around_it_kept(tmp_path: Path) -> None:
    """Running twice replaces the generated block; text before and after stays."""
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nIntro.\n\n" + BEGIN + "\nold\n" + END + "\n\nNotes.\n")
    write_docs(docs, BEGIN + "\nnew\n" + END)
    text = docs.read_text()
    assert "old" not in text
    assert text.count(BEGIN) == 1
    assert text.startswith("# Benchmarks\n\nIntro.")
    assert text.rstrip().endswith("Notes.")
    assert "\nnew\n" in text


def test_every_benchmark_asks_for_json_and_shows_a_command_people_can_type() -> None:
    """Each command ends in --json; quick runs pass their own sizes; shown commands run."""
    for bench in BENCHMARKS:
        full, quick = bench.command(quick=False), bench.command(quick=True)
        assert full[-1] == quick[-1] == "--json"
        assert quick != full
        assert bench.shown(quick=False).startswith(("python -m ", "carepulse "))
    load = next(b for b in BENCHMARKS if b.name == "load")
    assert load.shown(quick=False).startswith("carepulse simulate --load")
