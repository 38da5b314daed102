"""Shared helpers for the resilience suite: settings against an emulator, runs with an HTTP
exchange log, typed store snapshots and the invariants every scenario checks.

Snapshots are read through the SQLAlchemy table objects (not raw SQL), so numbers come back
as exact ``Decimal`` and times as aware UTC ``datetime`` on both dialects and can be compared
by value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.emulator import EmulatorServer
from kasparro.runs.leases import LeaseLedger
from kasparro.runs.result import RunResult
from kasparro.runs.service import run_sources
from kasparro.settings import Settings
from kasparro.sources.http import Limiters
from kasparro.store.schema import (
    asset_mappings,
    assets,
    checkpoints,
    drift_events,
    latest_observations,
    listings,
    observations,
    quarantine,
    raw_responses,
    runs,
)
from tests.fixtures.etl import make_settings
from tests.fixtures.settings import runtime_for

API_PREFIX = {"/api/v3": "coingecko", "/v1": "coinpaprika"}

VALUE_COLUMNS = (
    "symbol",
    "name",
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "change_24h_pct",
    "market_cap_rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
)

ObsKey = tuple[str, str, datetime]


def emu_settings(db_url: str, emu: EmulatorServer, **overrides: Any) -> Settings:
    """Test settings (fast retries, no budget) pointed at ``emu``; CoinGecko pages of 100."""
    values: dict[str, Any] = {
        "coingecko_base_url": emu.coingecko_base_url,
        "coinpaprika_base_url": emu.coinpaprika_base_url,
        "coingecko_per_page": 100,
        "coingecko_max_coins": "all",
    }
    values.update(overrides)
    return make_settings(db_url, **values)


# --- runs with an exchange log ------------------------------------------------------------


@dataclass(slots=True)
class Exchange:
    """One HTTP attempt as the ETL's client saw it (monotonic seconds)."""

    api: str
    path: str
    page: int | None
    sent_at: float
    answered_at: float | None = None
    status: int | None = None
    retry_after: str | None = None


@dataclass
class ExchangeLog:
    """httpx event hooks recording every request the ETL sends and the status it got."""

    exchanges: list[Exchange] = field(default_factory=list)

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        async def on_request(request: httpx.Request) -> None:
            path = request.url.path
            api = next((a for p, a in API_PREFIX.items() if path.startswith(p)), "?")
            page = request.url.params.get("page")
            ex = Exchange(api, path, int(page) if page else None, time.monotonic())
            request.extensions["kasparro_exchange"] = ex
            self.exchanges.append(ex)

        async def on_response(response: httpx.Response) -> None:
            ex = response.request.extensions.get("kasparro_exchange")
            if ex is not None:
                ex.answered_at = time.monotonic()
                ex.status = response.status_code
                ex.retry_after = response.headers.get("retry-after")

        return {"request": [on_request], "response": [on_response]}

    def for_api(self, api: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.api == api]

    def retry_gaps(self, api: str) -> list[tuple[Exchange, float]]:
        """(failed exchange, seconds until the next request of the same page) pairs."""
        out = []
        seq = self.for_api(api)
        for i, ex in enumerate(seq):
            if ex.status is None or ex.status < 400 or ex.answered_at is None:
                continue
            nxt = next((n for n in seq[i + 1 :] if n.page == ex.page), None)
            if nxt is not None:
                out.append((ex, nxt.sent_at - ex.answered_at))
        return out


async def run_logged(
    engine: AsyncEngine,
    settings: Settings,
    *names: str,
    log: ExchangeLog | None = None,
    limiters: Limiters | None = None,
    ledger: LeaseLedger | None = None,
) -> dict[str, RunResult]:
    """``run_etl`` with an exchange log and (optionally) a shared ``Limiters`` and
    ``LeaseLedger``, like a long-lived process (scheduler, API) that runs sources
    repeatedly."""
    hooks = log.hooks() if log is not None else {}
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds, event_hooks=hooks) as c:
        runtime = runtime_for(settings)
        results = await run_sources(
            engine,
            runtime.catalog,
            list(names),
            http=c,
            limiters=limiters or runtime.limiters(),
            ledger=ledger,
        )
    return {r.source: r for r in results}


# --- snapshots ------------------------------------------------------------------------------


