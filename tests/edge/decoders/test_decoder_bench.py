"""The benchmark runs, times both libraries and finds bluetooth-sig's exponent bug."""

from __future__ import annotations

import json

import pytest

from edge.decoders import bench


def test_bench_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m edge.decoders.bench --json` prints timings, the ratio and disagreements."""
    bench.main(["--json", "--number", "3", "--repeat", "1"])
    report = json.loads(capsys.readouterr().out)
    assert report["payloads"] == len(bench.PAYLOADS)
    assert report["carepulse_us_per_payload"] > 0
    assert report["bluetooth_sig_us_per_payload"] > 0
    assert report["speedup"] > 1
    flagged = {d["uuid"] for d in report["disagreement_details"]}
    assert {"2A35", "2A1C"} <= flagged
    assert "2A37" not in flagged
