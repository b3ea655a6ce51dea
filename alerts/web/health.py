"""``/healthz`` and ``/readyz``: open to anyone, for the process supervisor and monitoring.

They answer from :mod:`alerts.health` and hold no personal data: a status, and for each
readiness check whether it passes and why not. ``/healthz`` (liveness) answers 200 as
long as the process serves HTTP; ``/readyz`` answers 503 while the case store does not
answer or the Kafka consumer is not consuming.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alerts.health import ConsumerHealth, readiness
from alerts.store import CaseStore

#: Returns the consumer's health now (``AlertConsumer.health``).
ConsumerProbe = Callable[[], ConsumerHealth]

logger = logging.getLogger(__name__)

#: How long the case store may take to answer ``SELECT 1``.
DATABASE_TIMEOUT_S = 5.0

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """Liveness: the process serves HTTP."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the case store answers and the consumer reads ``alerts`` (503 if not)."""
    state = request.app.state
    store: CaseStore = state.store
    was_ok: bool = state.database_ok
    database_error: str | None = None
    try:
        await asyncio.wait_for(asyncio.to_thread(store.ping), DATABASE_TIMEOUT_S)
    except TimeoutError:
        database_error = f"no answer within {DATABASE_TIMEOUT_S:.0f} s"
    except Exception as exc:  # any driver error means "not ready"; the log has the detail
        database_error = type(exc).__name__
        if was_ok:
            logger.warning("readiness: the case store does not answer", exc_info=True)
    if database_error is None and not was_ok:
        logger.info("readiness: the case store answers again")
    state.database_ok = database_error is None
    probe: ConsumerProbe | None = state.consumer
    result = readiness(database_error, probe() if probe is not None else None)
    return JSONResponse(result.as_dict(), status_code=200 if result.ready else 503)
