"""Read side of the venues: what a reference rate needs, one query each.

- :func:`latest_quotes`: each listed market's newest quote (as of now, or as of a time),
  with its market's alias and activity and since when it has not moved;
- :func:`quotes_between`: every quote of a time range (a rate bucket's inputs);
- :func:`usd_quotes`: the latest quotes with their price in USD and the measured rate each
  was converted with (``kasparro.venues.conversion``: how it was derived, every estimate);
- :func:`venue_freshness`: per venue, its newest fetch and quote and how many of its
  markets have not moved for a while (a stale venue);
- :func:`market_links`: the venue bases linked to assets or waiting for review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.store.venue_schema import (
    venue_latest_quotes,
    venue_market_links,
    venue_markets,
    venue_quotes,
)
from kasparro.venues.conversion import Converted, Rate, measure_rates, to_usd


@dataclass(frozen=True, slots=True)
class StoredQuote:
    """A stored venue quote with what its market says about it."""

    id: int
    venue: str
    market_id: str
    symbol: str
    base: str
    quote: str
    base_id: str
    quote_id: str
    observed_at: datetime
    venue_time: bool
    fetched_at: datetime
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    base_volume: Decimal | None
    quote_volume: Decimal | None
    run_id: int
    alias: str | None
    active: bool | None
    changed_at: datetime | None  # since when the market has not moved (latest only)


_QUOTE_COLUMNS = [c for c in venue_quotes.c]


def _stored(row: Any, changed_at: datetime | None = None) -> StoredQuote:
    values = {c.name: getattr(row, c.name) for c in _QUOTE_COLUMNS}
    return StoredQuote(**values, alias=row.alias, active=row.active, changed_at=changed_at)


def _with_market(query: Any) -> Any:
    return query.outerjoin(
        venue_markets,
        and_(
            venue_markets.c.venue == venue_quotes.c.venue,
            venue_markets.c.market_id == venue_quotes.c.market_id,
        ),
    )


async def latest_quotes(
    conn: AsyncConnection,
    *,
    as_of: datetime | None = None,
    window: timedelta = timedelta(hours=1),
    venues: list[str] | None = None,
) -> list[StoredQuote]:
    """Each market's newest quote: now (``venue_latest_quotes``), or the newest fetched in
    ``(as_of - window, as_of]``."""
    cols = [*_QUOTE_COLUMNS, venue_markets.c.alias, venue_markets.c.active]
    if as_of is None:
        query = (
            select(*cols, venue_latest_quotes.c.changed_at)
            .select_from(
                _with_market(
                    venue_latest_quotes.join(
                        venue_quotes, venue_quotes.c.id == venue_latest_quotes.c.quote_id
                    )
                )
            )
            .order_by(venue_quotes.c.venue, venue_quotes.c.market_id)
        )
        if venues:
            query = query.where(venue_quotes.c.venue.in_(venues))
        return [_stored(r, r.changed_at) for r in await conn.execute(query)]
    newest: dict[tuple[str, str], StoredQuote] = {}
    for q in await quotes_between(conn, as_of - window, as_of, venues=venues):
        key = (q.venue, q.market_id)
        if key not in newest or (q.fetched_at, q.id) > (newest[key].fetched_at, newest[key].id):
            newest[key] = q
    return sorted(newest.values(), key=lambda q: (q.venue, q.market_id))


async def quotes_between(
    conn: AsyncConnection,
    since: datetime,
    until: datetime,
    *,
    base: str | None = None,
    venues: list[str] | None = None,
) -> list[StoredQuote]:
    """Quotes fetched in ``(since, until]``, oldest first (optionally one base currency)."""
    cols = [*_QUOTE_COLUMNS, venue_markets.c.alias, venue_markets.c.active]
    query = (
        select(*cols)
        .select_from(_with_market(venue_quotes))
        .where(venue_quotes.c.fetched_at > since, venue_quotes.c.fetched_at <= until)
        .order_by(venue_quotes.c.fetched_at, venue_quotes.c.id)
    )
    if base is not None:
        query = query.where(venue_quotes.c.base == base)
    if venues:
        query = query.where(venue_quotes.c.venue.in_(venues))
    return [_stored(r) for r in await conn.execute(query)]


def aliases(quotes: list[StoredQuote]) -> frozenset[tuple[str, str]]:
    """Markets that trade on another market's book, never an independent price: ccxt
    names them in the real book's ``alias`` (Coinbase's BTC-USD: ``alias`` BTC-USDC)."""
    return frozenset((q.venue, q.alias) for q in quotes if q.alias)


async def usd_quotes(
    conn: AsyncConnection, *, as_of: datetime | None = None
) -> tuple[list[tuple[StoredQuote, Converted]], dict[str, Rate]]:
    """The latest quotes with their USD price and the rate used, and the rates measured
    from those same quotes (alias books excluded)."""
    quotes = await latest_quotes(conn, as_of=as_of)
    rates = measure_rates(quotes, excluded=aliases(quotes))
    return [(q, to_usd(q.last, q.quote, rates)) for q in quotes], rates


@dataclass(frozen=True, slots=True)
class VenueFreshness:
    venue: str
    markets: int
    newest_fetch: datetime
    newest_quote: datetime  # the venue's own timestamp where it sends one
    unmoved: int  # markets whose values have not changed for ``stale_after``


async def venue_freshness(
    conn: AsyncConnection, *, as_of: datetime, stale_after: timedelta = timedelta(minutes=15)
) -> list[VenueFreshness]:
    rows = (
        await conn.execute(
            select(
                venue_latest_quotes.c.venue,
                venue_latest_quotes.c.fetched_at,
                venue_latest_quotes.c.observed_at,
                venue_latest_quotes.c.changed_at,
            )
        )
    ).all()
    out: dict[str, list[Any]] = {}
    for r in rows:
        out.setdefault(r.venue, []).append(r)
    return [
        VenueFreshness(
            venue=venue,
            markets=len(rs),
            newest_fetch=max(r.fetched_at for r in rs),
            newest_quote=max(r.observed_at for r in rs),
            unmoved=sum(as_of - r.changed_at >= stale_after for r in rs),
        )
        for venue, rs in sorted(out.items())
    ]


async def market_links(conn: AsyncConnection, venue: str | None = None) -> list[dict[str, Any]]:
    query = select(venue_market_links).order_by(
        venue_market_links.c.venue, venue_market_links.c.base_id
    )
    if venue is not None:
        query = query.where(venue_market_links.c.venue == venue)
    return [
        {**r._asdict(), "evidence": orjson.loads(r.evidence)} for r in await conn.execute(query)
    ]
