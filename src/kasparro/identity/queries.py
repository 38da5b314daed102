"""Identity's read side: the summary, the review queue, anomalies, merged assets (API, CLI)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.sqltext import timestamp_out
from kasparro.status import OK
from kasparro.store.identity_schema import (
    identity_anomalies,
    identity_links,
    identity_relinks,
    identity_review,
    reference_coins,
    reference_contracts,
)
from kasparro.store.schema import asset_mappings, runs


class ReviewStatus(StrEnum):
    """A review item's status: the choices of ``kasparro identity review --status`` and of
    ``GET /api/v1/identity/review?status=``."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    OBSOLETE = "obsolete"


REVIEW_STATUSES = tuple(s.value for s in ReviewStatus)


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


async def summary(
    conn: AsyncConnection, reference_sources: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """``reference_sources``: namespace -> its reference sources (the registry's)."""
    dialect = conn.dialect.name
    r, li, rv, an = identity_relinks.c, identity_links.c, identity_review.c, identity_anomalies.c
    last = (
        await conn.execute(
            select(
                r.id,
                r.trigger,
                r.status,
                timestamp_out(r.started_at, dialect),
                timestamp_out(r.finished_at, dialect),
                r.stats,
                r.error,
            )
            .order_by(r.id.desc())
            .limit(1)
        )
    ).first()
    links = await conn.execute(
        select(li.source, li.method, func.count()).group_by(li.source, li.method)
    )
    by_method: dict[str, dict[str, int]] = defaultdict(dict)
    for source, method, n in links:
        by_method[source][method] = int(n)
    review = await _counts(conn, select(rv.status, func.count()).group_by(rv.status))
    anomalies = await _counts(conn, select(an.kind, func.count()).group_by(an.kind))
    return {
        "last_relink": None
        if last is None
        else {
            "id": last[0],
            "trigger": last[1],
            "status": last[2],
            "started_at": last[3],
            "finished_at": last[4],
            "stats": _json(last[5]),
            "error": last[6],
        },
        "reference": await _reference(conn, reference_sources),
        "links": {source: dict(sorted(m.items())) for source, m in sorted(by_method.items())},
        "review": {status: int(review.get(status, 0)) for status in REVIEW_STATUSES},
        "anomalies": {k: int(v) for k, v in sorted(anomalies.items())},
    }


async def _counts(conn: AsyncConnection, stmt: Any) -> dict[str, int]:
    return {str(key): int(n) for key, n in await conn.execute(stmt)}


async def _reference(
    conn: AsyncConnection, reference_sources: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    dialect = conn.dialect.name
    c, k, ru = reference_coins.c, reference_contracts.c, runs.c
    coins = await _counts(conn, select(c.source, func.count()).group_by(c.source))
    contracts = await _counts(
        conn, select(k.source, func.count()).where(k.chain.is_not(None)).group_by(k.source)
    )
    out: dict[str, Any] = {}
    for api, sources in sorted(reference_sources.items()):
        last = (
            await conn.execute(
                select(ru.id, timestamp_out(ru.finished_at, dialect))
                .where(ru.source.in_(list(sources)), ru.status.in_(sorted(OK)))
                .order_by(ru.id.desc())
                .limit(1)
            )
        ).first()
        out[api] = {
            "sources": list(sources),
            "coins": int(coins.get(api, 0)),
            "contracts": int(contracts.get(api, 0)),
            "refreshed_at": last[1] if last else None,
            "run_id": last[0] if last else None,
        }
    return out


@dataclass(frozen=True, slots=True)
class ReviewPage:
    items: list[dict[str, Any]]
    next_id: int | None


async def review_queue(
    conn: AsyncConnection, status: str, *, limit: int, after_id: int | None
) -> ReviewPage:
    dialect = conn.dialect.name
    rv = identity_review.c
    stmt = select(
        rv.id,
        rv.a_source,
        rv.a_id,
        rv.status,
        rv.reason,
        rv.evidence,
        timestamp_out(rv.created_at, dialect),
        timestamp_out(rv.updated_at, dialect),
        timestamp_out(rv.decided_at, dialect),
        rv.decided_by,
        rv.note,
        rv.b_source,
        rv.b_id,
        rv.score,
    ).where(rv.status == status)
    if after_id is not None:
        stmt = stmt.where(rv.id > after_id)
    rows = (await conn.execute(stmt.order_by(rv.id).limit(limit + 1))).all()
    next_id = rows[limit - 1][0] if len(rows) > limit else None
    rows = rows[:limit]
    coins = await _coins(conn, [(r[1], r[2]) for r in rows] + [(r[11], r[12]) for r in rows])
    items = [
        {
            "id": r[0],
            "status": r[3],
            "reason": r[4],
            "score": r[13],
            "evidence": _json(r[5]),
            "created_at": r[6],
            "updated_at": r[7],
            "decided_at": r[8],
            "decided_by": r[9],
            "note": r[10],
            "coins": [
                coins.get((r[1], r[2]), {"source": r[1], "id": r[2]}),
                coins.get((r[11], r[12]), {"source": r[11], "id": r[12]}),
            ],
        }
        for r in rows
    ]
    return ReviewPage(items, next_id)


async def _coins(
    conn: AsyncConnection, ids: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Reference data and current asset of each (source, id), for a reviewer. ``asset_id``
    is there only when the coin is mapped: never a null where an asset id is expected (a
    client following it to ``/assets/{asset_id}`` would ask for ``/assets/None``)."""
    if not ids:
        return {}
    c, k, m = reference_coins.c, reference_contracts.c, asset_mappings.c
    out: dict[tuple[str, str], dict[str, Any]] = {
        key: {"source": key[0], "id": key[1], "symbol": None, "name": None, "contracts": []}
        for key in ids
    }
    for source in sorted({s for s, _ in ids}):
        wanted = sorted({i for s, i in ids if s == source})
        for sid, symbol, name, kind in await conn.execute(
            select(c.source_asset_id, c.symbol, c.name, c.kind).where(
                c.source == source, c.source_asset_id.in_(wanted)
            )
        ):
            out[(source, sid)].update(symbol=symbol, name=name, kind=kind)
        for sid, chain, platform, spelled in await conn.execute(
            select(k.source_asset_id, k.chain, k.platform, k.spelled)
            .where(k.source == source, k.source_asset_id.in_(wanted))
            .order_by(k.platform, k.address)
        ):
            out[(source, sid)]["contracts"].append(
                {"chain": chain, "platform": platform, "address": spelled}
            )
        for sid, asset_id, symbol, name in await conn.execute(
            select(m.source_asset_id, m.asset_id, m.source_symbol, m.source_name).where(
                m.source == source, m.source_asset_id.in_(wanted)
            )
        ):
            coin = out[(source, sid)]
            coin["asset_id"] = asset_id
            if coin["symbol"] is None:  # a source without reference data: as it names it
                coin.update(symbol=symbol, name=name)
    return out


@dataclass(frozen=True, slots=True)
class AnomalyPage:
    items: list[dict[str, Any]]
    next_id: int | None


async def anomalies(
    conn: AsyncConnection, *, kind: str | None, limit: int, after_id: int | None
) -> AnomalyPage:
    """Bad reference data of the last relink, by id (keyset-paginated like every list)."""
    an = identity_anomalies.c
    stmt = select(an.id, an.relink_id, an.kind, an.source, an.detail, an.ids)
    if kind is not None:
        stmt = stmt.where(an.kind == kind)
    if after_id is not None:
        stmt = stmt.where(an.id > after_id)
    rows = (await conn.execute(stmt.order_by(an.id).limit(limit + 1))).all()
    next_id = rows[limit - 1][0] if len(rows) > limit else None
    items = [
        {
            "id": r[0],
            "relink_id": r[1],
            "kind": r[2],
            "source": r[3],
            "detail": r[4],
            "ids": _json(r[5]) or [],
        }
        for r in rows[:limit]
    ]
    return AnomalyPage(items, next_id)
