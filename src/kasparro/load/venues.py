"""Set-based loading of the venues: market lists and quotes (``store.venue_schema``).

Market lists are snapshots: every market a list names is upserted (``listed``), and when
the list's last batch commits, the venue's markets it no longer names are kept but marked
unlisted (a delisted or renamed market's old quotes stay readable with their market). A
list byte for byte identical to one loaded before reaches here with no records and
changes nothing.

Quotes are inserted once per ``(venue, market_id, observed_at)``; a repeat is *unchanged*.
``venue_latest_quotes`` moves forward to each market's newest quote and keeps
``changed_at``, the time the market's values last moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load.bulk import insert_rows
from kasparro.load.observations import LoadResult
from kasparro.store.types import decimal_text
from kasparro.store.venue_schema import venue_latest_quotes, venue_markets, venue_quotes
from kasparro.venues.models import VenueMarket, VenueQuote


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


async def load_markets(
    conn: AsyncConnection,
    venue: str,
    markets: Sequence[VenueMarket],
    raw_id: int,
    now: datetime,
    *,
    last: bool,
) -> LoadResult:
    """Upsert one batch of a venue's market list; on its ``last`` batch, unlist the rest."""
    stored = {}
    if markets:
        ids = [m.market_id for m in markets]
        found = await conn.execute(
            select(
                venue_markets.c.market_id, venue_markets.c.unified, venue_markets.c.listed
            ).where(venue_markets.c.venue == venue, venue_markets.c.market_id.in_(ids))
        )
        stored = {r.market_id: (r.unified, r.listed) for r in found}
    rows, changed = [], 0
    for m in markets:
        unified = _json(m.unified)
        if stored.get(m.market_id) != (unified, True):
            changed += 1
        rows.append(
            {
                "venue": venue,
                "market_id": m.market_id,
                "symbol": m.symbol,
                "base": m.base,
                "quote": m.quote,
                "base_id": m.base_id,
                "quote_id": m.quote_id,
                "active": m.active,
                "listed": True,
                "alias": m.alias,
                "unified": unified,
                "raw_id": raw_id,
                "first_seen_at": now,
                "updated_at": now,
            }
        )
    await insert_rows(
        conn,
        venue_markets,
        rows,
        conflict=("venue", "market_id"),
        update=[c for c in rows[0] if c not in ("venue", "market_id", "first_seen_at")]
        if rows
        else (),
    )
    if last and markets:
        await conn.execute(
            update(venue_markets)
            .where(
                venue_markets.c.venue == venue,
                venue_markets.c.listed.is_(True),
                venue_markets.c.raw_id != raw_id,
            )
            .values(listed=False, updated_at=now)
        )
    return LoadResult(loaded=changed, unchanged=len(markets) - changed)


async def listed_markets(conn: AsyncConnection, venue: str) -> list[dict[str, Any]]:
    """The venue's listed markets as ccxt structures (what a ticker run reads with)."""
    rows = await conn.execute(
        select(venue_markets.c.unified)
        .where(venue_markets.c.venue == venue, venue_markets.c.listed.is_(True))
        .order_by(venue_markets.c.market_id)
    )
    return [orjson.loads(r.unified) for r in rows]


def signature(q: VenueQuote) -> str:
    """What must move for a market to count as alive: last, bid, ask and volume."""
    parts: list[Decimal | None] = [q.last, q.bid, q.ask, q.base_volume]
    return "|".join("" if v is None else decimal_text(v) for v in parts)


def quote_row(q: VenueQuote, run_id: int) -> dict[str, Any]:
    return {
        "venue": q.venue,
        "market_id": q.market_id,
        "symbol": q.symbol,
        "base": q.base,
        "quote": q.quote,
        "base_id": q.base_id,
        "quote_id": q.quote_id,
        "observed_at": q.observed_at,
        "venue_time": q.venue_time,
        "fetched_at": q.fetched_at,
        "last": q.last,
        "bid": q.bid,
        "ask": q.ask,
        "base_volume": q.base_volume,
        "quote_volume": q.quote_volume,
        "run_id": run_id,
    }


async def load_quotes(
    conn: AsyncConnection, quotes: Sequence[VenueQuote], run_id: int
) -> LoadResult:
    if not quotes:
        return LoadResult(0, 0)
    inserted = await insert_rows(
        conn,
        venue_quotes,
        [quote_row(q, run_id) for q in quotes],
        conflict=("venue", "market_id", "observed_at"),
        returning=(venue_quotes.c.id, venue_quotes.c.venue, venue_quotes.c.market_id,
                   venue_quotes.c.observed_at),
    )  # fmt: skip
    ids = {(r[1], r[2], r[3]): r[0] for r in inserted}
    newest: dict[tuple[str, str], VenueQuote] = {}
    for q in quotes:
        key = (q.venue, q.market_id)
        if (q.venue, q.market_id, q.observed_at) in ids and (
            key not in newest or q.observed_at > newest[key].observed_at
        ):
            newest[key] = q
    await _advance_latest(conn, newest, ids)
    return LoadResult(loaded=len(inserted), unchanged=len(quotes) - len(inserted))


async def _advance_latest(
    conn: AsyncConnection,
    newest: dict[tuple[str, str], VenueQuote],
    ids: dict[tuple[str, str, datetime], int],
) -> None:
    if not newest:
        return
    venues = {v for v, _ in newest}
    current: dict[tuple[str, str], Any] = {}
    for venue in venues:
        markets = [m for v, m in newest if v == venue]
        found = await conn.execute(
            select(venue_latest_quotes).where(
                and_(
                    venue_latest_quotes.c.venue == venue,
                    venue_latest_quotes.c.market_id.in_(markets),
                )
            )
        )
        current.update({(r.venue, r.market_id): r for r in found})
    rows = []
    for key, q in newest.items():
        prior = current.get(key)
        if prior is not None and prior.observed_at > q.observed_at:
            continue  # a late, older quote never moves the pointer back
        sig = signature(q)
        moved = prior is None or prior.signature != sig
        rows.append(
            {
                "venue": q.venue,
                "market_id": q.market_id,
                "quote_id": ids[(q.venue, q.market_id, q.observed_at)],
                "observed_at": q.observed_at,
                "fetched_at": q.fetched_at,
                "changed_at": q.observed_at if moved or prior is None else prior.changed_at,
                "signature": sig,
            }
        )
    await insert_rows(
        conn,
        venue_latest_quotes,
        rows,
        conflict=("venue", "market_id"),
        update=("quote_id", "observed_at", "fetched_at", "changed_at", "signature"),
    )
