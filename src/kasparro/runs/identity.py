"""The identity relink job: reference data + market data -> links -> re-linked assets.

Runs after a reference source's run, after a market run of CoinGecko or CoinPaprika that met
coins it had never seen, on ``kasparro identity relink`` and after a manual decision. Reads
its inputs with a plain read, decides in a worker thread (pure ``normalize.linking``: about a
second for 30,000 listed coins, so the event loop keeps serving), then writes the plan and
re-links assets in one transaction under the exclusive identity lock. It never blocks a
market run for longer than that transaction, and a failure leaves the previous links whole.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.load.identity import (
    finish_relink,
    identity_lock,
    incomplete_references,
    read_inputs,
    save_plan,
    start_relink,
)
from kasparro.load.relink import reconcile
from kasparro.normalize.linking import link_coins
from kasparro.runs.repository import utcnow

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class RelinkResult:
    status: str  # success | skipped | failed
    relink_id: int | None = None
    reason: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


async def relink(engine: AsyncEngine, *, trigger: str) -> RelinkResult:
    started = time.monotonic()
    async with engine.connect() as conn:
        conn = await conn.execution_options(kasparro_read_only=True)
        missing = await incomplete_references(conn)
        if missing:
            reason = f"no complete reference data yet for {', '.join(missing)}"
            log.info("identity_relink_skipped", trigger=trigger, reason=reason)
            return RelinkResult("skipped", reason=reason)
        inputs = await read_inputs(conn)
    plan = await asyncio.to_thread(
        link_coins,
        inputs.coingecko,
        inputs.coinpaprika,
        decisions=inputs.decisions,
        prior=inputs.prior,
    )
    decided = time.monotonic()
    now = utcnow()
    async with engine.begin() as conn:
        await identity_lock(conn, exclusive=True)
        relink_id = await start_relink(conn, trigger, now)
        review = await save_plan(conn, plan, inputs.anomalies, relink_id, now)
        moved = await reconcile(conn, relink_id, now)
        anomalies = Counter(a.kind for a in [*plan.anomalies, *inputs.anomalies])
        stats: dict[str, Any] = {
            "coins": {"coingecko": len(inputs.coingecko), "coinpaprika": len(inputs.coinpaprika)},
            "links": plan.counts(),
            "review": review,
            "deferred": plan.deferred,
            "anomalies": dict(sorted(anomalies.items())),
            "relinked": moved.as_dict(),
            "decide_s": round(decided - started, 3),
            "total_s": round(time.monotonic() - started, 3),
        }
        await finish_relink(conn, relink_id, "success", utcnow(), stats)
    log.info("identity_relinked", trigger=trigger, relink_id=relink_id, **stats)
    return RelinkResult("success", relink_id=relink_id, stats=stats)


async def relink_quietly(engine: AsyncEngine, *, trigger: str) -> RelinkResult:
    """:func:`relink` for callers that must not fail because of it (a finished run)."""
    try:
        return await relink(engine, trigger=trigger)
    except Exception as exc:  # the run it follows succeeded; the next relink retries
        log.exception("identity_relink_failed", trigger=trigger)
        return RelinkResult("failed", reason=f"{type(exc).__name__}: {exc}")
