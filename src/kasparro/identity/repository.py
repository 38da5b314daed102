"""Identity's store side: the linker's inputs, its plan, the review queue, decisions, the lock.

All write-side SQL of identity linking except the re-linking of assets
(``identity.reconcile``) lives here; the read side of the API is ``identity.queries``.
Functions take a connection and never commit. Coins are ``(source, source_asset_id)``
pairs of any source.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import orjson
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.identity.detail_store import read_details
from kasparro.identity.model import Anomaly, Candidate, CoinRef, Decision, LinkPlan
from kasparro.load.bulk import insert_rows, update_rows
from kasparro.store.identity_schema import (
    identity_anomalies,
    identity_links,
    identity_relinks,
    identity_review,
    reference_coins,
    reference_contracts,
)
from kasparro.store.schema import (
    LATEST_ROW,
    asset_mappings,
    checkpoints,
    latest_observations,
    listings,
    observations,
)

# An arbitrary constant naming the identity lock (PostgreSQL advisory locks take a bigint).
_LOCK_KEY: Final = 0x6B617370_6964  # "kasp" "id"

# How much a link's method says, for the mappings it decides (asset_mappings.confidence).
CONFIDENCE: Final[dict[str, Decimal | None]] = {
    "manual": Decimal("1"),
    "override": Decimal("1"),
    "contract": Decimal("0.99"),
    "name": Decimal("0.9"),
    "market": Decimal("0.75"),
    "new": None,
}


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
    candidates: list[Candidate]
    decisions: list[Decision]
    # Bad reference data the normalizers kept out of linking (empty addresses, unknown chains).
    anomalies: list[Anomaly]
    coins: dict[str, int] = field(default_factory=dict)  # candidates per source


async def incomplete_references(
    conn: AsyncConnection, reference_sources: Mapping[str, Sequence[str]]
) -> list[str]:
    """The namespaces whose reference snapshot is missing or half-written: no coins yet, or
    a reference run between pages (its checkpoint in progress). Linking on half a snapshot
    would decide on missing contracts. ``reference_sources``: namespace -> its reference
    sources (from the registry)."""
    c, cp = reference_coins.c, checkpoints.c
    found = await conn.execute(select(c.source, func.count()).group_by(c.source))
    counts: dict[str, int] = {source: int(n) for source, n in found}
    names = sorted({n for sources in reference_sources.values() for n in sources})
    states: dict[str, str] = dict(
        (await conn.execute(select(cp.source, cp.state).where(cp.source.in_(names)))).all()
    )
    missing = []
    for namespace, sources in sorted(reference_sources.items()):
        checkpoints_ = [loads(states.get(s)) for s in sources]
        done = all(state and not state.get("in_progress") for state in checkpoints_)
        if not counts.get(namespace) or not done:
            missing.append(namespace)
    return missing


async def read_inputs(conn: AsyncConnection) -> LinkInputs:
    """Every listed coin as a candidate: each namespace's reference coins (with their
    contracts, latest market data and fetched coin pages), and the coins of market sources
    that publish no reference data (from their mappings and latest observations: a third
    source links by the same rules)."""
    c, k = reference_coins.c, reference_contracts.c
    contracts: dict[CoinRef, dict[tuple[str, str], tuple[str, str]]] = defaultdict(dict)
    found = await conn.execute(
        select(k.source, k.source_asset_id, k.chain, k.address, k.platform, k.spelled).where(
            k.chain.is_not(None)
        )
    )
    for source, sid, chain, address, platform, spelled in found:
        contracts[(source, sid)][(chain, address)] = (platform, spelled)
    market = await _market_hints(conn)
    details = await read_details(conn)
    candidates: list[Candidate] = []
    issues: dict[tuple[str, str], list[str]] = defaultdict(list)
    rows = await conn.execute(
        select(c.source, c.source_asset_id, c.symbol, c.name, c.rank, c.active, c.issues)
    )
    referenced: set[str] = set()
    for source, sid, symbol, name, rank, active, issue_text in rows:
        referenced.add(source)
        cap, market_rank = market.get((source, sid), (None, None))
        spelled = contracts.get((source, sid), {})
        candidates.append(
            Candidate(
                source=source,
                id=sid,
                symbol=symbol,
                name=name,
                contracts=frozenset(spelled),
                market_cap=cap,
                rank=market_rank or rank,
                active=active,
                has_market_data=(source, sid) in market,
                detail=details.get((source, sid)),
                spelled=spelled,
            )
        )
        for issue in loads(issue_text) or ():
            issues[(source, issue)].append(sid)
    candidates += await _market_only(conn, referenced, market)
    anomalies = [
        Anomaly(
            issue.split(":", 1)[0],
            source,
            f"{issue.split(':', 1)[1] or '(no platform)'}: {len(ids)} coin(s)",
            tuple(sorted(ids)[:20]),
        )
        for (source, issue), ids in sorted(issues.items())
    ]
    coins: dict[str, int] = defaultdict(int)
    for cand in candidates:
        coins[cand.source] += 1
    return LinkInputs(
        candidates, await read_decisions(conn), anomalies, dict(sorted(coins.items()))
    )


async def _market_hints(conn: AsyncConnection) -> dict[CoinRef, tuple[Any, Any]]:
    """(source, id) -> (market cap, rank) of its latest observation."""
    o, li = observations.c, listings.c
    rows = await conn.execute(
        select(o.source, li.source_asset_id, o.market_cap_usd, o.market_cap_rank).select_from(
            latest_observations.join(observations, LATEST_ROW).join(listings, li.id == o.listing_id)
        )
    )
    return {(s, sid): (cap, rank) for s, sid, cap, rank in rows}


async def _market_only(
    conn: AsyncConnection, referenced: set[str], market: dict[CoinRef, tuple[Any, Any]]
) -> list[Candidate]:
    """Coins of sources without reference data, as their mappings name them (a source with
    no display names gives its symbol, which says nothing as a name)."""
    m = asset_mappings.c
    wanted = sorted({s for s, _ in market} - referenced)
    if not wanted:
        return []
    rows = await conn.execute(
        select(m.source, m.source_asset_id, m.source_symbol, m.source_name).where(
            m.source.in_(wanted)
        )
    )
    out = []
    for source, sid, symbol, name in rows:
        if (source, sid) not in market:
            continue  # mapped once, no market data now: nothing to weigh
        cap, rank = market[(source, sid)]
        out.append(
            Candidate(
                source=source,
                id=sid,
                symbol=symbol or "?",
                name=name or symbol or "?",
                market_cap=cap,
                rank=rank,
                active=True,
                has_market_data=True,
            )
        )
    return out


async def read_decisions(conn: AsyncConnection) -> list[Decision]:
    r = identity_review.c
    rows = await conn.execute(
        select(r.a_source, r.a_id, r.b_source, r.b_id, r.status, r.decided_at, r.decided_by, r.note)
        .where(r.status.in_(("accepted", "rejected")))
        .order_by(r.decided_at, r.id)
    )
    return [
        Decision(
            (a_source, a_id),
            (b_source, b_id),
            status == "accepted",
            decided_at=at.isoformat() if at else None,
            evidence={"decided_by": by, "note": note},
        )
        for a_source, a_id, b_source, b_id, status, at, by, note in rows
    ]


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
                "confidence": CONFIDENCE.get(x.method),
                "score": x.score,
                "partners": dumps([list(p) for p in x.partners]) if x.partners else None,
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


Pair = tuple[str, str, str, str]  # a_source, a_id, b_source, b_id


def ordered(a: CoinRef, b: CoinRef) -> Pair:
    """A pair's stored order: its smaller coin first."""
    (x, y) = sorted((a, b))
    return (x[0], x[1], y[0], y[1])


