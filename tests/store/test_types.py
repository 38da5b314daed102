"""Exact decimals and aware timestamps round-trip on both dialects; migrations match the model."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.store.migrate import alembic_config
from kasparro.store.partitions import include_object_for
from kasparro.store.schema import assets, listings, metadata, observations, runs
from kasparro.store.types import decimal_text

EXACT_VALUES = [
    Decimal("1E-10"),
    Decimal("3.447e-09"),
    Decimal("0.00136138"),
    Decimal("41389.57931641128"),
    Decimal("4.2E+17"),
    Decimal("10110110100000000"),
    Decimal("123456789012345678901234567890.123456789012345678"),
]


async def _insert_obs(engine: AsyncEngine, price: Decimal, observed_at: datetime) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        run_id = (
            await conn.execute(
                insert(runs)
                .values(source="t", trigger="cli", status="running", started_at=now)
                .returning(runs.c.id)
            )
        ).scalar_one()
        asset_id = (
            await conn.execute(
                insert(assets)
                .values(identity_key=f"k:{price}", symbol="K", name="K", created_at=now)
                .returning(assets.c.id)
            )
        ).scalar_one()
        listing_id = (
            await conn.execute(
                insert(listings)
                .values(source="t", source_asset_id=str(price), symbol="K", name="K", named_at=now)
                .returning(listings.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(observations).values(
                asset_id=asset_id,
                source="t",
                listing_id=listing_id,
                observed_at=observed_at,
                price_usd=price,
                run_id=run_id,
                ingested_at=now,
            )
        )


@pytest.mark.parametrize("value", EXACT_VALUES, ids=str)
async def test_decimal_round_trips_exactly(engine: AsyncEngine, value: Decimal) -> None:
    await _insert_obs(engine, value, datetime(2022, 2, 23, 11, 23, 11, 426000, tzinfo=UTC))
    async with engine.connect() as conn:
        got = (await conn.execute(select(observations.c.price_usd))).scalar_one()
    assert isinstance(got, Decimal)
    assert got == value
    assert decimal_text(got) == decimal_text(value)


async def test_timestamps_come_back_aware_utc(engine: AsyncEngine) -> None:
    local = datetime(2022, 4, 19, 17, 43, 22, tzinfo=timezone(timedelta(hours=2)))
    await _insert_obs(engine, Decimal(1), local)
    async with engine.connect() as conn:
        got = (await conn.execute(select(observations.c.observed_at))).scalar_one()
    assert got == local
    assert got.utcoffset() == timedelta(0)


async def test_naive_timestamps_are_refused(engine: AsyncEngine) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        await _insert_obs(engine, Decimal(1), datetime(2022, 1, 1))


async def test_migrations_match_the_schema_model(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(
                    c, opts={"include_object": include_object_for(c.dialect.name)}
                ),
                metadata,
            )
        )
    assert diff == []


async def test_the_asset_history_index_is_sqlite_only(engine: AsyncEngine) -> None:
    """Migration 0003 made it, 0020 dropped it on PostgreSQL (an asset's rows are read
    through its listings there, store.asset_rows); SQLite keeps it."""
    async with engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("observations"))
        dialect = conn.dialect.name
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert version is not None and version >= "0020"
    by_name = {ix["name"]: ix for ix in indexes}
    if dialect == "postgresql":
        assert "ix_observations_asset_observed_id" not in by_name
        return
    assert by_name["ix_observations_asset_observed_id"]["column_names"] == [
        "asset_id",
        "observed_at",
        "id",
    ]
    assert not by_name["ix_observations_asset_observed_id"]["unique"]


def test_decimal_text_is_plain_notation() -> None:
    assert decimal_text(Decimal("1E-10")) == "0.0000000001"
    assert decimal_text(Decimal("4.2E+17")) == "420000000000000000"
    assert decimal_text(Decimal("38938.000")) == "38938"
    assert decimal_text(Decimal("0")) == "0"


def test_index_migrations_on_big_tables_build_concurrently_on_postgresql() -> None:
    """0003 and 0005 must not block the ETL's writes for the length of an index build: in
    PostgreSQL's offline SQL they run CREATE INDEX CONCURRENTLY outside a transaction."""
    cfg = alembic_config("postgresql://postgres@127.0.0.1/unused")  # offline: never connects
    cfg.output_buffer = io.StringIO()
    # Through 0016: 0017 (partitioning) reads the live catalogue and refuses offline mode.
    command.upgrade(cfg, "0002:0016", sql=True)
    sql = cfg.output_buffer.getvalue()
    for name in ("ix_observations_asset_observed_id", "ix_latest_observations_source_observed"):
        build = f"CREATE INDEX CONCURRENTLY {name}"
        assert build in sql
        before = sql[: sql.index(build)]
        assert before.rstrip().rsplit("\n", 1)[-1] != "BEGIN;"
        assert before.rfind("COMMIT;") > before.rfind("BEGIN;")  # outside any transaction
    # 0006 drops an index of raw_responses the same way.
    assert "DROP INDEX CONCURRENTLY ix_raw_responses_fingerprint" in sql
