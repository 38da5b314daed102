"""The reference rate's SQL on the write side: the quotes and observations a range of buckets
needs, the re-inclusion state before it, and the values written set-based (the caller owns
the transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import and_, delete, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.load.bulk import insert_rows
from kasparro.rates.compute import Input, Rate
from kasparro.rates.inputs import ObservationRow, QuoteRow
from kasparro.rates.method import OUTSIDE_BAND, REENTRY_PENDING
from kasparro.store.rate_schema import rate_inputs, rates
from kasparro.store.schema import assets, listings, observations, runs
from kasparro.store.venue_schema import venue_market_links, venue_markets, venue_quotes


async def quotes_observed(
    conn: AsyncConnection, since: datetime, until: datetime
) -> list[QuoteRow]:
    """Venue quotes observed in ``[since, until)``, oldest first, with each market's state
    and its base's linked asset (None: not linked, or held for review)."""
    query = (
        select(
            venue_quotes.c.venue,
            venue_quotes.c.market_id,
            venue_quotes.c.base,
            venue_quotes.c.quote,
            venue_quotes.c.observed_at,
            venue_quotes.c.last,
            venue_quotes.c.bid,
            venue_quotes.c.ask,
            venue_quotes.c.base_volume,
            venue_quotes.c.quote_volume,
            venue_markets.c.active,
            venue_markets.c.alias,
            venue_market_links.c.asset_id,
        )
        .select_from(
            venue_quotes.outerjoin(
                venue_markets,
                and_(
                    venue_markets.c.venue == venue_quotes.c.venue,
                    venue_markets.c.market_id == venue_quotes.c.market_id,
                ),
            ).outerjoin(
                venue_market_links,
                and_(
                    venue_market_links.c.venue == venue_quotes.c.venue,
                    venue_market_links.c.base_id == venue_quotes.c.base_id,
                    venue_market_links.c.status == "linked",
                ),
            )
        )
        .where(venue_quotes.c.observed_at >= since, venue_quotes.c.observed_at < until)
        .order_by(venue_quotes.c.observed_at, venue_quotes.c.id)
    )
    return [QuoteRow(**r._mapping) for r in await conn.execute(query)]


async def observations_observed(
    conn: AsyncConnection, since: datetime, until: datetime
) -> list[ObservationRow]:
    """The aggregators' observations with a USD price observed in ``[since, until)``."""
    query = (
        select(
            observations.c.asset_id,
            observations.c.source,
            listings.c.source_asset_id,
            observations.c.observed_at,
            observations.c.price_usd,
            observations.c.volume_24h_usd,
        )
        .select_from(observations.join(listings, listings.c.id == observations.c.listing_id))
        .where(
            observations.c.observed_at >= since,
            observations.c.observed_at < until,
            observations.c.price_usd.is_not(None),
        )
        .order_by(observations.c.observed_at, observations.c.id)
    )
    # Streamed, with one object per distinct source name and moment: a large universe's
    # lookback is ~100,000 rows, and the buffered result beside its copies (each row with
    # its own string and datetime objects) was a good part of the ETL's peak memory.
    out: list[ObservationRow] = []
    shared: dict[object, Any] = {}
    result = await conn.stream(query)
    async for part in result.partitions(5000):
        for asset_id, source, source_asset_id, observed_at, price, volume in part:
            out.append(
                ObservationRow(
                    asset_id,
                    shared.setdefault(source, source),
                    source_asset_id,
                    shared.setdefault(observed_at, observed_at),
                    price,
                    volume,
                )
            )
    return out


# An arbitrary constant naming the rates lock (PostgreSQL advisory locks take a bigint).
_LOCK_KEY: Final = 0x6B617370_7261  # "kasp" "ra"


