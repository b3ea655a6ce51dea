"""Faults while readings flow, on the real stack: nothing acknowledged is lost, nothing doubled.

Each test starts its own pipeline (:mod:`tests.e2e.harness`), starts the traffic, waits
until the first phase's crisis is a case (the whole chain works), injects one fault while
readings keep flowing, ends the fault, sends a while longer, and then
:func:`tests.e2e.checks.verify` checks the final state. docs/e2e.md has the fault matrix.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from carepulse.settings import StackSettings
from tests.e2e.checks import verify, wait_cases, wait_committed, wait_raised, wait_stored
from tests.e2e.harness import GatewayMode, open_pipeline, server_stopped
from tests.e2e.traffic import Phase

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.kafka, pytest.mark.influxdb]

#: How long InfluxDB stays down (the issue says a minute; 60 s under `make test`).
INFLUX_OUTAGE_S = float(os.environ.get("CAREPULSE_E2E_INFLUX_OUTAGE_S", "60"))
#: Readings acknowledged after a fault before the traffic stops.
AFTER = 24


async def test_kafka_restarted_while_the_gateway_uplinks(
    e2e_stack: StackSettings, tmp_path: Path
) -> None:
    """Kafka stopped and started: the outbox holds what arrives meanwhile, and delivers it."""
    async with open_pipeline(e2e_stack, tmp_path, GatewayMode.IN_PROCESS) as run:
        traffic = run.traffic
        traffic.start()
        await wait_cases(run, Phase.BEFORE)
        async with server_stopped("kafka"):
            traffic.enter(Phase.DURING)
            await run.wait_outbox(20)  # the gateway keeps acknowledging; Kafka takes nothing
        traffic.enter(Phase.AFTER)
        await traffic.wait_acked(AFTER)
        ledger = await traffic.stop()
        verdict = await verify(run, ledger)
    assert ledger.count(Phase.DURING) >= 20
    logger.info("kafka restart: %s", verdict.summary)


async def test_influxdb_stopped_for_a_minute_while_the_sink_writes(
    e2e_stack: StackSettings, tmp_path: Path
) -> None:
    """InfluxDB down for INFLUX_OUTAGE_S: alerts keep coming, every reading is stored later."""
    async with open_pipeline(e2e_stack, tmp_path, GatewayMode.IN_PROCESS) as run:
        traffic = run.traffic
        traffic.start()
        await wait_cases(run, Phase.BEFORE)
        await wait_stored(run, 10)
        async with server_stopped("influxdb"):
            began = time.monotonic()
            traffic.enter(Phase.DURING)
            # The risk path does not wait for the sink: the crisis is a case while it is down.
            await wait_cases(run, Phase.DURING, timeout_s=max(INFLUX_OUTAGE_S, 60.0))
            await asyncio.sleep(max(0.0, INFLUX_OUTAGE_S - (time.monotonic() - began)))
        traffic.enter(Phase.AFTER)
        await traffic.wait_acked(AFTER)
        ledger = await traffic.stop()
        verdict = await verify(run, ledger)
    assert ledger.count(Phase.DURING) >= INFLUX_OUTAGE_S * 2  # readings flowed all along
    logger.info("influxdb outage: %s", verdict.summary)


async def test_mosquitto_restarted_while_devices_publish(
    e2e_stack: StackSettings, tmp_path: Path
) -> None:
    """Mosquitto restarted with readings queued for the gateway: none lost, devices go on.

    The gateway is frozen (SIGSTOP) first, so the broker holds acknowledged readings in the
    gateway's persistent session when it stops; they must survive the restart.
    """
    async with open_pipeline(e2e_stack, tmp_path, GatewayMode.PROCESS) as run:
        assert run.gateway is not None
        traffic = run.traffic
        traffic.start()
        await wait_cases(run, Phase.BEFORE)
        traffic.enter(Phase.DURING)
        run.gateway.pause()
        try:
            # Acknowledged by the broker: the first 20 in flight to the frozen gateway, the
            # rest only in the broker's queue for its session.
            await traffic.wait_acked(40)
            async with server_stopped("mosquitto"):
                pass  # the devices keep publishing into the outage and retry after it
        finally:
            run.gateway.resume()
        await run.wait_log(run.gateway, "reconnected")
        traffic.enter(Phase.AFTER)
        await traffic.wait_acked(AFTER)
        ledger = await traffic.stop()
        verdict = await verify(run, ledger)
    assert ledger.count(Phase.DURING) >= 40
    logger.info("mosquitto restart: %s", verdict.summary)


async def test_gateway_killed_and_restarted(e2e_stack: StackSettings, tmp_path: Path) -> None:
    """The gateway killed with SIGKILL: its outbox and the broker's queue carry everything."""
    async with open_pipeline(e2e_stack, tmp_path, GatewayMode.PROCESS) as run:
        assert run.gateway is not None
        traffic = run.traffic
        traffic.start()
        await wait_cases(run, Phase.BEFORE)
        traffic.enter(Phase.DURING)
        run.gateway.kill(signal.SIGKILL)
        await traffic.wait_acked(20)  # the broker acknowledges for the dead gateway
        run.gateway.start()
        traffic.enter(Phase.AFTER)
        await traffic.wait_acked(AFTER)
        ledger = await traffic.stop()
        verdict = await verify(run, ledger)
    logger.info("gateway SIGKILL: %s", verdict.summary)


async def test_worker_killed_and_restarted(e2e_stack: StackSettings, tmp_path: Path) -> None:
    """The worker killed with SIGKILL: the restarted one stores and alerts exactly once."""
    async with open_pipeline(e2e_stack, tmp_path, GatewayMode.IN_PROCESS) as run:
        traffic = run.traffic
        traffic.start()
        await wait_cases(run, Phase.BEFORE)
        await wait_committed(run)  # a crash in steady state, not in the first seconds
        traffic.enter(Phase.DURING)
        run.worker.kill(signal.SIGKILL)
        await traffic.wait_acked(20)
        run.worker.start()
        traffic.enter(Phase.AFTER)
        await traffic.wait_acked(AFTER)
        ledger = await traffic.stop()
        # The new worker joins once the killed member's session expired (about a minute).
        verdict = await verify(run, ledger, timeout_s=150)
    logger.info("worker SIGKILL: %s", verdict.summary)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
async def test_alert_service_restarted(
    e2e_stack: StackSettings, tmp_path: Path, sig: signal.Signals
) -> None:
    """The alert service stopped while alerts are raised: one case each after its restart."""
    async with open_pipeline(e2e_stack, tmp_path, GatewayMode.PROCESS) as run:
        traffic = run.traffic
        traffic.start()
        await wait_cases(run, Phase.BEFORE)
        traffic.enter(Phase.DURING)
        run.alerts.kill(sig)
        await wait_raised(run, Phase.DURING)  # raised while nobody consumes the alerts topic
        run.alerts.start()
        traffic.enter(Phase.AFTER)
        await traffic.wait_acked(AFTER)
        ledger = await traffic.stop()
        verdict = await verify(run, ledger)
    logger.info("alert service %s: %s", sig.name, verdict.summary)
