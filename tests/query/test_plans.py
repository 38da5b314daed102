"""The hot statements use the schema's indexes (checked with EXPLAIN on both dialects)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.query.cursor import Position
from kasparro.query.fastread import Prepared, open_reader
from kasparro.query.observations import ObservationFilter, prepared_for
from kasparro.store import partitions
from tests.fixtures.api import T0, rec, seed_run


async def _plan(
    engine: AsyncEngine,
    db_url: str,
    flt: ObservationFilter,
    sort: str,
    descending: bool,
    params: dict[str, Any],
    with_cursor: bool,
    pg_off: tuple[str, ...] = ("seqscan",),
) -> str:
    """The plan of the exact statement ``list_observations`` prepares for this shape.

    On PostgreSQL sequential scans are disabled for the EXPLAIN: a test database is tiny,
    so the planner would rightly prefer scanning it; the question asked here is whether
    the statement *can* be answered from the indexes (sargable keyset, index order).
    ``pg_off`` disables more plan types the same way (a disabled ``sort`` still appears when
    nothing can avoid it, so its absence proves an index delivers the order).
    """
    dialect = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    after = Position(datetime.now(UTC), 10**9) if with_cursor else None
    prepared = prepared_for(dialect, flt, sort=sort, descending=descending, after=after)
    if dialect == "sqlite":
        reader = open_reader(db_url)
        try:
            rows = await reader.fetch(
                Prepared("EXPLAIN QUERY PLAN " + prepared.sql, prepared.names, prepared.defaults),
                params,
            )
        finally:
            await reader.close()
        return "\n".join(str(r[-1]) for r in rows)
    args = tuple(params.get(n, prepared.defaults.get(n)) for n in prepared.names)
    async with engine.begin() as conn:
        for method in pg_off:
            await conn.exec_driver_sql(f"SET LOCAL enable_{method} = off")
        raw = (await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + prepared.sql, args)).scalar()
        # Observations are partitioned by month: name each partition and its indexes after
        # the parent's, so a plan reads the same whatever months exist.
        parents = dict(
            (
                await conn.exec_driver_sql(
                    "SELECT c.relname, p.relname FROM pg_inherits i"
                    " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
                )
            ).all()
        )
    # One line per plan node: "Node Type on relation using index by sort keys".
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        desc = node["Node Type"]
        if "Relation Name" in node:
            desc += f" on {parents.get(node['Relation Name'], node['Relation Name'])}"
        if "Index Name" in node:
            desc += f" using {parents.get(node['Index Name'], node['Index Name'])}"
        if "Sort Key" in node:
            desc += f" by {', '.join(node['Sort Key'])}"
        lines.append("  " * depth + desc)
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk((orjson.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"], 0)
    return "\n".join(lines)


async def _seed(engine: AsyncEngine, dialect: str) -> None:
    for i in range(4):
        await seed_run(
            engine,
            "coingecko",
            [rec(f"coin{n}", at=T0 + timedelta(minutes=i), price=str(n + 1)) for n in range(300)],
        )
    if dialect == "postgres":
        async with engine.begin() as conn:
            await partitions.maintain(conn, T0)  # the rows' month gets its own partition
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))


def _row_lookup(plan: str) -> bool:
    """The page's rows are fetched by the primary key (observed_at, id) in the month's
    partition that holds them."""
    rows = plan.split("Nested Loop", 2)[-1]
    return "Index Scan on observations using pk_observations" in rows and "Seq Scan" not in rows


async def test_default_order_walks_the_observed_at_index(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    await _seed(engine, dialect)
    params = {"lim": 101, "cur_v": datetime.now(UTC), "cur_id": 10**9}
    for with_cursor in (False, True):
        plan = await _plan(
            engine, db_url, ObservationFilter(), "observed_at", True, params, with_cursor
        )
        if dialect == "postgres":
            # The page comes straight off the primary key (observed_at, id) (migration 0019),
            # in order: nothing sorts observations.
            assert "Index Only Scan on observations using pk_observations" in plan, plan
            assert "Sort by observations" not in plan, plan
            # Page rows come by (id, observed_at) (the LATERAL fence), never from a hash join.
            assert "Hash" not in plan, plan
            assert _row_lookup(plan), plan
        else:
            assert (
                "SCAN observations USING COVERING INDEX ix_observations_observed_id" in plan
                or "SEARCH observations USING COVERING INDEX ix_observations_observed_id" in plan
            )


async def test_latest_reads_the_latest_table_not_history(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    await _seed(engine, dialect)
    plan = await _plan(
        engine, db_url, ObservationFilter(latest=True), "observed_at", True, {"lim": 101}, False
    )
    assert "latest_observations" in plan
    if dialect == "postgres":
        assert "Aggregate" not in plan, plan
        # History is only touched by (id, observed_at), never scanned or grouped.
        assert _row_lookup(plan), plan
        assert "Seq Scan on observations" not in plan, plan
    else:
        assert "SEARCH observations USING INTEGER PRIMARY KEY" in plan
        assert "GROUP BY" not in plan


async def test_latest_of_one_source_walks_the_source_index_in_order(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    await _seed(engine, dialect)
    plan = await _plan(
        engine,
        db_url,
        ObservationFilter(latest=True, sources=("coingecko",)),
        "observed_at",
        True,
        {"lim": 101, "source": "coingecko"},
        False,
        pg_off=("seqscan", "bitmapscan", "sort"),
    )
    assert "ix_latest_observations_source_observed" in plan, plan
    if dialect == "postgres":
        # Sorts are disabled, not forbidden: one would still show if nothing could avoid it.
        assert "Sort" not in plan, plan
    else:
        assert "TEMP B-TREE FOR ORDER BY" not in plan.split("SCAN page")[0], plan


async def test_asset_history_reads_its_listings_ranges_in_order(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    await _seed(engine, dialect)
    params = {"lim": 101, "asset_id": 1, "cur_v": datetime.now(UTC), "cur_id": 10**9}
    for with_cursor in (False, True):
        plan = await _plan(
            engine,
            db_url,
            ObservationFilter(asset_ids=(1,)),
            "observed_at",
            True,
            params,
            with_cursor,
            pg_off=("seqscan", "bitmapscan", "sort"),
        )
        if dialect == "postgres":
            # No asset index (0020): the asset's listings by its mappings, then each
            # listing's rows as a range of the listing key in time order, at most a page of
            # each (only the merge of those sorts: the one Sort left, above a Limit per
            # listing); however long the asset's history is.
            assert "ix_observations_asset_observed_id" not in plan, plan
            assert "ix_asset_mappings_asset" in plan, plan
            assert "Index Scan on observations using uq_observations_listing_key" in plan, plan
            sorts = [line.strip() for line in plan.splitlines() if "Sort" in line]
            assert [s for s in sorts if not s.startswith("Incremental")] == [sorts[0]], plan
            merge = plan.split(sorts[0])[1]
            assert "Limit" in merge.split("uq_observations_listing_key")[0], plan
            assert "Seq Scan" not in plan and "Hash" not in plan, plan
        else:
            # One asset across every source, by (observed_at, id): a range of the history
            # index read in page order.
            assert "ix_observations_asset_observed_id" in plan, plan
            assert "TEMP B-TREE FOR ORDER BY" not in plan.split("SCAN page")[0], plan


async def test_several_assets_are_read_by_an_index(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    await _seed(engine, dialect)
    plan = await _plan(
        engine,
        db_url,
        ObservationFilter(asset_ids=(1, 2)),
        "observed_at",
        True,
        {"lim": 101, "asset_ids": [1, 2]},
        False,
    )
    if dialect == "postgres":
        assert "uq_observations_listing_key" in plan, plan
    else:
        assert "ix_observations_asset" in plan, plan


async def test_symbol_order_walks_the_case_insensitive_index(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    # sort=symbol orders by lower(symbol), id (migration 0010) of the row's listing (0018):
    # listings are read in that order and each one's rows through the listing key, so only
    # the rows of one symbol are ever sorted (by id), never the table.
    await _seed(engine, dialect)
    params = {"lim": 101, "cur_v": "coin", "cur_id": 10**9}
    for descending in (False, True):
        for with_cursor in (False, True):
            plan = await _plan(
                engine,
                db_url,
                ObservationFilter(),
                "symbol",
                descending,
                params,
                with_cursor,
                pg_off=("seqscan", "bitmapscan", "sort"),
            )
            assert "ix_listings_symbol_ci" in plan, plan
            assert "uq_observations_listing_key" in plan or "autoindex_observations" in plan, plan
            if dialect == "postgres":
                sorts = [line.strip() for line in plan.splitlines() if "Sort" in line]
                assert all(line.startswith("Incremental Sort") for line in sorts), plan
            else:
                inner = plan.split("SCAN page")[0].splitlines()
                assert "USE TEMP B-TREE FOR ORDER BY" not in inner, plan


async def test_rollup_candles_are_a_range_of_the_rollups_key(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    from kasparro.query import candle_rollups

    await _seed(engine, dialect)
    name = "sqlite" if dialect == "sqlite" else "postgresql"
    params = {"asset_id": 1, "secs": 86_400, "lo": 0, "hi": 2**40}
    for descending in (False, True):
        prepared = candle_rollups._window_statement(name, descending, False)
        if dialect == "sqlite":
            reader = open_reader(db_url)
            try:
                rows = await reader.fetch(
                    Prepared(
                        "EXPLAIN QUERY PLAN " + prepared.sql, prepared.names, prepared.defaults
                    ),
                    params,
                )
            finally:
                await reader.close()
            plan = "\n".join(str(r[-1]) for r in rows)
            assert "SEARCH observation_rollups USING INDEX" in plan, plan
            # Newest first orders the few sources of one bucket by name: at most that part.
            sorted_part = "RIGHT PART OF ORDER BY" if descending else "TEMP B-TREE"
            assert "TEMP B-TREE" not in plan.replace("TEMP B-TREE FOR " + sorted_part, ""), plan
            continue
        args = tuple(params[n] for n in prepared.names)
        async with engine.begin() as conn:
            for method in ("seqscan", "bitmapscan", "sort"):
                await conn.exec_driver_sql(f"SET LOCAL enable_{method} = off")
            raw = (await conn.exec_driver_sql("EXPLAIN " + prepared.sql, args)).all()
        plan = "\n".join(r[0] for r in raw)
        # One asset's buckets of one interval, in page order: a range of the primary key.
        assert "pk_observation_rollups" in plan, plan
        assert "Seq Scan" not in plan, plan
        if descending:
            # Newest first orders the few sources of one bucket by name: an incremental
            # sort over the key's bucket order, never a sort of the range.
            assert "Presorted Key: bucket" in plan or "Sort" not in plan, plan
        else:
            assert "Sort" not in plan, plan


async def test_page_rows_are_index_lookups_with_a_year_of_partitions(
    engine: AsyncEngine, db_url: str, dialect: str
) -> None:
    """With every plan type allowed and a year of monthly partitions, each page row is
    still found by an index probe. The row lookup's estimate is one row per partition (13
    here), and before the lookup was capped at one row the planner answered it with hash
    joins over sequential scans of ``assets`` and ``listings`` repeated for every page row:
    64 ms for a 100-row page of a 1M-row store instead of 1.6 ms."""
    if dialect != "postgres":
        return  # SQLite is not partitioned; its plans are checked above
    await _seed(engine, dialect)
    async with engine.begin() as conn:
        await partitions.ensure(conn, [T0 - timedelta(days=31 * k) for k in range(12)])
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    shapes: list[tuple[ObservationFilter, dict[str, Any]]] = [
        (ObservationFilter(), {"lim": 101}),
        (ObservationFilter(latest=True), {"lim": 101}),
        (ObservationFilter(asset_ids=(1,)), {"lim": 101, "asset_id": 1}),
    ]
    for flt, params in shapes:
        plan = await _plan(engine, db_url, flt, "observed_at", True, params, False, pg_off=())
        lookup = plan.split("Limit", 2)[-1]  # the LATERAL row lookups, after the page's Limit
        # One probe of the month's primary key per page row (empty months have no
        # statistics and run-time pruning skips them, whatever their lines say), and no
        # join to build (this test's assets and listings fit a page or two: scanning them
        # is fair; on a 10M-row store each is a primary-key probe too).
        assert "Index Scan on observations using pk_observations" in lookup, plan
        assert "Hash" not in lookup, plan
