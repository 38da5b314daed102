"""Run history, run comparison, and triggering runs (authenticated, rate-limited)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.deps import State, TriggerAllowed
from kasparro.api.errors import Conflict, InvalidParameter, NotFound, ServiceUnavailable
from kasparro.api.ops_schemas import (
    BackfillRequest,
    RunCompareResponse,
    RunResponse,
    RunsResponse,
    TriggerRequest,
    TriggerResponse,
)
from kasparro.api.render import envelope, page_envelope
from kasparro.api.runner import Outcome, ShuttingDown
from kasparro.api.schemas import error_responses
from kasparro.api.state import AppState
from kasparro.query import runs as q
from kasparro.query.compare import RunNotFound, compare_runs
from kasparro.query.cursor import Position, scope_digest
from kasparro.runs import repository as repo
from kasparro.runs.service import backfill_scope
from kasparro.sources.history import BackfillError, BackfillScope, BackfillSpec, build_spec
from kasparro.sources.registry import Registry, UnknownSource

router = APIRouter(prefix="/api/v1", tags=["runs"], dependencies=[Depends(p.strict_query)])

RunStatus = Literal["running", "success", "partial", "failed", "crashed"]
RunIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="Run id.")]
RunIdQuery = Annotated[int, Query(ge=1, le=2**63 - 1)]


@router.get(
    "/runs",
    response_model=RunsResponse,
    responses=error_responses(422, 503),
    summary="ETL runs, newest first",
)
async def list_runs(
    request: Request,
    state: State,
    source: p.SourcesParam = None,
    status: Annotated[list[RunStatus] | None, Query(description="Repeatable.")] = None,
    limit: p.LimitParam = 50,
    cursor: p.CursorParam = None,
) -> Response:
    sources, statuses = tuple(sorted(set(source or ()))), tuple(sorted(set(status or ())))
    scope = scope_digest("runs", sources, statuses)
    after = p.decode_cursor(cursor, scope=scope, key=q.ID_SORT_KEY)
    async with state.read_engine.connect() as conn:
        items, next_id = await q.list_runs(
            conn,
            sources=sources,
            statuses=statuses,
            limit=limit,
            before_id=after.id if after else None,
        )
    nxt = p.encode_cursor(scope, Position(next_id, next_id)) if next_id else None
    return page_envelope(request, items, limit=limit, next_cursor=nxt, sort="id", descending=True)


@router.get(
    "/runs/compare",
    response_model=RunCompareResponse,
    responses=error_responses(404, 422, 503),
    summary="Compare two runs",
    description="Deltas of counts and duration (`b - a`), assets added/removed between the "
    "runs' observation sets, the 10 largest price moves among assets in both, and anomaly "
    "flags for each run against the previous 10 successful runs of its source (median and "
    "MAD; the method and each explanation are in the response).",
)
async def compare(request: Request, state: State, a: RunIdQuery, b: RunIdQuery) -> Response:
    async with state.read_engine.connect() as conn:
        try:
            report = await compare_runs(conn, a, b)
        except RunNotFound as exc:
            raise NotFound(
                f"run {exc.run_id} does not exist", details={"run_id": exc.run_id}
            ) from None
    return envelope(request, report)


@router.get(
    "/runs/{run_id}",
    response_model=RunResponse,
    responses=error_responses(404, 422, 503),
    summary="One run",
)
async def get_run(request: Request, state: State, run_id: RunIdPath) -> Response:
    async with state.read_engine.connect() as conn:
        run = await q.get_run(conn, run_id)
    if run is None:
        raise NotFound(f"run {run_id} does not exist", details={"run_id": run_id})
    return envelope(request, run)


def _names(registry: Registry, source: str) -> list[str]:
    try:
        return registry.validate([source])
    except UnknownSource as exc:
        raise InvalidParameter(
            str(exc),
            details=[
                {
                    "loc": "source",
                    "message": str(exc),
                    "type": "enum",
                    "allowed": [*registry.names(), "all"],
                }
            ],
        ) from None


def _outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "source": o.source,
        "status": o.status,
        "run_id": o.run_id,
        "reason": o.reason,
        "url": f"/api/v1/runs/{o.run_id}" if o.run_id else None,
        "lease_holder": o.lease_holder,
        "lease_expires_at": o.lease_expires_at,
    }


def _backfill_outcomes(
    names: list[str], outcomes: list[Outcome], scope: BackfillScope
) -> list[Outcome]:
    """A backfill's outcomes in the order asked for: a provider that lists none of its
    assets is skipped (no run), a run says which of them its provider does not list."""
    by_run = {o.source: o for o in outcomes}
    shown = []
    for name in names:
        reason = scope.reason(name)
        outcome = by_run.get(f"{name}_history")
        if outcome is None:
            outcome = Outcome(f"{name}_history", "skipped", reason=reason)
        elif reason and outcome.reason is None:
            outcome = dataclasses.replace(outcome, reason=reason)
        shown.append(outcome)
    return shown


async def _trigger(
    request: Request, state: AppState, source: str, *, force: bool = False
) -> Response:
    return await _start(request, state, _names(state.registry, source), force=force)


async def _start(
    request: Request,
    state: AppState,
    names: list[str],
    *,
    force: bool = False,
    backfill: BackfillSpec | None = None,
    scope: BackfillScope | None = None,
) -> Response:
    """Start runs of ``names``; with ``scope``, a backfill's: ``names`` are the providers it
    chose, of which those listing none of its assets are reported skipped (no run)."""
    runs = list(scope.providers) if scope is not None else names
    try:
        outcomes = await state.runs.trigger(runs, force=force, backfill=backfill)
    except ShuttingDown:
        raise ServiceUnavailable("the API is shutting down; no new runs") from None
    started = [o for o in outcomes if o.status == "started"]
    shown = outcomes if scope is None else _backfill_outcomes(names, outcomes, scope)
    body = [_outcome_json(o) for o in shown]
    if not started:
        if all(o.status == "skipped" for o in outcomes):
            raise Conflict(
                "; ".join(f"{o.source}: {o.reason or 'already running'}" for o in outcomes)
                + "; try again when it finishes (reference data: or pass force)",
                details=body,
            )
        if all(o.invalid_request for o in outcomes):  # e.g. a window no plan serves
            raise InvalidParameter(
                "; ".join(f"{o.source}: {o.reason}" for o in outcomes),
                details=[
                    {"loc": "body", "message": o.reason, "type": "backfill", "source": o.source}
                    for o in outcomes
                ],
            )
        raise ServiceUnavailable("the run could not start", details=body)
    headers = (
        {"Location": f"/api/v1/runs/{started[0].run_id}"}
        if (len(started) == 1 and started[0].run_id)
        else None
    )
    return envelope(request, {"runs": body}, status=202, headers=headers)


_TRIGGER_DOC = (
    "Starts an ETL run of one source (or `all`) in the background and answers 202 with the "
    "run id(s) as soon as the runs exist. Requires `Authorization: Bearer "
    "<KASPARRO_API_TOKEN>`; when no token is configured triggering is disabled (403). "
    "409 when the source is already running (its lease is held, by this or another "
    "process). For `all`, sources already running are reported as `skipped` and the rest "
    "start; 409 only when none can. Rate-limited per client (429 with Retry-After)."
)
_TRIGGER_ERRORS = error_responses(401, 403, 409, 422, 429, 503)
_BODY_TRIGGER_ERRORS = error_responses(401, 403, 409, 413, 422, 429, 503)


@router.post(
    "/runs",
    status_code=202,
    response_model=TriggerResponse,
    responses=_BODY_TRIGGER_ERRORS,
    summary="Trigger an ETL run",
    description=_TRIGGER_DOC,
)
async def trigger_run(
    request: Request,
    state: State,
    _allowed: TriggerAllowed,
    body: Annotated[TriggerRequest, Body()],
) -> Response:
    return await _trigger(request, state, body.source, force=body.force)


@router.post(
    "/backfills",
    status_code=202,
    response_model=TriggerResponse,
    responses=_BODY_TRIGGER_ERRORS,
    summary="Start a history backfill",
    description="Loads price history (CoinGecko market charts, CoinPaprika historical "
    "tickers) for `asset_ids` or the `top` N coins, from `since` to `until` at `interval`, "
    "into the observations, as a run of `coingecko_history` / `coinpaprika_history` "
    "(listed in `/api/v1/runs`). Resumable and idempotent: per-coin watermarks are "
    "committed with the data, so a repeated backfill fetches only what is missing. Its "
    "requests yield to scheduled runs in each API's budget. Same authentication, rate "
    "limit and responses as `POST /api/v1/runs`.\n\n"
    "422, before any run: `since`/`until` not a date, timestamp or duration (the pattern "
    "published), `asset_ids` that name no asset (`unknown_asset`; a merged asset's id means "
    "the asset it was merged into), or assets that none of the chosen sources lists "
    "(`not_listed`). Of several sources, one that lists none of the assets is `skipped` "
    "with the reason, and no run of it is recorded.",
)
async def start_backfill(
    request: Request,
    state: State,
    _allowed: TriggerAllowed,
    body: Annotated[BackfillRequest, Body()],
) -> Response:
    providers = state.registry.backfill_providers()
    names: list[str] = providers if body.source == "all" else [body.source]
    try:
        spec = build_spec(
            interval=body.interval,
            since=body.since,
            until=body.until,
            asset_ids=body.asset_ids,
            top=body.top,
            now=repo.utcnow(),
        )
        # On the primary, as the runs will plan: an asset created a moment ago counts.
        scope = await backfill_scope(state.read_engine, spec, names, available=providers)
    except BackfillError as exc:
        loc = f"body.{exc.field}" if exc.field else "body"
        detail = {"loc": loc, "message": str(exc), "type": exc.kind, **exc.detail}
        raise InvalidParameter(str(exc), details=[detail]) from None
    return await _start(request, state, names, backfill=spec, scope=scope)


@router.get(
    "/trigger-etl",
    status_code=202,
    response_model=TriggerResponse,
    responses=_TRIGGER_ERRORS,
    summary="Trigger an ETL run (GET alias for cron services)",
    description="Compatibility alias of `POST /api/v1/runs` for external cron services that "
    "can only send GET requests: same authentication, rate limit and responses. Prefer the "
    "POST endpoint otherwise.\n\n" + _TRIGGER_DOC,
)
async def trigger_etl(
    request: Request,
    state: State,
    _allowed: TriggerAllowed,
    source: Annotated[
        p.TriggerName, Query(description="A source name or `all`.", examples=["coingecko"])
    ] = "all",
) -> Response:
    return await _trigger(request, state, source)
