"""After a venue run: link its base currencies to canonical assets (``load.venue_links``).

Reads the latest quotes of every venue (the rates are measured from all of them) and the
assets, decides with the pure linker, and stores the decisions; never fails the run that
triggered it (a failure is logged and retried after the next run).
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.venue_links import candidates, market_bases, save_decisions
from kasparro.query.venues import latest_quotes
from kasparro.runs import repository as repo
from kasparro.venues.linking import index, link_base

log = structlog.get_logger(__name__)


async def link_venue(engine: AsyncEngine, venue: str) -> dict[str, int]:
    async with engine.connect() as conn:
        conn = await conn.execution_options(kasparro_read_only=True)
        quotes = await latest_quotes(conn)
        assets = await candidates(conn)
    by_symbol, by_key = index(assets)
    decisions = [link_base(b, by_symbol, by_key) for b in market_bases(quotes, venue)]
    async with engine.begin() as conn:
        return await save_decisions(conn, decisions, repo.utcnow())


async def link_venue_quietly(engine: AsyncEngine, venue: str) -> dict[str, int] | None:
    try:
        counts = await link_venue(engine, venue)
    except Exception as exc:
        log.warning("venue_link_failed", venue=venue, error=f"{type(exc).__name__}: {exc}")
        return None
    log.info("venue_linked", venue=venue, **counts)
    return counts
