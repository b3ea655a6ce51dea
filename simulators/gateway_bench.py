"""Gateway memory and throughput with many virtual BLE devices, on the local stack's Kafka.

    python -m simulators.gateway_bench [--residents 20] [--seconds 60] [--json]

Each resident has five BLE devices (heart-rate band, BP meter, scale, oximeter,
thermometer), so the default is 100 connected devices, all on one Bumble virtual air in
this process with the real gateway (BLE source, outbox, uplink to Kafka). One simulated
day is played in ``--seconds`` of wall time.

The devices and the gateway share the process, so the gateway's memory is measured as a
difference: resident set size (``VmRSS`` from ``/proc/self/status``, Linux) once the
devices are up, against the peak while the gateway is connected to all of them and
readings flow. Python rarely returns freed memory to the system, so the peak is what a
station's box must have free.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carepulse.bench import print_result
from simulators.ble import VirtualAir
from simulators.runner import (
    anchor_start,
    ble_devices,
    drained,
    gateway_settings,
    run_plan,
    start_gateway,
    wait_connected,
)
from simulators.scenario import Plan, parse_scenario, plan

KINDS = ("hr_band", "bp_meter", "scale", "oximeter", "thermometer")


def scenario_text(residents: int) -> str:
    """A one-day station of ``residents`` people with five BLE devices each."""
    devices = ", ".join(
        '{ kind = "hr_band", link = "ble", every_min = 15 }'
        if kind == "hr_band"
        else f'{{ kind = "{kind}", link = "ble", times = ["08:00", "20:00"] }}'
        for kind in KINDS
    )
    return f"""
schema = 1
name = "gateway-bench"
seed = 7
days = 1
[station]
id = "st-bench"
timezone = "Asia/Shanghai"
secret = "benchmark-only-secret-st-bench"
[[residents]]
ids = "R0001-R{residents:04d}"
sex = "alternate"
conditions = ["healthy"]
devices = [{devices}]
"""


def rss_mb() -> float:
    """This process's resident set size in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    msg = "no VmRSS in /proc/self/status (the memory figure needs Linux)"
    raise RuntimeError(msg)


async def measure(residents: int, seconds: float) -> dict[str, Any]:
    """Run the station and return the memory and throughput figures."""
    scenario = parse_scenario(scenario_text(residents))
    speed = 86400.0 / seconds
    planned: Plan = plan(scenario, start=anchor_start(scenario, 1, speed, datetime.now(UTC)))
    result: dict[str, Any] = {"devices": residents * len(KINDS), "seconds": seconds}
    gc.collect()
    result["rss_empty_mb"] = round(rss_mb(), 1)
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder)
        settings = gateway_settings(
            planned, state, topic_prefix=f"bench.gw{int(time.time())}.", mqtt_enabled=False
        )
        air = VirtualAir(advertising_interval_ms=50)
        async with ble_devices(planned, air) as devices:
            gc.collect()
            result["rss_devices_mb"] = round(rss_mb(), 1)
            gateway, task = await start_gateway(planned, air, settings, state)
            peak = rss_mb()

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, rss_mb())
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            try:
                started = time.monotonic()
                result["connected"] = await wait_connected(devices, 120.0)
                result["connect_s"] = round(time.monotonic() - started, 1)
                summary = await run_plan(planned, speed=speed, devices=devices, publisher=None)
                result["drained"] = await drained(devices, gateway, 60.0)
                result["readings_sent"] = sum(summary.sent.values())
                result["messages_uplinked"] = gateway.uplink.stats.sent  # readings, heartbeats
            finally:
                sampler.cancel()
                task.cancel()
                await asyncio.gather(sampler, task, return_exceptions=True)
            result["rss_peak_mb"] = round(peak, 1)
            result["gateway_mb"] = round(peak - result["rss_devices_mb"], 1)
    return result


def main() -> None:
    """Print the figures (lines, or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=20, help="five devices each (20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall time of the day (60)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(measure(args.residents, args.seconds))
    print_result(result, args.json)


if __name__ == "__main__":
    main()
