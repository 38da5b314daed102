"""Set-based loading of reference data: coin lists, contracts, platforms.

Each page of a reference source is a complete snapshot of one *scope* (``coins``: an API's
coin list, with CoinGecko's contracts in it; ``contracts:<platform>``: CoinPaprika's
contracts on one platform; ``platforms``: CoinPaprika's platform list). ``detail`` pages are
the exception: one coin's own page each, upserted (``identity.detail_store``), never a
snapshot. Every row a page
lists is upserted with the page's raw payload id; when the page's last batch commits, the
rows of that scope that the page did not list (the payload id differs) are deleted, so the
store always holds exactly the last complete snapshot. A payload byte for byte identical to
one loaded before is skipped by the pipeline (its scope is unchanged, nothing is deleted).

Counts follow the market loader's: an entry that is new or differs from the stored one is
*loaded*, an identical one *unchanged*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.identity.chains import normalize_address
from kasparro.identity.detail_store import store_details
from kasparro.load.bulk import insert_rows
from kasparro.load.observations import LoadResult
from kasparro.models import (
    Contract,
    ReferenceCoin,
    ReferenceContract,
    ReferenceDetail,
    ReferencePlatform,
)
from kasparro.normalize.reference import SCOPE_COINS, SCOPE_DETAIL, SCOPE_PLATFORMS
from kasparro.store.dialect import key_table
from kasparro.store.identity_schema import reference_coins, reference_contracts, reference_platforms

COINS = SCOPE_COINS
PLATFORMS = SCOPE_PLATFORMS
DETAIL = SCOPE_DETAIL


@dataclass(slots=True, frozen=True)
class ReferenceBatch:
    """What the pipeline hands over for one batch of a reference page."""

    scope: str
    raw_id: int
    records: Sequence[Any]
    last: bool  # the page's last batch: stale rows of the scope go now


async def load_reference(
    conn: AsyncConnection, source: str, batches: Sequence[ReferenceBatch], now: datetime
) -> LoadResult:
    total = LoadResult(0, 0)
    for batch in batches:
        if batch.scope == DETAIL:
            # A coin's own page: upserted, never a snapshot (nothing stale to drop).
            details = [r for r in batch.records if isinstance(r, ReferenceDetail)]
            loaded, unchanged = await store_details(conn, details, batch.raw_id, now)
            total.loaded += loaded
            total.unchanged += unchanged
            continue
        if batch.scope == COINS:
            result = await _load_coins(conn, source, batch, now)
        elif batch.scope == PLATFORMS:
            result = await _load_platforms(conn, source, batch, now)
        else:
            result = await _load_contracts(conn, source, batch, batch.scope)
        total.loaded += result.loaded
        total.unchanged += result.unchanged
        if batch.last:
            await _drop_stale(conn, source, batch)
    return total


def _issues(coin: ReferenceCoin) -> str | None:
    return orjson.dumps(list(coin.issues)).decode() if coin.issues else None


def _contract_rows(
    source: str, sid: str, contracts: Sequence[Contract], scope: str, raw_id: int
) -> list[dict[str, Any]]:
    rows = {
        (c.platform, normalize_address(c.address)): {
            "source": source,
            "platform": c.platform,
            "address": normalize_address(c.address),
            "source_asset_id": sid,
            "scope": scope,
            "chain": c.chain,
            "spelled": c.address,
            "raw_id": raw_id,
        }
        for c in contracts
    }
    return list(rows.values())


async def _load_coins(
    conn: AsyncConnection, source: str, batch: ReferenceBatch, now: datetime
) -> LoadResult:
    coins: list[ReferenceCoin] = [r for r in batch.records if isinstance(r, ReferenceCoin)]
    if not coins:
        return LoadResult(0, 0)
    ids = [c.source_asset_id for c in coins]
    stored = await _stored_coins(conn, source, ids)
    rows, contract_rows, changed = [], [], 0
    for coin in coins:
        row = {
            "source": source,
            "source_asset_id": coin.source_asset_id,
            "symbol": coin.symbol,
            "name": coin.name,
            "kind": coin.kind,
            "rank": coin.rank,
            "active": coin.active,
            "issues": _issues(coin),
            "raw_id": batch.raw_id,
            "updated_at": now,
        }
        contracts = _contract_rows(
            source, coin.source_asset_id, coin.contracts, COINS, batch.raw_id
        )
        seen = (
            coin.symbol,
            coin.name,
            coin.kind,
            coin.rank,
            coin.active,
            row["issues"],
            frozenset((c["platform"], c["address"], c["spelled"]) for c in contracts),
        )
        if stored.get(coin.source_asset_id) != seen:
            changed += 1
        rows.append(row)
        contract_rows += contracts
    await insert_rows(
        conn,
        reference_coins,
        rows,
        conflict=("source", "source_asset_id"),
        update=("symbol", "name", "kind", "rank", "active", "issues", "raw_id", "updated_at"),
    )
    await _upsert_contracts(conn, contract_rows)
    return LoadResult(changed, len(coins) - changed)


async def _stored_coins(
    conn: AsyncConnection, source: str, ids: list[str]
) -> dict[str, tuple[Any, ...]]:
    c, k = reference_coins.c, reference_contracts.c
    keys = key_table(conn, ids)
    rows = await conn.execute(
        select(c.source_asset_id, c.symbol, c.name, c.kind, c.rank, c.active, c.issues).where(
            c.source == source, c.source_asset_id.in_(select(keys.c.value))
        )
    )
    contracts: dict[str, set[tuple[str, str, str]]] = {}
    found = await conn.execute(
        select(k.source_asset_id, k.platform, k.address, k.spelled).where(
            k.source == source, k.scope == COINS, k.source_asset_id.in_(select(keys.c.value))
        )
    )
    for sid, platform, address, spelled in found:
        contracts.setdefault(sid, set()).add((platform, address, spelled))
    return {
        sid: (symbol, name, kind, rank, active, issues, frozenset(contracts.get(sid, ())))
        for sid, symbol, name, kind, rank, active, issues in rows
    }


async def _upsert_contracts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await insert_rows(
        conn,
        reference_contracts,
        rows,
        conflict=("source", "platform", "address", "source_asset_id"),
        update=("scope", "chain", "spelled", "raw_id"),
    )


async def _load_contracts(
    conn: AsyncConnection, source: str, batch: ReferenceBatch, scope: str
) -> LoadResult:
    entries = [r for r in batch.records if isinstance(r, ReferenceContract)]
    if not entries:
        return LoadResult(0, 0)
    k = reference_contracts.c
    stored = {
        tuple(row)
        for row in await conn.execute(
            select(k.source_asset_id, k.platform, k.address, k.spelled).where(
                k.source == source, k.scope == scope
            )
        )
    }
    rows: list[dict[str, Any]] = []
    for entry in entries:
        rows += _contract_rows(source, entry.source_asset_id, [entry.contract], scope, batch.raw_id)
    changed = sum(
        (r["source_asset_id"], r["platform"], r["address"], r["spelled"]) not in stored
        for r in rows
    )
    await _upsert_contracts(conn, rows)
    return LoadResult(changed, len(entries) - changed)


async def _load_platforms(
    conn: AsyncConnection, source: str, batch: ReferenceBatch, now: datetime
) -> LoadResult:
    platforms = [r for r in batch.records if isinstance(r, ReferencePlatform)]
    if not platforms:
        return LoadResult(0, 0)
    p = reference_platforms.c
    stored = {
        tuple(row)
        for row in await conn.execute(select(p.platform, p.chain).where(p.source == source))
    }
    changed = sum((x.platform, x.chain) not in stored for x in platforms)
    await insert_rows(
        conn,
        reference_platforms,
        [
            {
                "source": source,
                "platform": x.platform,
                "chain": x.chain,
                "raw_id": batch.raw_id,
                "updated_at": now,
            }
            for x in platforms
        ],
        conflict=("source", "platform"),
        update=("chain", "raw_id", "updated_at"),
    )
    return LoadResult(changed, len(platforms) - changed)


async def _drop_stale(conn: AsyncConnection, source: str, batch: ReferenceBatch) -> None:
    if batch.scope == COINS:
        c = reference_coins.c
        await conn.execute(
            delete(reference_coins).where(c.source == source, c.raw_id != batch.raw_id)
        )
    if batch.scope == PLATFORMS:
        p = reference_platforms.c
        await conn.execute(
            delete(reference_platforms).where(p.source == source, p.raw_id != batch.raw_id)
        )
        return
    k = reference_contracts.c
    await conn.execute(
        delete(reference_contracts).where(
            k.source == source, k.scope == batch.scope, k.raw_id != batch.raw_id
        )
    )
