"""The top assets by market cap, with their current quotes and cross-source spread.

*Current* means recent relative to the data, not to the wall clock (an emulated or a paused
store is still readable): a quote is current when it was observed at most
``CURRENT_WINDOW`` before the freshest quote it is compared with.

- Ranking: the ``rank_by`` source's latest quotes that are current against that source's
  freshest quote, by market cap (exact decimals), ties by asset id. A quote whose cap fails
  the plausibility rule (``query.plausibility``, judged against the whole market: every
  current quote of the source) is not ranked; it is reported as an anomaly when it would
  otherwise have made the list.
- Spread: per asset, over the quotes of the shown ``sources`` only; those observed more than
  ``CURRENT_WINDOW`` before the asset's freshest shown quote are left out (and listed, with
  the reason). ``(max - min) / min`` in percent, exact, rounded to 4 decimals.

Three statements: the source's freshest quote time (an index probe on
``ix_latest_observations_source_observed``), its current quotes (that index, then
``observations`` by primary key), and the shown sources' latest quotes of the ranked assets.
The whole market has to be read to judge a cap against it; it is one source's listing
(CoinGecko's is at most ~15k coins), and the API caches the result per data version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query.plausibility import METHOD as PLAUSIBILITY_METHOD
from kasparro.query.plausibility import CapQuote, MarketTotals, implausible_cap
from kasparro.store.schema import LATEST_ROW, assets, latest_observations, listings, observations

CURRENT_WINDOW: Final = timedelta(hours=1)
SPREAD_QUANTUM: Final = Decimal("0.0001")

a = assets.c
lo = latest_observations.c
o = observations.c

METHOD: Final = {
    "ranking": "The rank_by source's current quotes (observed within "
    f"{int(CURRENT_WINDOW.total_seconds())} s of its freshest quote) by market cap, "
    "largest first; implausible caps are not ranked (see plausibility).",
    "spread": "(max - min) / min of the prices, in percent, over the shown sources' quotes "
    f"of the asset observed within {int(CURRENT_WINDOW.total_seconds())} s of its freshest "
    "shown quote; `compared` names them, `excluded` says why the others were left out.",
    "plausibility": PLAUSIBILITY_METHOD,
}


@dataclass(frozen=True, slots=True)
class Quote:
    asset_id: int
    symbol: str
    name: str
    source_asset_id: str
    observed_at: datetime
    price_usd: Decimal | None
    market_cap_usd: Decimal | None
    volume_24h_usd: Decimal | None
    circulating_supply: Decimal | None
    upstream_rank: int | None

    @property
    def cap_quote(self) -> CapQuote:
        return CapQuote(
            self.price_usd, self.market_cap_usd, self.volume_24h_usd, self.circulating_supply
        )


def spread(
    quotes: dict[str, tuple[datetime, Decimal | None]],
    sources: Sequence[str],
    window: timedelta = CURRENT_WINDOW,
) -> dict[str, Any]:
    """The spread of one asset over ``sources``' current quotes (``quotes``: source ->
    (observed_at, price)), with the sources compared and why the others were not."""
    excluded: list[dict[str, Any]] = []
    priced: dict[str, tuple[datetime, Decimal]] = {}
    for source in sources:
        quote = quotes.get(source)
        if quote is None:
            excluded.append({"source": source, "reason": "no quote"})
        elif quote[1] is None or quote[1] <= 0:
            excluded.append({"source": source, "reason": "no price"})
        else:
            priced[source] = (quote[0], quote[1])
    freshest = max((at for at, _ in priced.values()), default=None)
    compared: list[str] = []
    for source, (at, _) in priced.items():
        assert freshest is not None
        lag = freshest - at
        if lag > window:
            excluded.append(
                {
                    "source": source,
                    "reason": f"not current: observed {_duration(lag)} before the freshest quote",
                }
            )
        else:
            compared.append(source)
    pct = None
    if len(compared) >= 2:
        prices = [priced[s][1] for s in compared]
        low, high = min(prices), max(prices)
        pct = ((high - low) / low * 100).quantize(SPREAD_QUANTUM, rounding=ROUND_HALF_EVEN)
    return {"pct": pct, "compared": compared, "excluded": excluded}


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


async def newest_quote_at(conn: AsyncConnection, source: str) -> datetime | None:
    return (
        await conn.execute(select(func.max(lo.observed_at)).where(lo.source == source))
    ).scalar()


async def current_quotes(conn: AsyncConnection, source: str, since: datetime) -> list[Quote]:
    """The source's latest quote of every asset, observed at ``since`` or later."""
    rows = await conn.execute(
        select(
            lo.asset_id,
            a.symbol,
            a.name,
            listings.c.source_asset_id,
            o.observed_at,
            o.price_usd,
            o.market_cap_usd,
            o.volume_24h_usd,
            o.circulating_supply,
            o.market_cap_rank,
        )
        .select_from(
            latest_observations.join(observations, LATEST_ROW)
            .join(assets, a.id == lo.asset_id)
            .join(listings, listings.c.id == o.listing_id)
        )
        .where(lo.source == source, lo.observed_at >= since)
    )
    return [Quote(*row) for row in rows]  # type: ignore[call-arg]  # the columns, in order


