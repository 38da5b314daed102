"""Venue bases linked to canonical assets, stored in ``venue_market_links``.

The inputs are read here (the assets with their CoinGecko id and current USD price, the
venue's latest quotes), the decisions made by the pure ``kasparro.venues.linking`` and the
rates by ``kasparro.venues.conversion``. Decisions are sticky: a base linked to one asset
that the evidence now points elsewhere goes to review with both, never silently moves.
These links are the venues' own until the N-source identity store takes them over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load.bulk import insert_rows
from kasparro.store.schema import (
    LATEST_ROW,
    asset_mappings,
    assets,
    latest_observations,
    observations,
)
from kasparro.store.venue_schema import venue_market_links
from kasparro.venues.conversion import measure_rates, to_usd
from kasparro.venues.linking import LINKED, REVIEW, Candidate, Decision, MarketBase

# Whose current price a candidate is checked against, in order of preference.
PRICE_SOURCES = ("coingecko", "coinpaprika")


async def candidates(conn: AsyncConnection) -> list[Candidate]:
    """Every canonical asset: its CoinGecko id (else its identity key), symbol and the
    current USD price of the first of ``PRICE_SOURCES`` that quotes it."""
    ids = {
        r.asset_id: r.source_asset_id
        for r in await conn.execute(
            select(asset_mappings.c.asset_id, asset_mappings.c.source_asset_id).where(
                asset_mappings.c.source == "coingecko"
            )
        )
    }
    prices: dict[int, Decimal] = {}
    for source in reversed(PRICE_SOURCES):  # the preferred source last: it wins
        rows = await conn.execute(
            select(latest_observations.c.asset_id, observations.c.price_usd)
            .join(observations, LATEST_ROW)
            .where(latest_observations.c.source == source, observations.c.price_usd.is_not(None))
        )
        prices.update({r.asset_id: r.price_usd for r in rows})
    rows = await conn.execute(
        select(assets.c.id, assets.c.identity_key, assets.c.symbol).where(
            assets.c.alias_of.is_(None)
        )
    )
    return [
        Candidate(r.id, ids.get(r.id, r.identity_key), r.symbol, prices.get(r.id)) for r in rows
    ]


def market_bases(quotes: Sequence[Any], venue: str) -> list[MarketBase]:
    """The venue's base currencies, each priced in USD from its most traded market (by USD
    volume) with a measured rate; alias books never price anything."""
    excluded = frozenset((q.venue, q.alias) for q in quotes if getattr(q, "alias", None))
    rates = measure_rates(quotes, excluded=excluded)
    best: dict[str, tuple[Decimal, MarketBase]] = {}
    for q in quotes:
        if q.venue != venue or (q.venue, q.market_id) in excluded:
            continue
        usd = to_usd(q.last, q.quote, rates).price_usd
        volume = (q.base_volume or Decimal(0)) * (usd or Decimal(0))
        base = MarketBase(venue, q.base_id, q.base, usd)
        if q.base_id not in best or volume > best[q.base_id][0]:
            best[q.base_id] = (volume, base)
    return [b for _, b in sorted(best.values(), key=lambda vb: vb[1].base_id)]


async def save_decisions(
    conn: AsyncConnection, decisions: Sequence[Decision], now: datetime
) -> dict[str, int]:
    """Upsert the decisions (sticky, see the module doc); counts per status."""
    if not decisions:
        return {}
    venue = decisions[0].venue
    stored = {
        r.base_id: r
        for r in await conn.execute(
            select(venue_market_links).where(
                and_(
                    venue_market_links.c.venue == venue,
                    venue_market_links.c.base_id.in_([d.base_id for d in decisions]),
                )
            )
        )
    }
    rows, counts = [], {LINKED: 0, REVIEW: 0}
    for d in decisions:
        status, method, asset_id, evidence = d.status, d.method, d.asset_id, dict(d.evidence)
        prior = stored.get(d.base_id)
        if prior is not None and prior.status == LINKED and asset_id != prior.asset_id:
            if d.status == REVIEW and d.method == "symbol" and d.asset_id is None:
                # No price to check this time (no measured rate yet): nothing contradicts
                # the link, keep it as it was.
                evidence = {**orjson.loads(prior.evidence), "recheck": evidence.get("reason")}
                status, asset_id, method = LINKED, prior.asset_id, prior.method
            else:
                evidence["was_linked_to"] = prior.asset_id
                evidence["now_points_to"] = asset_id
                status, asset_id, method = REVIEW, prior.asset_id, "conflict"
        counts[status] += 1
        rows.append(
            {
                "venue": d.venue,
                "base_id": d.base_id,
                "base": d.base,
                "asset_id": asset_id,
                "status": status,
                "method": method,
                "evidence": orjson.dumps(evidence, default=str).decode(),
                "updated_at": now,
            }
        )
    await insert_rows(
        conn,
        venue_market_links,
        rows,
        conflict=("venue", "base_id"),
        update=("base", "asset_id", "status", "method", "evidence", "updated_at"),
    )
    return counts
