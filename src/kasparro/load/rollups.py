"""Rollups maintained with the observations they summarise (``store.rollup_schema``).

Incremental and order-free: a batch is folded per (asset, source, interval, bucket) and
merged into the stored row with an upsert whose rules are associative and commutative
(open = earliest by ``(observed_at, id)``, close = latest, high = max, low = min, counts
add), so any arrival order, late rows and re-deliveries give the rollup computed from the
raw rows. A duplicate observation never reaches here: it is not inserted, so not returned.

PostgreSQL: one extra pair of CTEs inside the loader's own insert statement
(:func:`pg_rollup_ctes`): the batch never leaves the server and ``NUMERIC`` compares
exactly. SQLite: the batch comes back from ``RETURNING`` already (the loader needs it for
the latest pointers), is folded in Python with exact ``Decimal`` comparisons (SQLite holds
decimals as text), merged with the stored rows read in one statement, and written back
with one ``executemany`` upsert: set-based, inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import and_, bindparam, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.store.asset_rows import asset_listings, by_listing
from kasparro.store.dialect import insert_for
from kasparro.store.rollup_schema import RETIRED_KEY, ROLLUP_SECONDS, observation_rollups
from kasparro.store.schema import listings, observations, store_metadata
from kasparro.store.types import decimal_text

KEY: Final = ("asset_id", "bucket_seconds", "bucket", "source")
_CHUNK: Final = 5_000  # keys per lookup

r = observation_rollups.c
COLUMNS: Final = tuple(c.name for c in observation_rollups.columns)


@dataclass(slots=True)
class Fold:
    open_price: Decimal
    open_at: datetime
    open_id: int
    high_price: Decimal
    low_price: Decimal
    close_price: Decimal
    close_at: datetime
    close_id: int
    market_cap_usd: Decimal | None
    volume_24h_usd: Decimal | None
    observations: int

    def merge(self, other: Fold) -> None:
        if (other.open_at, other.open_id) < (self.open_at, self.open_id):
            self.open_price, self.open_at, self.open_id = (
                other.open_price,
                other.open_at,
                other.open_id,
            )
        if (other.close_at, other.close_id) > (self.close_at, self.close_id):
            self.close_price, self.close_at, self.close_id = (
                other.close_price,
                other.close_at,
                other.close_id,
            )
            self.market_cap_usd, self.volume_24h_usd = other.market_cap_usd, other.volume_24h_usd
        self.high_price = max(self.high_price, other.high_price)
        self.low_price = min(self.low_price, other.low_price)
        self.observations += other.observations


Key = tuple[int, int, int, str]  # asset_id, bucket_seconds, bucket, source

# The observation columns ``fold`` reads, in its order (what the loader's insert returns and
# a rebuild selects).
_o = observations.c
FOLDED: Final = (
    _o.id,
    _o.asset_id,
    _o.source,
    _o.observed_at,
    _o.price_usd,
    _o.market_cap_usd,
    _o.volume_24h_usd,
)


def fold(rows: Iterable[Sequence[Any]]) -> dict[Key, Fold]:
    """Rows of ``FOLDED`` (id, asset_id, source, observed_at, price_usd, market_cap_usd,
    volume_24h_usd) folded per key; unpriced rows are not counted (as in raw candles)."""
    out: dict[Key, Fold] = {}
    for obs_id, asset_id, source, observed_at, price, cap, volume in rows:
        if price is None:
            continue
        epoch = int(observed_at.timestamp())
        for secs in ROLLUP_SECONDS:
            one = Fold(
                price, observed_at, obs_id, price, price, price, observed_at, obs_id, cap, volume, 1
            )
            key = (asset_id, secs, epoch // secs * secs, source)
            found = out.get(key)
            if found is None:
                out[key] = one
            else:
                found.merge(one)
    return out


def rollup_row(key: Key, f: Fold) -> dict[str, Any]:
    """The ``observation_rollups`` row of one fold."""
    return {
        **dict(zip(KEY, key, strict=True)),
        "open_price": f.open_price,
        "open_at": f.open_at,
        "open_id": f.open_id,
        "high_price": f.high_price,
        "low_price": f.low_price,
        "close_price": f.close_price,
        "close_at": f.close_at,
        "close_id": f.close_id,
        "market_cap_usd": f.market_cap_usd,
        "volume_24h_usd": f.volume_24h_usd,
        "observations": f.observations,
    }


def _stored(conn: AsyncConnection, keys: list[Key]) -> Any:
    """The stored rollups of ``keys``. SQLite: the keys travel as ONE JSON parameter,
    probed one by one through the primary key (``json_each`` as the outer loop), so the
    statement is compiled once; a ``(a, b, c, d) IN (VALUES ...)`` of 500 keys was compiled
    per batch and cost 5x the insert it accompanied. PostgreSQL (relinks only): row IN."""
    cols = [r[c] for c in COLUMNS]
    if conn.dialect.name != "sqlite":
        return select(*cols).where(
            tuple_(r.asset_id, r.bucket_seconds, r.bucket, r.source).in_(keys)
        )
    j = func.json_each(bindparam("keys", json.dumps(keys))).table_valued("value").alias("j")
    on = [r[name] == func.json_extract(j.c.value, f"$[{i}]") for i, name in enumerate(KEY)]
    return select(*cols).select_from(j).join(observation_rollups, and_(*on))


async def merge_folds(conn: AsyncConnection, folds: dict[Key, Fold]) -> None:
    """Merge ``folds`` into the stored rollups (read the stored rows of these keys, merge in
    Python, write back): the SQLite path, also used to rebuild after a relink."""
    if not folds:
        return
    keys = sorted(folds)
    for start in range(0, len(keys), _CHUNK):
        stored = await conn.execute(_stored(conn, keys[start : start + _CHUNK]))
        for row in stored:
            key: Key = (row[0], row[1], row[2], row[3])
            have = Fold(*row[len(KEY) :])
            have.merge(folds[key])
            folds[key] = have
    if conn.dialect.name == "sqlite":
        # Bound as plain tuples in the store's own SQLite encodings: SQLAlchemy's per-value
        # processing of two rollup rows per observation cost more than the whole insert.
        await conn.exec_driver_sql(
            _SQLITE_UPSERT, [(*k, *map(_sqlite_value, _fields(folds[k]))) for k in keys]
        )
        return
    ins = insert_for(conn, observation_rollups)
    stmt = ins.on_conflict_do_update(
        index_elements=list(KEY),
        set_={c: ins.excluded[c] for c in COLUMNS if c not in KEY},
    )
    await conn.execute(stmt, [rollup_row(k, folds[k]) for k in keys])


_SQLITE_UPSERT: Final = (
    f"INSERT INTO observation_rollups ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in KEY)
)


def _fields(f: Fold) -> tuple[Any, ...]:
    return (
        f.open_price,
        f.open_at,
        f.open_id,
        f.high_price,
        f.low_price,
        f.close_price,
        f.close_at,
        f.close_id,
        f.market_cap_usd,
        f.volume_24h_usd,
        f.observations,
    )


def _sqlite_value(value: Any) -> Any:
    """What ``ExactDecimal`` and ``UTCDateTime`` store on SQLite (exact text; naive UTC
    text in SQLAlchemy's fixed-width format, so text order is time order)."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


async def apply_returned(conn: AsyncConnection, inserted: Sequence[Sequence[Any]]) -> None:
    """Fold the rows an insert returned into the rollups (SQLite; see the module doc)."""
    await merge_folds(conn, fold(inserted))


async def rebuild_moved(conn: AsyncConnection, moves: Sequence[tuple[str, str, int, int]]) -> None:
    """After a relink moved source ids ``(source, source_asset_id, from_asset, to_asset)``
    with their observations: the rollups of both assets, for that source and the days the
    moved rows span, rebuilt from the raw rows (days before the raw retention window keep
    what they had: their raw rows are gone, only the lake holds them)."""
    if not moves:
        return
    o = observations.c
    sids = sorted({(s, i) for s, i, _, _ in moves})
    li = listings.c
    spans = await conn.execute(
        select(o.source, func.min(o.observed_at), func.max(o.observed_at))
        .select_from(observations.join(listings, li.id == o.listing_id))
        .where(tuple_(li.source, li.source_asset_id).in_(sids))
        .group_by(o.source)
    )
    day = ROLLUP_SECONDS[-1]
    # Days before the retention boundary have lost their raw rows (bar the latest ones):
    # rebuilt from what is left they would lose counts, so they are left as they are.
    retired = await retired_before(conn)
    for source, first, last in spans.all():
        assets = sorted({a for s, _, f, t in moves if s == source for a in (f, t)})
        lo = int(first.timestamp()) // day * day
        if retired is not None:
            lo = max(lo, int(retired.timestamp()))
        if lo > int(last.timestamp()):
            continue
        hi = int(last.timestamp()) // day * day + day
        await conn.execute(
            delete(observation_rollups).where(
                r.asset_id.in_(assets), r.source == source, r.bucket >= lo, r.bucket < hi
            )
        )
        query = select(*FOLDED).where(
            o.asset_id.in_(assets),
            o.source == source,
            o.observed_at >= datetime.fromtimestamp(lo, UTC),
            o.observed_at < datetime.fromtimestamp(hi, UTC),
        )
        if by_listing(conn.dialect.name):
            # Their listings' ranges of the listing key (no asset index, store.asset_rows).
            query = query.where(
                o.listing_id.in_(
                    asset_listings(lambda c: c.in_(assets), lambda c: c == source)  # noqa: B023
                )
            )
        raw = await conn.execute(query)
        await merge_folds(conn, fold(raw.all()))


# Every stored observation folded at once (the migration's backfill; benchmarks rebuilding
# rollups after a synthetic fill). The table must be empty.
PG_BACKFILL: Final = """
INSERT INTO observation_rollups (
    asset_id, bucket_seconds, bucket, source, open_price, open_at, open_id, high_price,
    low_price, close_price, close_at, close_id, market_cap_usd, volume_24h_usd, observations
)
SELECT i.asset_id, k.secs, floor(extract(epoch FROM i.observed_at))::bigint / k.secs * k.secs,
       i.source,
       (array_agg(i.price_usd ORDER BY i.observed_at, i.id))[1],
       min(i.observed_at),
       (array_agg(i.id ORDER BY i.observed_at, i.id))[1],
       max(i.price_usd), min(i.price_usd),
       (array_agg(i.price_usd ORDER BY i.observed_at DESC, i.id DESC))[1],
       max(i.observed_at),
       (array_agg(i.id ORDER BY i.observed_at DESC, i.id DESC))[1],
       (array_agg(i.market_cap_usd ORDER BY i.observed_at DESC, i.id DESC))[1],
       (array_agg(i.volume_24h_usd ORDER BY i.observed_at DESC, i.id DESC))[1],
       count(*)
FROM observations AS i CROSS JOIN (VALUES (3600), (86400)) AS k(secs)
WHERE i.price_usd IS NOT NULL
GROUP BY i.asset_id, k.secs, 3, i.source
"""


_OPEN: Final = "(excluded.open_at, excluded.open_id) < (r.open_at, r.open_id)"
_CLOSE: Final = "(excluded.close_at, excluded.close_id) > (r.close_at, r.close_id)"


def pg_rollup_ctes(inserted: str) -> str:
    """Two CTEs (``rb``, ``rolled``) folding the CTE ``inserted`` (RETURNING id, asset_id,
    source, observed_at, price_usd, market_cap_usd, volume_24h_usd) into the rollups.

    Rows are folded per key first (an ``ON CONFLICT DO UPDATE`` may touch a row once per
    statement) and written in key order (concurrent loads lock rollup rows in one order, so
    they wait for each other instead of deadlocking)."""
    secs = ", ".join(f"({s})" for s in ROLLUP_SECONDS)
    first = "ORDER BY i.observed_at, i.id"
    last = "ORDER BY i.observed_at DESC, i.id DESC"
    opened = ("open_price", "open_at", "open_id")
    closed = ("close_price", "close_at", "close_id", "market_cap_usd", "volume_24h_usd")
    sets = [f"{c} = CASE WHEN {_OPEN} THEN excluded.{c} ELSE r.{c} END" for c in opened]
    sets += [f"{c} = CASE WHEN {_CLOSE} THEN excluded.{c} ELSE r.{c} END" for c in closed]
    sets += [
        "high_price = GREATEST(r.high_price, excluded.high_price)",
        "low_price = LEAST(r.low_price, excluded.low_price)",
        "observations = r.observations + excluded.observations",
    ]
    columns = ", ".join(COLUMNS)
    return f"""rb AS (
    SELECT k.secs AS bucket_seconds, i.asset_id, i.source,
           floor(extract(epoch FROM i.observed_at))::bigint / k.secs * k.secs AS bucket,
           (array_agg(i.price_usd {first}))[1] AS open_price,
           min(i.observed_at) AS open_at,
           (array_agg(i.id {first}))[1] AS open_id,
           max(i.price_usd) AS high_price,
           min(i.price_usd) AS low_price,
           (array_agg(i.price_usd {last}))[1] AS close_price,
           max(i.observed_at) AS close_at,
           (array_agg(i.id {last}))[1] AS close_id,
           (array_agg(i.market_cap_usd {last}))[1] AS market_cap_usd,
           (array_agg(i.volume_24h_usd {last}))[1] AS volume_24h_usd,
           count(*) AS observations
    FROM {inserted} AS i CROSS JOIN (VALUES {secs}) AS k(secs)
    WHERE i.price_usd IS NOT NULL
    GROUP BY 1, 2, 3, 4
), rolled AS (
    INSERT INTO observation_rollups AS r ({columns})
    SELECT {columns} FROM rb ORDER BY asset_id, bucket_seconds, bucket, source
    ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET {", ".join(sets)}
)"""


__all__ = [
    "FOLDED",
    "PG_BACKFILL",
    "ROLLUP_SECONDS",
    "Fold",
    "apply_returned",
    "fold",
    "merge_folds",
    "pg_rollup_ctes",
    "rebuild_moved",
    "rollup_row",
]


async def retired_before(conn: AsyncConnection) -> datetime | None:
    """Where retention has deleted raw observations up to (``store_metadata``), if ever."""
    m = store_metadata.c
    value = (await conn.execute(select(m.value).where(m.key == RETIRED_KEY))).scalar_one_or_none()
    return datetime.fromisoformat(json.loads(value)) if value else None


async def mark_retired(conn: AsyncConnection, before: datetime) -> None:
    """Record the retention boundary (it only moves forward)."""
    known = await retired_before(conn)
    if known is not None and known >= before:
        return
    now = datetime.now(UTC)
    value = json.dumps(before.isoformat())
    ins = insert_for(conn, store_metadata).values(key=RETIRED_KEY, value=value, updated_at=now)
    await conn.execute(
        ins.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_at": now})
    )


async def delete_before(conn: AsyncConnection, bucket_seconds: int, before: datetime) -> int:
    """Retire the rollups of one interval whose bucket starts before ``before``."""
    result = await conn.execute(
        delete(observation_rollups).where(
            r.bucket_seconds == bucket_seconds, r.bucket < int(before.timestamp())
        )
    )
    return int(result.rowcount or 0)
