"""Identity linking's store side: the linker's inputs, its plan, the review queue, the lock.

All SQL of identity linking except the re-linking of assets (``load.relink``) lives here.
Functions take a connection and never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load.bulk import insert_rows, update_rows
from kasparro.normalize.linking import (
    CG,
    CP,
    Anomaly,
    Candidate,
    Decision,
    LinkPlan,
    PriorLink,
)
from kasparro.store.schema import (
    checkpoints,
    identity_anomalies,
    identity_links,
    identity_relinks,
    identity_review,
    latest_observations,
    observations,
    reference_coins,
    reference_contracts,
)

LINKED_SOURCES: Final = (CG, CP)
# An arbitrary constant naming the identity lock (PostgreSQL advisory locks take a bigint).
_LOCK_KEY: Final = 0x6B617370_6964  # "kasp" "id"


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def loads(value: str | None) -> Any:
    return orjson.loads(value) if value else {}


# --- the lock ---------------------------------------------------------------------------------


async def identity_lock(conn: AsyncConnection, *, exclusive: bool) -> None:
    """Serialize re-linking (exclusive) against market loads resolving identities (shared),
    until the transaction ends. Without it a load could map a coin to an asset that a
    concurrent relink is merging away, and insert observations onto the alias.

    PostgreSQL: a transaction-scoped advisory lock. SQLite needs none: every writer starts
    with BEGIN IMMEDIATE, so write transactions never interleave."""
    if conn.dialect.name != "postgresql":
        return
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(text(f"SELECT {fn}(:key)"), {"key": _LOCK_KEY})


# --- inputs ------------------------------------------------------------------------------------


@dataclass(slots=True)
class LinkInputs:
    coingecko: list[Candidate]
    coinpaprika: list[Candidate]
    decisions: list[Decision]
    prior: list[PriorLink]
    # Bad reference data the normalizers kept out of linking (empty addresses, unknown chains).
    anomalies: list[Anomaly]

    @property
    def complete(self) -> bool:
        return bool(self.coingecko) and bool(self.coinpaprika)


# The reference source that keeps each linked API's snapshot (sources.registry).
REFERENCE_SOURCES: Final = {CG: "coingecko_reference", CP: "coinpaprika_reference"}


async def incomplete_references(conn: AsyncConnection) -> list[str]:
    """The linked APIs whose reference snapshot is missing or half-written: no coins yet, or
    their reference run is between pages (its checkpoint is in progress). Linking on half a
    snapshot would make (sticky) decisions on missing contracts."""
    c, cp = reference_coins.c, checkpoints.c
    found = await conn.execute(select(c.source, func.count()).group_by(c.source))
    counts: dict[str, int] = {source: int(n) for source, n in found}
    states: dict[str, str] = dict(
        (
            await conn.execute(
                select(cp.source, cp.state).where(cp.source.in_(REFERENCE_SOURCES.values()))
            )
        ).all()
    )
    missing = []
    for api, source in REFERENCE_SOURCES.items():
        state = loads(states.get(source))
        if not counts.get(api) or not state or state.get("in_progress"):
            missing.append(api)
    return missing


async def read_inputs(conn: AsyncConnection) -> LinkInputs:
    c, k = reference_coins.c, reference_contracts.c
    contracts: dict[tuple[str, str], dict[tuple[str, str], tuple[str, str]]] = defaultdict(dict)
    found = await conn.execute(
        select(k.source, k.source_asset_id, k.chain, k.address, k.platform, k.spelled).where(
            k.source.in_(LINKED_SOURCES), k.chain.is_not(None)
        )
    )
    for source, sid, chain, address, platform, spelled in found:
        contracts[(source, sid)][(chain, address)] = (platform, spelled)
    market = await _market_hints(conn)
    coins: dict[str, list[Candidate]] = {CG: [], CP: []}
    issues: dict[tuple[str, str], list[str]] = defaultdict(list)
    rows = await conn.execute(
        select(c.source, c.source_asset_id, c.symbol, c.name, c.rank, c.issues)
        .where(c.source.in_(LINKED_SOURCES))
        .order_by(c.source, c.source_asset_id)
    )
    for source, sid, symbol, name, rank, issue_text in rows:
        cap, market_rank = market.get((source, sid), (None, None))
        spelled = contracts.get((source, sid), {})
        coins[source].append(
            Candidate(
                source=source,
                id=sid,
                symbol=symbol,
                name=name,
                contracts=frozenset(spelled),
                market_cap=cap,
                rank=market_rank or rank,
                spelled=spelled,
            )
        )
        for issue in loads(issue_text) or ():
            issues[(source, issue)].append(sid)
    anomalies = [
        Anomaly(
            issue.split(":", 1)[0],
            source,
            f"{issue.split(':', 1)[1] or '(no platform)'}: {len(ids)} coin(s)",
            tuple(sorted(ids)[:20]),
        )
        for (source, issue), ids in sorted(issues.items())
    ]
    return LinkInputs(
        coins[CG], coins[CP], await read_decisions(conn), await _prior(conn), anomalies
    )


async def _market_hints(conn: AsyncConnection) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(source, id) -> (market cap, rank) of its latest observation."""
    o, lo = observations.c, latest_observations.c
    rows = await conn.execute(
        select(o.source, o.source_asset_id, o.market_cap_usd, o.market_cap_rank)
        .select_from(latest_observations.join(observations, o.id == lo.observation_id))
        .where(lo.source.in_(LINKED_SOURCES))
    )
    return {(s, sid): (cap, rank) for s, sid, cap, rank in rows}