async def rates_lock(conn: AsyncConnection) -> None:
    """Serialize rate computations until the transaction ends, so the last computation of a
    bucket is one that saw all the data committed before it. PostgreSQL: a transaction-scoped
    advisory lock; SQLite needs none (every writer starts with BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


async def plan_each_statement(conn: AsyncConnection) -> None:
    """PostgreSQL: plan every statement of this transaction with its values, never with a
    cached generic plan. A bucket's values are read and replaced by ``asset_id IN`` lists of
    thousands of ids, the same statement text each time; asyncpg prepares it once, and the
    server's generic plan for it (chosen while ``rates`` was still small, and kept as it
    grew by tens of thousands of rows in one run) compares every row with every id of the
    list: 1.8 s a statement, a large universe's ETL waiting minutes on it (benchmark 1).
    Planned with the ids, the list is hashed or probes the primary key (20-100 ms)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def newest_bucket(conn: AsyncConnection, interval: str, version: str) -> datetime | None:
    query = select(func.max(rates.c.bucket_start)).where(
        rates.c.interval == interval, rates.c.method_version == version
    )
    value: datetime | None = (await conn.execute(query)).scalar_one()
    return value


async def next_observed(conn: AsyncConnection, since: datetime) -> datetime | None:
    """The first moment at or after ``since`` when a venue quote or an observation was
    observed (two index lookups)."""
    found = []
    for table in (venue_quotes, observations):
        query = select(func.min(table.c.observed_at)).where(table.c.observed_at >= since)
        value = (await conn.execute(query)).scalar_one()
        if value is not None:
            found.append(value)
    return min(found) if found else None


async def symbols(conn: AsyncConnection, asset_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(asset_ids))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 5000):  # bounded IN lists
        chunk = ids[start : start + 5000]
        query = select(assets.c.id, assets.c.symbol).where(assets.c.id.in_(chunk))
        out.update({r.id: r.symbol for r in await conn.execute(query)})
    return out


async def out_before(
    conn: AsyncConnection, interval: str, version: str, before: datetime
) -> dict[int, frozenset[str]]:
    """Per asset, the inputs out of the band at the last partition of its newest bucket
    before ``before``: the re-inclusion state a bucket starts from."""
    newest = (
        select(rates.c.asset_id, func.max(rates.c.bucket_start).label("bucket_start"))
        .where(
            rates.c.interval == interval,
            rates.c.method_version == version,
            rates.c.bucket_start < before,
        )
        .group_by(rates.c.asset_id)
        .subquery()
    )
    query = select(
        rate_inputs.c.asset_id,
        rate_inputs.c.partition,
        rate_inputs.c.source,
        rate_inputs.c.market,
        rate_inputs.c.reason,
    ).join(
        newest,
        and_(
            newest.c.asset_id == rate_inputs.c.asset_id,
            newest.c.bucket_start == rate_inputs.c.bucket_start,
        ),
    )
    query = query.where(rate_inputs.c.interval == interval, rate_inputs.c.method_version == version)
    rows = (await conn.execute(query)).all()
    last: dict[int, int] = {}
    for r in rows:
        last[r.asset_id] = max(last.get(r.asset_id, -1), r.partition)
    out: dict[int, set[str]] = {a: set() for a in last}
    for r in rows:
        if r.partition == last[r.asset_id] and r.reason in (OUTSIDE_BAND, REENTRY_PENDING):
            out[r.asset_id].add(f"{r.source}|{r.market}")
    return {a: frozenset(keys) for a, keys in out.items()}


async def stored_values(
    conn: AsyncConnection, interval: str, version: str, bucket: datetime, asset_ids: Sequence[int]
) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    for start in range(0, len(asset_ids), IN_LIST):
        query = select(rates.c.asset_id, rates.c.value).where(
            rates.c.interval == interval,
            rates.c.method_version == version,
            rates.c.bucket_start == bucket,
            rates.c.asset_id.in_(list(asset_ids[start : start + IN_LIST])),
        )
        out.update((r.asset_id, r.value) for r in await conn.execute(query))
    return out


# Ids per IN list: asyncpg refuses a statement of more than 32,767 parameters, and a large
# universe's hourly bucket evaluates ~62,000 assets (the rates of such a bucket failed on
# PostgreSQL until a bucket was stored a few thousand assets at a time).
IN_LIST: Final = 5000


