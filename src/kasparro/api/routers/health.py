"""``GET /health``: real database round trip, last runs, scheduler heartbeat, data mode.

``mode`` is ``demo`` while the store holds emulated data (marked in the database by
``kasparro demo``, so it holds whoever serves the file), ``live`` otherwise.

200 while the database answers (``degraded`` when the scheduler's heartbeat is stale: the
in-process one's, or the one any scheduler process records in the database); 503 when the
database is unreachable or too slow (bounded by a short timeout, so a hung database never
hangs the probe).

``reads``: where market data is read (``KASPARRO_READ_DATABASE_URL``): each read replica
probed (standby or not, replay lag, whether replay is paused), and which database serves
reads now. A replica that does not answer makes the status ``degraded``; with
``KASPARRO_READ_FALLBACK=fail`` and no replica answering, reads cannot be served: 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kasparro import __version__
from kasparro.api import params as p
from kasparro.api.deps import State
from kasparro.api.errors import database_error_message
from kasparro.api.ops_schemas import HealthResponse
from kasparro.api.reads import ReadTarget
from kasparro.api.render import json_response, meta
from kasparro.api.state import AppState
from kasparro.query.replication import replica_status
from kasparro.query.stats import health_report, ping
from kasparro.scheduler.core import HEARTBEAT_SECONDS
from kasparro.scheduler.liveness import liveness
from kasparro.store.datamode import data_mode

T = TypeVar("T")

router = APIRouter(tags=["health"], dependencies=[Depends(p.strict_query)])


async def _probe_replica(target: ReadTarget, limit_s: float) -> dict[str, Any]:
    info: dict[str, Any] = {"name": target.name, "where": target.where}
    try:
        async with asyncio.timeout(limit_s):
            async with target.engine.connect() as conn:
                start = time.perf_counter()
                await ping(conn)
                latency = (time.perf_counter() - start) * 1000
                status = await replica_status(conn)
    except TimeoutError:
        return {**info, "status": "error", "error": f"no answer within {limit_s:g} s"}
    except Exception as exc:
        return {**info, "status": "error", "error": database_error_message(exc)}
    return {**info, "status": "ok", "latency_ms": round(latency, 3), **status}


async def _reads(state: AppState) -> tuple[dict[str, Any], bool, bool]:
    """The ``reads`` report, whether a replica failed, whether reads can be served."""
    router = state.reads
    timeout = state.config.health_timeout_seconds
    replicas = list(await asyncio.gather(*(_probe_replica(t, timeout) for t in router.replicas)))
    failed = any(r["status"] != "ok" for r in replicas)
    servable = router.fallback == "primary" or any(r["status"] == "ok" for r in replicas)
    report = {
        "from": router.serving().name,
        "policy": router.policy,
        "fallback": router.fallback,
        "replicas": replicas,
    }
    return report, failed, servable


async def _outcome(probe: Awaitable[T]) -> T | BaseException:
    try:
        return await probe
    except Exception as exc:
        return exc


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
    probe = asyncio.wait_for(_probe(state), timeout=state.config.health_timeout_seconds)
    # Concurrently: the probe of each read replica is bounded by the same timeout.
    primary, (reads, replica_failed, servable) = await asyncio.gather(
        _outcome(probe), _reads(state)
    )
    if isinstance(primary, TimeoutError):
        reason = f"no answer within {state.config.health_timeout_seconds:g} s"
        return _unavailable(base, state, reason, reads)
    if isinstance(primary, BaseException):  # any failure to query: the store is not usable
        return _unavailable(base, state, database_error_message(primary), reads)
    latency, report = primary
    scheduler, stale = _scheduler(state, report["scheduler_heartbeat_at"])
    if not servable:
        return _unavailable(base, state, "no read replica answers", reads, primary_ok=latency)
    body = {
        "status": "degraded" if stale or replica_failed else "ok",
        **base,
        "mode": report["mode"],
        "database": {"status": "ok", "dialect": state.dialect, "latency_ms": round(latency, 3)},
        "reads": reads,
        "sources": report["sources"],
        "scheduler": scheduler,
    }
    return json_response(body, headers={"Cache-Control": "no-store"})


def _unavailable(
    base: dict[str, Any],
    state: AppState,
    reason: str,
    reads: dict[str, Any],
    primary_ok: float | None = None,
) -> Response:
    scheduler, _ = _scheduler(state, None)
    database: dict[str, Any] = {"status": "error", "dialect": state.dialect, "error": reason}
    if primary_ok is not None:  # the primary answers; reads cannot be served
        database = {"status": "ok", "dialect": state.dialect, "latency_ms": round(primary_ok, 3)}
    body = {
        "status": "unavailable",
        **base,
        "database": database,
        "reads": reads,
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
