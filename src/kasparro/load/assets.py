"""Identity resolution: (source, source_asset_id) -> canonical asset, set-based per batch.

Rules (QUIRKS.md "Matching a CoinGecko coin to a CoinPaprika coin"):
- A mapping, once decided, is sticky and reused (one SELECT for the whole batch); re-linking
  (``identity.reconcile``) is the only thing that moves it, with its observations.
- A new id the identity linker has decided (``identity_links``: contracts, overrides, names,
  market caps, manual decisions) takes that identity key and method.
- Other new ids resolve by a curated override key or by ``symbol:name-slug`` — never by
  symbol alone.
- One source can hold a key only once. When a second id of the same source wants a key that is
  already held (or two ids in one batch want it), the newcomer gets its own source-scoped asset
  and the mapping is recorded as ``ambiguous`` with a note naming the holder: recorded, not
  guessed. Within a batch the better-ranked coin wins the shared key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.identity.keys import resolve_key
from kasparro.identity.repository import CONFIDENCE as LINK_CONFIDENCE
from kasparro.identity.repository import identity_lock
from kasparro.load.bulk import insert_rows
from kasparro.models import MarketRecord, display_name
from kasparro.store.dialect import key_table
from kasparro.store.identity_schema import identity_links
from kasparro.store.schema import asset_mappings, assets

CONFIDENCE: dict[str, Decimal | None] = {
    **LINK_CONFIDENCE,
    "override": Decimal("1"),
    "symbol_name": Decimal("0.9"),
    "new": None,
    "ambiguous": Decimal("0.5"),
}


@dataclass(slots=True)
class _Decision:
    record: MarketRecord
    key: str
    method: str
    note: str | None = None
    evidence: str | None = None


def _rank_order(rec: MarketRecord) -> tuple[int, Decimal, str]:
    rank = rec.market_cap_rank if rec.market_cap_rank is not None else 1 << 30
    cap = rec.market_cap_usd if rec.market_cap_usd is not None else Decimal(0)
    return (rank, -cap, rec.source_asset_id)


async def resolve_assets(
    conn: AsyncConnection,
    source: str,
    records: list[MarketRecord],
    run_id: int,
    *,
    pages: Sequence[int] | None = None,
    new_ids: list[str] | None = None,
) -> dict[str, int]:
    """Return source_asset_id -> asset id for every record, creating assets/mappings as needed.

    ``pages`` (parallel to ``records``) orders the pages of a load that spans several: a key
    wanted on two pages goes to the earlier page's coin, as it would had the pages been
    loaded one after the other, so how pages happen to be grouped into transactions never
    changes a (sticky) identity decision. Within one page the better-ranked coin wins."""
    firsts: dict[str, tuple[MarketRecord, int]] = {}
    for i, rec in enumerate(records):
        firsts.setdefault(rec.source_asset_id, (rec, 0 if pages is None else pages[i]))
    # Identities are read and decided under the identity lock: a concurrent relink must not
    # merge away an asset this batch is mapping coins to.
    await identity_lock(conn, exclusive=False)
    resolved = await _existing_mappings(conn, source, list(firsts))
    unknown = [first for sid, first in firsts.items() if sid not in resolved]
    if not unknown:
        return resolved

    linked = await _linked_keys(conn, source, [rec.source_asset_id for rec, _ in unknown])
    wanted: dict[str, list[tuple[MarketRecord, str, int]]] = {}
    for rec, page in unknown:
        link = linked.get(rec.source_asset_id)
        key, method = (link[0], link[1]) if link else resolve_key(rec)
        wanted.setdefault(key, []).append((rec, method, page))
    holders = await _keys_held_by_source(conn, source, list(wanted))

    decisions: list[_Decision] = []
    for key, candidates in wanted.items():
        candidates.sort(key=lambda c: (c[2], _rank_order(c[0])))
        holder = holders.get(key)
        for i, (rec, method, _) in enumerate(candidates):
            if holder is None and i == 0:
                link = linked.get(rec.source_asset_id)
                decisions.append(_Decision(rec, key, method, evidence=link[2] if link else None))
                continue
            held_by = holder if holder is not None else candidates[0][0].source_asset_id
            decisions.append(
                _Decision(
                    rec,
                    f"{source}:{rec.source_asset_id}",
                    "ambiguous",
                    f"identity key {key!r} is already held by {source} id {held_by!r}",
                )
            )

    now = datetime.now(UTC)
    key_ids, created = await _ensure_assets(conn, decisions, now)
    mapping_rows = []
    for d in decisions:
        method = d.method
        if d.record.source_asset_id in linked:
            # The linker's method stands (a pair's first coin too); a coin it found no
            # partner for, joining an asset another source created, matched by its key.
            if method == "new" and d.key not in created:
                method = "symbol_name"
        elif method == "symbol_name" and d.key in created:
            method = "new"  # nothing to match yet: this source is the first to see the coin
        mapping_rows.append(
            {
                "source": source,
                "source_asset_id": d.record.source_asset_id,
                "asset_id": key_ids[d.key],
                "method": method,
                "confidence": CONFIDENCE[method],
                "note": d.note,
                "evidence": d.evidence,
                "source_symbol": d.record.symbol,
                "source_name": d.record.name,
                "decided_at": now,
                "run_id": run_id,
            }
        )
        resolved[d.record.source_asset_id] = key_ids[d.key]
    await insert_rows(conn, asset_mappings, mapping_rows, conflict=("source", "source_asset_id"))
    if new_ids is not None:
        new_ids += [str(row["source_asset_id"]) for row in mapping_rows]
    return resolved


async def _linked_keys(
    conn: AsyncConnection, source: str, source_ids: list[str]
) -> dict[str, tuple[str, str, str | None]]:
    """source_asset_id -> (identity key, method, evidence) the identity linker decided."""
    li = identity_links.c
    keys = key_table(conn, source_ids)

    def probe(column: Any) -> Any:  # one primary-key probe per id (see key_table)
        return (
            select(column)
            .where(li.source == source, li.source_asset_id == keys.c.value)
            .scalar_subquery()
        )

    rows = await conn.execute(
        select(keys.c.value, probe(li.identity_key), probe(li.method), probe(li.evidence))
    )
    return {sid: (key, method, ev) for sid, key, method, ev in rows if key is not None}


async def _existing_mappings(
    conn: AsyncConnection, source: str, source_ids: list[str]
) -> dict[str, int]:
    m = asset_mappings.c
    keys = key_table(conn, source_ids)
    asset_id = (
        select(m.asset_id)
        .where(m.source == source, m.source_asset_id == keys.c.value)
        .scalar_subquery()
    )
    rows = await conn.execute(select(keys.c.value, asset_id))
    return {sid: aid for sid, aid in rows if aid is not None}


async def _keys_held_by_source(
    conn: AsyncConnection, source: str, identity_keys: list[str]
) -> dict[str, str]:
    """identity_key -> the source_asset_id of ``source`` already mapped to that key's asset."""
    m = asset_mappings.c
    keys = key_table(conn, identity_keys)
    asset_id = (
        select(func.coalesce(assets.c.alias_of, assets.c.id))  # a merged asset's key: its target
        .where(assets.c.identity_key == keys.c.value)
        .correlate(keys)  # two levels down: auto-correlation only looks one level up
        .scalar_subquery()
    )
    # The asset's few mappings come through ix_asset_mappings_asset; `source` is compared to
    # the result, not in the WHERE clause, where SQLite's planner preferred walking every
    # mapping of the source through the primary key.
    held = (
        select(func.min(case((m.source == source, m.source_asset_id))))
        .where(m.asset_id == asset_id)
        .scalar_subquery()
    )
    rows = await conn.execute(select(keys.c.value, held))
    return {key: sid for key, sid in rows if sid is not None}