async def latest_prices(
    conn: AsyncConnection, asset_ids: Sequence[int], sources: Sequence[str]
) -> dict[int, dict[str, tuple[datetime, Decimal | None, Decimal | None]]]:
    """asset id -> source -> (observed_at, price, market cap) of its latest quote."""
    out: dict[int, dict[str, tuple[datetime, Decimal | None, Decimal | None]]] = {}
    if not asset_ids or not sources:
        return out
    rows = await conn.execute(
        select(lo.asset_id, lo.source, o.observed_at, o.price_usd, o.market_cap_usd)
        .select_from(latest_observations.join(observations, LATEST_ROW))
        .where(lo.asset_id.in_(list(asset_ids)), lo.source.in_(list(sources)))
    )
    for asset_id, source, at, price, cap in rows:
        out.setdefault(asset_id, {})[source] = (at, price, cap)
    return out


def _ref(q: Quote) -> dict[str, Any]:
    return {"id": q.asset_id, "symbol": q.symbol, "name": q.name}


async def top_assets(
    conn: AsyncConnection, *, rank_by: str, sources: Sequence[str], limit: int
) -> dict[str, Any]:
    newest = await newest_quote_at(conn, rank_by)
    quotes = await current_quotes(conn, rank_by, newest - CURRENT_WINDOW) if newest else []
    market = MarketTotals.of(q.cap_quote for q in quotes)
    candidates = sorted(
        (q for q in quotes if q.market_cap_usd is not None and q.market_cap_usd > 0),
        key=lambda q: (-q.market_cap_usd, q.asset_id),  # type: ignore[operator]
    )
    ranked: list[Quote] = []
    flagged: list[tuple[Quote, list[dict[str, str]]]] = []
    for q in candidates:
        if len(ranked) == limit:
            break
        flags = implausible_cap(q.cap_quote, market)
        if flags:
            flagged.append((q, [{"code": f.code, "message": f.message} for f in flags]))
        else:
            ranked.append(q)
    shown = await latest_prices(conn, [q.asset_id for q in ranked], sources)
    items = []
    for rank, q in enumerate(ranked, start=1):
        per_source = shown.get(q.asset_id, {})
        current = spread({s: (at, p) for s, (at, p, _) in per_source.items()}, sources)
        items.append(
            {
                "rank": rank,
                "asset": _ref(q),
                "source_asset_id": q.source_asset_id,
                "upstream_rank": q.upstream_rank,
                "price_usd": q.price_usd,
                "market_cap_usd": q.market_cap_usd,
                "observed_at": q.observed_at,
                "quotes": {
                    s: {
                        "observed_at": at,
                        "price_usd": price,
                        "market_cap_usd": cap,
                        "current": s in current["compared"],
                    }
                    for s, (at, price, cap) in sorted(per_source.items())
                },
                "spread": current,
            }
        )
    anomalies = [
        {
            "asset": _ref(q),
            "source": rank_by,
            "source_asset_id": q.source_asset_id,
            "upstream_rank": q.upstream_rank,
            "observed_at": q.observed_at,
            "price_usd": q.price_usd,
            "market_cap_usd": q.market_cap_usd,
            "volume_24h_usd": q.volume_24h_usd,
            "circulating_supply": q.circulating_supply,
            "flags": flags,
        }
        for q, flags in flagged
    ]
    return {
        "rank_by": rank_by,
        "sources": list(sources),
        "as_of": newest,
        "current_window_s": int(CURRENT_WINDOW.total_seconds()),
        "market": {
            "quotes": len(quotes),
            "market_cap_usd": market.market_cap_usd,
            "volume_24h_usd": market.volume_24h_usd,
        },
        "ranked": items,
        "anomalies": anomalies,
        "method": METHOD,
    }
