"""Identity resolution: (source, source_asset_id) -> canonical asset, set-based per batch.

Rules (QUIRKS.md "Matching a CoinGecko coin to a CoinPaprika coin"):
- A mapping, once decided, is sticky and reused (one SELECT for the whole batch).
- New ids resolve by a curated override key or by ``symbol:name-slug`` — never by symbol alone.
- One source can hold a key only once. When a second id of the same source wants a key that is
  already held (or two ids in one batch want it), the newcomer gets its own source-scoped asset
  and the mapping is recorded as ``ambiguous`` with a note naming the holder: recorded, not
  guessed. Within a batch the better-ranked coin wins the shared key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.models import MarketRecord
from kasparro.normalize.identity import resolve_key
from kasparro.store.dialect import chunks, insert_for
from kasparro.store.schema import asset_mappings, assets

IN_CHUNK = 900

CONFIDENCE = {
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


def _rank_order(rec: MarketRecord) -> tuple[int, Decimal, str]:
    rank = rec.market_cap_rank if rec.market_cap_rank is not None else 1 << 30
    cap = rec.market_cap_usd if rec.market_cap_usd is not None else Decimal(0)
    return (rank, -cap, rec.source_asset_id)


async def resolve_assets(
    conn: AsyncConnection, source: str, records: list[MarketRecord], run_id: int
) -> dict[str, int]:
    """Return source_asset_id -> asset id for every record, creating assets/mappings as needed."""
    firsts: dict[str, MarketRecord] = {}
    for rec in records:
        firsts.setdefault(rec.source_asset_id, rec)
    resolved = await _existing_mappings(conn, source, list(firsts))
    unknown = [rec for sid, rec in firsts.items() if sid not in resolved]
    if not unknown:
        return resolved

    wanted: dict[str, list[tuple[MarketRecord, str]]] = {}
    for rec in unknown:
        key, method = resolve_key(rec)
        wanted.setdefault(key, []).append((rec, method))
    holders = await _keys_held_by_source(conn, source, list(wanted))

    decisions: list[_Decision] = []
    for key, candidates in wanted.items():
        candidates.sort(key=lambda c: _rank_order(c[0]))
        holder = holders.get(key)
        for i, (rec, method) in enumerate(candidates):
            if holder is None and i == 0:
                decisions.append(_Decision(rec, key, method))
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
        if method == "symbol_name" and d.key in created:
            method = "new"  # nothing to match yet: this source is the first to see the coin
        mapping_rows.append(
            {
                "source": source,
                "source_asset_id": d.record.source_asset_id,
                "asset_id": key_ids[d.key],
                "method": method,
                "confidence": CONFIDENCE[method],
                "note": d.note,
                "source_symbol": d.record.symbol,
                "source_name": d.record.name,
                "decided_at": now,
                "run_id": run_id,
            }
        )
        resolved[d.record.source_asset_id] = key_ids[d.key]
    stmt = insert_for(conn, asset_mappings).on_conflict_do_nothing(
        index_elements=["source", "source_asset_id"]
    )
    await conn.execute(stmt, mapping_rows)
    return resolved


async def _existing_mappings(
    conn: AsyncConnection, source: str, source_ids: list[str]
) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in chunks(source_ids, IN_CHUNK):
        rows = await conn.execute(
            select(asset_mappings.c.source_asset_id, asset_mappings.c.asset_id).where(
                asset_mappings.c.source == source, asset_mappings.c.source_asset_id.in_(part)
            )
        )
        out.update({sid: aid for sid, aid in rows})
    return out


async def _keys_held_by_source(
    conn: AsyncConnection, source: str, keys: list[str]
) -> dict[str, str]:
    """identity_key -> the source_asset_id of ``source`` already mapped to that key's asset."""
    out: dict[str, str] = {}
    for part in chunks(keys, IN_CHUNK):
        rows = await conn.execute(
            select(assets.c.identity_key, asset_mappings.c.source_asset_id)
            .join(
                asset_mappings,
                and_(asset_mappings.c.asset_id == assets.c.id, asset_mappings.c.source == source),
            )
            .where(assets.c.identity_key.in_(part))
        )
        for key, sid in rows:
            out.setdefault(key, sid)
    return out


async def _ensure_assets(
    conn: AsyncConnection, decisions: list[_Decision], now: datetime
) -> tuple[dict[str, int], set[str]]:
    rows = {
        d.key: {
            "identity_key": d.key,
            "symbol": d.record.symbol,
            "name": d.record.name,
            "created_at": now,
        }
        for d in decisions
    }
    stmt = (
        insert_for(conn, assets)
        .on_conflict_do_nothing(index_elements=["identity_key"])
        .returning(assets.c.identity_key)
    )
    created = {r[0] for r in await conn.execute(stmt, list(rows.values()))}
    ids: dict[str, int] = {}
    for part in chunks(list(rows), IN_CHUNK):
        result = await conn.execute(
            select(assets.c.identity_key, assets.c.id).where(assets.c.identity_key.in_(part))
        )
        ids.update({k: i for k, i in result})
    return ids, created