async def observation_values(engine: AsyncEngine) -> dict[ObsKey, tuple[Any, ...]]:
    """(source, source_asset_id, observed_at) -> every stored value, exact."""
    cols = [
        (listings if name in ("symbol", "name") else observations).c[name] for name in VALUE_COLUMNS
    ]
    stmt = (
        select(
            observations.c.source,
            listings.c.source_asset_id,
            observations.c.observed_at,
            assets.c.identity_key,
            *cols,
        )
        .join(assets, assets.c.id == observations.c.asset_id)
        .join(listings, listings.c.id == observations.c.listing_id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    out = {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}
    assert len(out) == len(rows), "duplicate observation keys in the store"
    return out


def assert_preserved(before: dict[ObsKey, Any], after: dict[ObsKey, Any]) -> None:
    """Nothing loaded earlier was lost or changed: ``before`` is a subset of ``after`` with
    identical values."""
    lost = [k for k in before if k not in after]
    assert not lost, f"{len(lost)} observations lost, e.g. {lost[:3]}"
    changed = [k for k, v in before.items() if after[k] != v]
    assert not changed, f"{len(changed)} observations changed, e.g. {changed[:3]}"


MATCHED = {"new": "by_key", "symbol_name": "by_key"}


async def mapping_values(engine: AsyncEngine) -> set[tuple[Any, ...]]:
    """(source, source_asset_id, identity_key, method) for every identity mapping.

    ``new`` and ``symbol_name`` both mean "resolved by the symbol:name key"; which of two
    sources was first to see a coin (and so got ``new``) depends on how their concurrent
    runs interleave, so both count as one method here. The canonical asset is compared
    exactly (by identity key)."""
    stmt = select(
        asset_mappings.c.source,
        asset_mappings.c.source_asset_id,
        assets.c.identity_key,
        asset_mappings.c.method,
    ).join(assets, assets.c.id == asset_mappings.c.asset_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {(s, sid, key, MATCHED.get(m, m)) for s, sid, key, m in rows}


async def quarantine_rows(
    engine: AsyncEngine, *, run_id: int | None = None
) -> list[tuple[str, str | None, str]]:
    """(source, source_asset_id, reason), optionally only those seen by ``run_id``."""
    stmt = select(quarantine.c.source, quarantine.c.source_asset_id, quarantine.c.reason)
    if run_id is not None:
        stmt = stmt.where(quarantine.c.last_run_id == run_id)
    async with engine.connect() as conn:
        return sorted(
            (tuple(r) for r in (await conn.execute(stmt)).all()),
            key=lambda r: (r[0], r[1] or "", r[2]),
        )


async def drift_rows(engine: AsyncEngine, source: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(field, kind) -> the drift event row."""
    stmt = select(drift_events).where(drift_events.c.source == source)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return {(r["field"], r["kind"]): dict(r) for r in rows}


async def run_row(engine: AsyncEngine, run_id: int) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().one()
    return dict(row)


async def all_runs(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(runs).order_by(runs.c.id))).mappings().all()
    return [dict(r) for r in rows]


async def checkpoint(engine: AsyncEngine, source: str) -> dict[str, Any] | None:
    stmt = select(checkpoints.c.state, checkpoints.c.run_id).where(checkpoints.c.source == source)
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    return None if row is None else {**orjson.loads(row[0]), "_run_id": row[1]}


async def assert_latest_consistent(engine: AsyncEngine) -> None:
    """latest_observations has exactly one row per (asset, source) with observations, pointing
    at the newest observation of that pair."""
    newest = (
        select(
            observations.c.asset_id,
            observations.c.source,
            func.max(observations.c.observed_at).label("at"),
        )
        .group_by(observations.c.asset_id, observations.c.source)
        .subquery()
    )
    async with engine.connect() as conn:
        expected = {(a, s): at for a, s, at in (await conn.execute(select(newest))).all()}
        latest = (
            await conn.execute(
                select(
                    latest_observations.c.asset_id,
                    latest_observations.c.source,
                    latest_observations.c.observed_at,
                    observations.c.asset_id,
                    observations.c.source,
                    observations.c.observed_at,
                ).join(observations, observations.c.id == latest_observations.c.observation_id)
            )
        ).all()
    got = {}
    for a, s, at, oa, os_, oat in latest:
        assert (a, s, at) == (oa, os_, oat), "latest_observations points at another row"
        got[(a, s)] = at
    assert got == expected


def assert_reconciles(result: RunResult) -> None:
    assert result.reconciles, (
        f"{result.source}: fetched {result.fetched} != loaded {result.loaded} + unchanged "
        f"{result.unchanged} + rejected {result.rejected}"
    )


async def assert_run_row_matches(engine: AsyncEngine, result: RunResult) -> None:
    """The runs row says what the RunResult says (status, error, counters) and reconciles."""
    row = await run_row(engine, result.run_id)
    assert row["status"] == result.status
    assert row["error"] == result.error
    got = tuple(row[k] for k in ("pages", "fetched", "loaded", "unchanged", "rejected"))
    want = (result.pages, result.fetched, result.loaded, result.unchanged, result.rejected)
    assert got == want
    assert row["fetched"] == row["loaded"] + row["unchanged"] + row["rejected"]
    assert row["finished_at"] is not None


async def source_totals(engine: AsyncEngine, source: str) -> dict[str, int]:
    """Stored observations and raw pages of ``source`` vs the sums of its runs' counters."""
    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(func.count()).select_from(observations).where(observations.c.source == source)
        )
        raw_pages = await conn.scalar(
            select(func.count())
            .select_from(raw_responses)
            .where(raw_responses.c.source == source, raw_responses.c.page.is_not(None))
        )
        sums = (
            await conn.execute(
                select(func.sum(runs.c.loaded), func.sum(runs.c.pages)).where(
                    runs.c.source == source
                )
            )
        ).one()
    return {
        "stored": int(stored or 0),
        "raw_pages": int(raw_pages or 0),
        "loaded": int(sums[0] or 0),
        "pages": int(sums[1] or 0),
    }
