"""``GET /health``: real database round trip, last runs, scheduler heartbeat, data mode.

``mode`` is ``demo`` while the store holds emulated data (marked in the database by
``kasparro demo``, so it holds whoever serves the file), ``live`` otherwise.

200 while the database answers (``degraded`` when the scheduler's heartbeat is stale: the
in-process one's, or the one any scheduler process records in the database); 503 when the
database is unreachable or too slow (bounded by a short timeout, so a hung database never
hangs the probe).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kasparro import __version__
from kasparro.api import params as p
from kasparro.api.deps import State
from kasparro.api.errors import database_error_message
from kasparro.api.ops_schemas import HealthResponse
from kasparro.api.render import json_response, meta
from kasparro.api.state import AppState
from kasparro.query.stats import health_report, ping
from kasparro.scheduler.core import HEARTBEAT_SECONDS
from kasparro.scheduler.liveness import liveness
from kasparro.store.datamode import data_mode

router = APIRouter(tags=["health"], dependencies=[Depends(p.strict_query)])


async def _probe(state: AppState) -> tuple[float, dict[str, Any]]:
    async with state.read_engine.connect() as conn:
        start = time.perf_counter()
        await ping(conn)
        latency = (time.perf_counter() - start) * 1000
        report = await health_report(conn, state.registry.names())
        return latency, {**report, "mode": await data_mode(conn)}


def _live_heartbeat(status: dict[str, Any] | None) -> datetime | None:
    """Newest heartbeat in the in-process scheduler's status (per source, or top level)."""
    if not status:
        return None
    candidates = [status.get("heartbeat_at")]
    candidates += [v.get("heartbeat_at") for v in status.values() if isinstance(v, dict)]
    times = [c for c in candidates if isinstance(c, datetime)]
    return max(times) if times else None


def _scheduler(state: AppState, db_heartbeat: datetime | None) -> tuple[dict[str, Any], bool]:
    live = state.scheduler_status()
    heartbeat = _live_heartbeat(live) or db_heartbeat
    # The in-process scheduler's own beat when there is one; otherwise any scheduler
    # process's (a standalone `kasparro scheduler`, other replicas) as recorded.
    beat = float(getattr(state.scheduler, "heartbeat_seconds", 0.0) or HEARTBEAT_SECONDS)
    alive = liveness(heartbeat, datetime.now(UTC), beat)
    # Stale: a heartbeat that stopped (a dead scheduler, wherever it ran), or an in-process
    # scheduler that never beat. No heartbeat ever recorded and none in process is an API
    # deployed without a scheduler: nothing to be stale.
    stale = alive.stale and (state.scheduler is not None or heartbeat is not None)
    info = {
        "in_process": state.scheduler is not None,
        "heartbeat_at": heartbeat,
        "heartbeat_age_s": round(alive.age_s, 3) if alive.age_s is not None else None,
        "stale_after_s": alive.stale_after_s,
        "stale": stale,
    }
    if live is not None and "error" in live:
        info["error"] = live["error"]
        stale = True
    return info, stale


@router.head("/health", include_in_schema=False)
@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Database unreachable"}},
    summary="Liveness and readiness",
)
async def health(request: Request, state: State) -> Response:
    request_id = meta(request)["request_id"]
    base: dict[str, Any] = {"version": __version__, "request_id": request_id}
    try:
        latency, report = await asyncio.wait_for(
            _probe(state), timeout=state.config.health_timeout_seconds
        )
    except TimeoutError:
        reason = f"no answer within {state.config.health_timeout_seconds:g} s"
        return _unavailable(base, state, reason)
    except Exception as exc:  # any failure to query means the store is not usable
        return _unavailable(base, state, database_error_message(exc))
    scheduler, stale = _scheduler(state, report["scheduler_heartbeat_at"])
    body = {
        "status": "degraded" if stale else "ok",
        **base,
        "mode": report["mode"],
        "database": {"status": "ok", "dialect": state.dialect, "latency_ms": round(latency, 3)},
        "sources": report["sources"],
        "scheduler": scheduler,
    }
    return json_response(body, headers={"Cache-Control": "no-store"})


def _unavailable(base: dict[str, Any], state: AppState, reason: str) -> Response:
    scheduler, _ = _scheduler(state, None)
    body = {
        "status": "unavailable",
        **base,
        "database": {"status": "error", "dialect": state.dialect, "error": reason},
        "sources": {},
        "scheduler": scheduler,
        # The standard error object too, so clients handling errors uniformly understand it.
        "error": {
            "code": "database_unavailable",
            "message": "the database is unavailable",
            "details": {"reason": reason},
            "request_id": base["request_id"],
        },
    }
    return json_response(
        body, status=503, headers={"Cache-Control": "no-store", "Retry-After": "5"}
    )