async def read_decisions(conn: AsyncConnection) -> list[Decision]:
    r = identity_review.c
    rows = await conn.execute(
        select(r.coingecko_id, r.coinpaprika_id, r.status, r.decided_at, r.decided_by, r.note)
        .where(r.status.in_(("accepted", "rejected")))
        .order_by(r.decided_at, r.id)
    )
    return [
        Decision(
            cg,
            cp,
            status == "accepted",
            {
                "decided_at": at.isoformat() if at else None,
                "decided_by": by,
                "note": note,
            },
        )
        for cg, cp, status, at, by, note in rows
    ]


async def _prior(conn: AsyncConnection) -> list[PriorLink]:
    li = identity_links.c
    rows = await conn.execute(
        select(li.source_asset_id, li.counterpart, li.method, li.evidence).where(
            li.source == CG, li.counterpart.is_not(None)
        )
    )
    return [PriorLink(cg, cp, method, loads(ev)) for cg, cp, method, ev in rows]


# --- the plan ----------------------------------------------------------------------------------


async def start_relink(conn: AsyncConnection, trigger: str, now: datetime) -> int:
    result = await conn.execute(
        insert(identity_relinks).returning(identity_relinks.c.id),
        {"trigger": trigger[:64], "status": "running", "started_at": now},
    )
    return int(result.scalar_one())


async def finish_relink(
    conn: AsyncConnection,
    relink_id: int,
    status: str,
    now: datetime,
    stats: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    await conn.execute(
        update(identity_relinks)
        .where(identity_relinks.c.id == relink_id)
        .values(
            status=status,
            finished_at=now,
            stats=dumps(stats) if stats is not None else None,
            error=error,
        )
    )


async def save_plan(
    conn: AsyncConnection, plan: LinkPlan, extra: Sequence[Anomaly], relink_id: int, now: datetime
) -> dict[str, int]:
    """Replace the links and anomalies, sync the review queue; return review counts."""
    await conn.execute(delete(identity_links))
    await insert_rows(
        conn,
        identity_links,
        [
            {
                "source": x.source,
                "source_asset_id": x.id,
                "identity_key": x.key,
                "method": x.method,
                "counterpart": x.counterpart,
                "confidence": x.confidence,
                "evidence": dumps(x.evidence) if x.evidence else None,
                "relink_id": relink_id,
                "decided_at": now,
            }
            for x in plan.links
        ],
        conflict=("source", "source_asset_id"),
    )
    await conn.execute(delete(identity_anomalies))
    await insert_rows(
        conn,
        identity_anomalies,
        [
            {
                "relink_id": relink_id,
                "kind": a.kind,
                "source": a.source,
                "detail": a.detail,
                "ids": dumps(list(a.ids)),
            }
            for a in [*plan.anomalies, *extra]
        ],
        conflict=("id",),
    )
    return await _sync_review(conn, plan, now)


async def _sync_review(conn: AsyncConnection, plan: LinkPlan, now: datetime) -> dict[str, int]:
    r = identity_review.c
    existing = {
        (cg, cp): (rid, status)
        for rid, cg, cp, status in await conn.execute(
            select(r.id, r.coingecko_id, r.coinpaprika_id, r.status)
        )
    }
    proposed = {(i.coingecko_id, i.coinpaprika_id): i for i in plan.review}
    new_rows, reopened, obsolete = [], [], []
    for pair, item in proposed.items():
        row = {"reason": item.reason, "evidence": dumps(item.evidence), "updated_at": now}
        found = existing.get(pair)
        if found is None:
            new_rows.append(
                {
                    "coingecko_id": pair[0],
                    "coinpaprika_id": pair[1],
                    "status": "pending",
                    "created_at": now,
                    **row,
                }
            )
        elif found[1] in ("pending", "obsolete"):
            reopened.append({"id": found[0], "status": "pending", **row})
    for pair, (rid, status) in existing.items():
        if status == "pending" and pair not in proposed:
            obsolete.append({"id": rid, "status": "obsolete", "updated_at": now})
    await insert_rows(conn, identity_review, new_rows, conflict=("coingecko_id", "coinpaprika_id"))
    await update_rows(conn, identity_review, reopened, key=("id",))
    await update_rows(conn, identity_review, obsolete, key=("id",))
    return {"pending": len(proposed), "new": len(new_rows), "obsolete": len(obsolete)}


async def decide(
    conn: AsyncConnection,
    coingecko_id: str,
    coinpaprika_id: str,
    *,
    accept: bool,
    decided_by: str,
    note: str | None,
    now: datetime,
) -> int:
    """Record a human's verdict on a pairing (creating the review item if it was never
    proposed); return its id. Sticky: relinks never change it."""
    r = identity_review.c
    values = {
        "status": "accepted" if accept else "rejected",
        "decided_at": now,
        "decided_by": decided_by[:200],
        "note": note,
        "updated_at": now,
    }
    found = (
        await conn.execute(
            select(r.id).where(r.coingecko_id == coingecko_id, r.coinpaprika_id == coinpaprika_id)
        )
    ).scalar_one_or_none()
    if found is not None:
        await conn.execute(update(identity_review).where(r.id == found).values(**values))
        return int(found)
    result = await conn.execute(
        insert(identity_review).returning(r.id),
        {
            "coingecko_id": coingecko_id,
            "coinpaprika_id": coinpaprika_id,
            "reason": "manual",
            "evidence": None,
            "created_at": now,
            **values,
        },
    )
    return int(result.scalar_one())


async def review_item(conn: AsyncConnection, review_id: int) -> tuple[str, str] | None:
    r = identity_review.c
    row = (
        await conn.execute(select(r.coingecko_id, r.coinpaprika_id).where(r.id == review_id))
    ).first()
    return (row[0], row[1]) if row else None