async def _sync_review(conn: AsyncConnection, plan: LinkPlan, now: datetime) -> dict[str, int]:
    r = identity_review.c
    existing: dict[Pair, tuple[int, str]] = {
        (a_s, a_i, b_s, b_i): (rid, status)
        for rid, a_s, a_i, b_s, b_i, status in await conn.execute(
            select(r.id, r.a_source, r.a_id, r.b_source, r.b_id, r.status)
        )
    }
    proposed = {ordered(i.a, i.b): i for i in plan.review}
    new_rows, reopened, obsolete = [], [], []
    for pair, item in proposed.items():
        row = {
            "reason": item.reason,
            "score": item.score,
            "evidence": dumps(
                {"for": list(item.evidence_for), "against": list(item.evidence_against)}
            ),
            "updated_at": now,
        }
        found = existing.get(pair)
        if found is None:
            a_source, a_id, b_source, b_id = pair
            new_rows.append(
                {
                    "a_source": a_source,
                    "a_id": a_id,
                    "b_source": b_source,
                    "b_id": b_id,
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
    await insert_rows(
        conn, identity_review, new_rows, conflict=("a_source", "a_id", "b_source", "b_id")
    )
    await update_rows(conn, identity_review, reopened, key=("id",))
    await update_rows(conn, identity_review, obsolete, key=("id",))
    return {"pending": len(proposed), "new": len(new_rows), "obsolete": len(obsolete)}


async def known_coins(conn: AsyncConnection, coins: Sequence[CoinRef]) -> set[CoinRef]:
    """Those of ``coins`` that their source lists: in its coin list (reference data, the
    last snapshot) or with market data (a listing: never deleted once loaded)."""
    found: set[CoinRef] = set()
    for table in (reference_coins, listings):
        c = table.c
        for source in sorted({s for s, _ in coins}):
            ids = sorted({i for s, i in coins if s == source})
            listed = await conn.execute(
                select(c.source_asset_id).where(c.source == source, c.source_asset_id.in_(ids))
            )
            found.update((source, sid) for (sid,) in listed)
    return found


async def decide(
    conn: AsyncConnection,
    a: CoinRef,
    b: CoinRef,
    *,
    accept: bool,
    decided_by: str,
    note: str | None,
    now: datetime,
) -> int:
    """Record a human's verdict on two coins (creating the review item if it was never
    proposed); return its id. Sticky: relinks never change it."""
    r = identity_review.c
    a_source, a_id, b_source, b_id = ordered(a, b)
    values = {
        "status": "accepted" if accept else "rejected",
        "decided_at": now,
        "decided_by": decided_by[:200],
        "note": note,
        "updated_at": now,
    }
    found = (
        await conn.execute(
            select(r.id).where(
                r.a_source == a_source, r.a_id == a_id, r.b_source == b_source, r.b_id == b_id
            )
        )
    ).scalar_one_or_none()
    if found is not None:
        await conn.execute(update(identity_review).where(r.id == found).values(**values))
        return int(found)
    result = await conn.execute(
        insert(identity_review).returning(r.id),
        {
            "a_source": a_source,
            "a_id": a_id,
            "b_source": b_source,
            "b_id": b_id,
            "reason": "manual",
            "evidence": None,
            "created_at": now,
            **values,
        },
    )
    return int(result.scalar_one())


async def review_item(conn: AsyncConnection, review_id: int) -> tuple[CoinRef, CoinRef] | None:
    r = identity_review.c
    row = (
        await conn.execute(select(r.a_source, r.a_id, r.b_source, r.b_id).where(r.id == review_id))
    ).first()
    return ((row[0], row[1]), (row[2], row[3])) if row else None