async def _ensure_assets(
    conn: AsyncConnection, decisions: list[_Decision], now: datetime
) -> tuple[dict[str, int], set[str]]:
    rows = {
        d.key: {
            "identity_key": d.key,
            "symbol": d.record.symbol,
            "name": display_name(d.record),
            "created_at": now,
        }
        for d in decisions
    }
    # Sorted by key: two sources' concurrent loads insert overlapping keys, and in their own
    # rank orders they deadlocked on PostgreSQL (each waiting for a key the other had
    # inserted); in one global order the later one just waits for the earlier.
    inserted = await insert_rows(
        conn,
        assets,
        [rows[key] for key in sorted(rows)],
        conflict=("identity_key",),
        returning=(assets.c.identity_key, assets.c.id),
    )
    ids = {key: asset_id for key, asset_id in inserted}
    created = set(ids)
    # Keys that already existed (or were just inserted by a concurrent run: a new statement
    # sees rows other transactions committed after the insert's snapshot).
    rest = [key for key in rows if key not in ids]
    if rest:
        keys = key_table(conn, rest)
        asset_id = (
            select(func.coalesce(assets.c.alias_of, assets.c.id))
            .where(assets.c.identity_key == keys.c.value)
            .scalar_subquery()
        )
        ids.update((key, aid) for key, aid in await conn.execute(select(keys.c.value, asset_id)))
    return ids, created