def _input_row(key: dict[str, Any], i: Input) -> dict[str, Any]:
    return {
        **key,
        "partition": i.partition,
        "source": i.source,
        "market": i.market,
        "kind": i.kind,
        "quote": i.quote,
        "price": i.price,
        "quote_usd": i.quote_usd,
        "conversion": i.conversion,
        "price_usd": i.price_usd,
        "bid_usd": i.bid_usd,
        "ask_usd": i.ask_usd,
        "volume_usd": i.volume_usd,
        "observed_at": i.observed_at,
        "weight": i.weight,
        "included": i.included,
        "reason": i.reason,
        "deviation": i.deviation,
    }


async def save_bucket(
    conn: AsyncConnection,
    interval: str,
    version: str,
    bucket: datetime,
    evaluated: Sequence[int],
    values: dict[int, Rate],
    computed_at: datetime,
) -> int:
    """Replace the bucket's values of the ``evaluated`` assets (those left without a value
    lose a stale one) with ``values``; returns how many values changed (restated)."""
    if not evaluated:
        return 0
    before = await stored_values(conn, interval, version, bucket, evaluated)
    changed = sum(1 for a, v in before.items() if a not in values or values[a].value != v)
    for table in (rate_inputs, rates):
        for start in range(0, len(evaluated), IN_LIST):
            chunk = list(evaluated[start : start + IN_LIST])
            await conn.execute(
                delete(table).where(
                    table.c.interval == interval,
                    table.c.method_version == version,
                    table.c.bucket_start == bucket,
                    table.c.asset_id.in_(chunk),
                )
            )
    ordered = sorted(values.items())
    # A few thousand assets' rows at a time: a large universe's bucket is ~33,000 values and
    # ~140,000 inputs, whose rows (dicts) built at once were the ETL's peak memory.
    for start in range(0, len(ordered), 2000):
        rate_rows = []
        input_rows = []
        for asset_id, r in ordered[start : start + 2000]:
            key = {
                "asset_id": asset_id,
                "interval": interval,
                "method_version": version,
                "bucket_start": bucket,
            }
            rate_rows.append(
                {
                    **key,
                    "value": r.value,
                    "low": r.low,
                    "high": r.high,
                    "n_inputs": r.n_inputs,
                    "n_partitions": r.n_partitions,
                    "fallback": r.fallback,
                    "depeg": r.depeg,
                    "computed_at": computed_at,
                }
            )
            input_rows += [_input_row(key, i) for i in r.inputs]
        await insert_rows(conn, rates, rate_rows, conflict=[c.name for c in rates.primary_key])
        await insert_rows(
            conn, rate_inputs, input_rows, conflict=[c.name for c in rate_inputs.primary_key]
        )
    return changed


async def previous_newest(conn: AsyncConnection, run_id: int) -> datetime | None:
    """The newest moment the data of the same source's run before ``run_id`` was observed
    (None: no earlier run loaded any)."""
    source = select(runs.c.source).where(runs.c.id == run_id).scalar_subquery()
    earlier = (
        select(runs.c.id)
        .where(runs.c.source == source, runs.c.id < run_id, runs.c.loaded > 0)
        .order_by(runs.c.id.desc())
        .limit(1)
    )
    previous = (await conn.execute(earlier)).scalar_one_or_none()
    if previous is None:
        return None
    span = await run_span(conn, previous)
    return span[1] if span else None


def span_query(table: Any, run_id: int) -> Any:
    """The run's rows first (a range of its run index), then their span. Written as
    min/max over the table, PostgreSQL walks the time index from one end filtering on the
    run, and the newest run's rows are at the far end: 80 s per run at 100M rows."""
    rows = (
        select(table.c.observed_at)
        .where(table.c.run_id == run_id)
        .offset(literal_column("0"))
        .subquery()
    )
    return select(func.min(rows.c.observed_at), func.max(rows.c.observed_at))


async def run_span(conn: AsyncConnection, run_id: int) -> tuple[datetime, datetime] | None:
    """When the data a run loaded was observed (its venue quotes or its observations)."""
    spans = []
    for table in (venue_quotes, observations):
        low, high = (await conn.execute(span_query(table, run_id))).one()
        if low is not None:
            spans.append((low, high))
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)
