"""Cross-source identity over HTTP: the summary, the review queue, anomalies, decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.deps import State, TriggerAllowed
from kasparro.api.errors import InvalidParameter, NotFound
from kasparro.api.render import envelope, page_envelope
from kasparro.api.schemas import error_responses
from kasparro.identity import queries as q
from kasparro.identity.schemas import (
    AnomaliesResponse,
    DecisionIn,
    DecisionResponse,
    IdentitySummaryResponse,
    LegacyPairDecisionIn,
    PairDecisionIn,
    ReviewResponse,
)
from kasparro.identity.service import DecisionResult, SameCoin, UnknownCoins
from kasparro.query.cursor import Position, scope_digest
from kasparro.query.quarantine import ID_SORT_KEY

router = APIRouter(prefix="/api/v1", tags=["identity"])
STRICT = [Depends(p.strict_query)]
ReviewIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="Review item id.")]


@router.get(
    "/identity",
    dependencies=STRICT,
    response_model=IdentitySummaryResponse,
    responses=error_responses(503),
    summary="How coins are linked across sources",
    description="The last relink (when, why, what it linked and changed), each source's "
    "reference snapshot (coins, contracts, refreshed at), links per source and method, the "
    "review queue by status and the bad reference data found, by kind.",
)
async def identity_summary(request: Request, state: State) -> Response:
    async with state.reads.connect() as conn:
        data = await q.summary(conn, state.identity.scope.reference_sources)
    return envelope(request, data)


@router.get(
    "/identity/review",
    dependencies=STRICT,
    response_model=ReviewResponse,
    responses=error_responses(422, 503),
    summary="Pairings waiting for a human (or decided)",
    description="Pairings of two coins of any two sources that the linker could not decide "
    "alone: several plausible partners, evidence too weak to link, same names with "
    "different contracts, a contract shared with a bridged copy. Each shows both coins "
    "(symbol, name, contracts, current asset), the score and the evidence for and against. "
    "Accept or reject with `POST /api/v1/identity/review/{id}`; decisions are sticky and "
    "override automatic links. Oldest first, keyset-paginated.",
)
async def review_queue(
    request: Request,
    state: State,
    status: Annotated[q.ReviewStatus, Query(description="Item status.")] = q.ReviewStatus.PENDING,
    limit: p.LimitParam = 50,
    cursor: p.CursorParam = None,
) -> Response:
    scope = scope_digest("identity-review", status.value)
    after = p.decode_cursor(cursor, scope=scope, key=ID_SORT_KEY)
    async with state.reads.connect() as conn:
        page = await q.review_queue(
            conn, status.value, limit=limit, after_id=after.id if after else None
        )
    nxt = p.encode_cursor(scope, Position(page.next_id, page.next_id)) if page.next_id else None
    return page_envelope(
        request, page.items, limit=limit, next_cursor=nxt, sort="id", descending=False
    )


@router.get(
    "/identity/anomalies",
    dependencies=STRICT,
    response_model=AnomaliesResponse,
    responses=error_responses(422, 503),
    summary="Bad reference data found by the last relink",
    description="A contract listed for two coins of one source, empty addresses, unknown "
    "chains, conflicting decisions, a coin listed twice: kept out of linking, never "
    "merging coins. By id, keyset-paginated like every list.",
)
async def list_anomalies(
    request: Request,
    state: State,
    kind: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
    limit: p.LimitParam = 100,
    cursor: p.CursorParam = None,
) -> Response:
    scope = scope_digest("identity-anomalies", kind)
    after = p.decode_cursor(cursor, scope=scope, key=ID_SORT_KEY)
    async with state.reads.connect() as conn:
        page = await q.anomalies(conn, kind=kind, limit=limit, after_id=after.id if after else None)
    nxt = p.encode_cursor(scope, Position(page.next_id, page.next_id)) if page.next_id else None
    return page_envelope(
        request, page.items, limit=limit, next_cursor=nxt, sort="id", descending=False
    )


def _decision(request: Request, result: DecisionResult) -> Response:
    relink = result.relink
    data = {
        "review_id": result.review_id,
        "a": {"source": result.a[0], "id": result.a[1]},
        "b": {"source": result.b[0], "id": result.b[1]},
        "status": "accepted" if result.accepted else "rejected",
        "relink": {
            "status": relink.status,
            "relink_id": relink.relink_id,
            "reason": relink.reason,
            "relinked": relink.stats.get("relinked"),
        },
    }
    return envelope(request, data)


def _client(request: Request) -> str:
    return f"api:{request.client.host if request.client else 'unknown'}"


@router.post(
    "/identity/review/{review_id}",
    response_model=DecisionResponse,
    responses=error_responses(401, 403, 404, 413, 422, 429, 503),
    summary="Accept or reject a proposed pairing (authenticated)",
    description="Records the decision (sticky: automatic relinks never change it) and "
    "relinks at once, so an accepted pair shares one asset and a rejected one never does, "
    "observations included. Requires `Authorization: Bearer <KASPARRO_API_TOKEN>`.",
)
async def decide_review(
    request: Request,
    state: State,
    _allowed: TriggerAllowed,
    review_id: ReviewIdPath,
    body: DecisionIn,
) -> Response:
    result = await state.identity.decide_review(
        review_id, accept=body.decision == "accept", decided_by=_client(request), note=body.note
    )
    if result is None:
        raise NotFound(f"review item {review_id} does not exist", details={"id": review_id})
    return _decision(request, result)


@router.post(
    "/identity/decisions",
    response_model=DecisionResponse,
    responses=error_responses(401, 403, 413, 422, 429, 503),
    summary="Pair (or keep apart) any two coins by hand (authenticated)",
    description="For pairings the linker never proposed: `accept` links two coins of any two "
    "sources (`a`, `b`: `{source, id}`) into one asset, `reject` keeps them apart forever. "
    "Both coins must be known, in their source's coin list or market data: an unknown one is "
    "a 422 naming it (type `unknown_coin`), as is one coin named twice (`same_coin`); "
    "nothing is stored. "
    "Same effect and authentication as a review decision.",
)
async def decide_pair(
    request: Request,
    state: State,
    _allowed: TriggerAllowed,
    body: PairDecisionIn | LegacyPairDecisionIn,
) -> Response:
    a, b = body.coins()
    try:
        result = await state.identity.decide(
            a, b, accept=body.decision == "accept", decided_by=_client(request), note=body.note
        )
    except UnknownCoins as exc:
        where = dict(zip((a, b), body.locs(), strict=True))
        raise InvalidParameter(
            str(exc),
            details=[
                {
                    "loc": where[c],
                    "message": exc.reason(c),
                    "type": "unknown_coin",
                    "input": c[1][:100],  # cut as a validation error's input is
                }
                for c in exc.coins
            ],
        ) from None
    except SameCoin as exc:
        raise InvalidParameter(
            str(exc),
            details=[
                {
                    "loc": body.locs()[1],
                    "message": str(exc),
                    "type": "same_coin",
                    "input": b[1][:100],
                }
            ],
        ) from None
    return _decision(request, result)
