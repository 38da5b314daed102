"""``GET /api/v1/stats``: per-source run health, counts, checkpoints and schedule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.deps import State
from kasparro.api.ops_schemas import StatsResponse
from kasparro.api.render import envelope
from kasparro.api.schemas import error_responses
from kasparro.query.stats import stats_report
from kasparro.store.datamode import data_mode

router = APIRouter(prefix="/api/v1", tags=["stats"], dependencies=[Depends(p.strict_query)])


@router.get(
    "/stats",
    response_model=StatsResponse,
    responses=error_responses(422, 503),
    summary="ETL statistics per source",
    description="`mode`: `demo` while the store holds emulated data (the offline demo), "
    "else `live`. `total_records_processed` is the number of upstream records every run "
    "fetched (loaded + unchanged + rejected). Per source: last run and its status, last "
    "success and failure times, last duration, success rate over the last `window` finished "
    "runs, record totals, current checkpoint, next scheduled run (from the in-process "
    "scheduler, else the `scheduler_state` table), schema-drift and quarantine counts.",
)
async def get_stats(
    request: Request,
    state: State,
    window: Annotated[
        int, Query(ge=1, le=500, description="Runs considered for the success rate.")
    ] = 20,
) -> Response:
    async with state.read_engine.connect() as conn:
        report = await stats_report(
            conn,
            sources=state.registry.names(),
            window=window,
            scheduler_status=state.scheduler_status(),
            running_in_app=state.runs.active_sources(),
        )
        mode = await data_mode(conn)
    return envelope(request, {"mode": mode, **report})
