"""Migration 0018 on a populated store, both ways, on both dialects: the wide observation rows
become listings plus narrow rows (values, ids and sequence kept), and back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from sqlalchemy import text

from kasparro.store.engine import create_engine
from kasparro.store.migrate import alembic_config, upgrade

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WIDE = (
    "asset_id, source, source_asset_id, observed_at, symbol, name, price_usd, "
    "market_cap_rank, max_supply, run_id, ingested_at"
)
# (asset, source, source id, minutes after T0, symbol, name, price, rank): a coin renamed
# between its two observations, the same id at two sources, an observation with NULLs.
ROWS = [
    (1, "coingecko", "matic-network", 0, "MATIC", "Polygon", "0.51", 20),
    (1, "coingecko", "matic-network", 5, "POL", "POL (ex-MATIC)", "0.5200000001", 21),
    (1, "coinpaprika", "matic-network", 1, "MATIC", "Polygon", "0.5", None),
    (2, "coingecko", "bitcoin", 0, "BTC", "Bitcoin", "63000.123456789012345678", 1),
    (2, "coingecko", "bitcoin", 5, "BTC", "Bitcoin", None, None),
]


def _text(url: str) -> bool:
    return url.startswith("sqlite")


async def _run(url: str, statements: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
    engine = create_engine(url, pool_size=1)
    out = []
    try:
        async with engine.begin() as conn:
            for sql, params in statements:
                result = await conn.execute(text(sql), params)
                out.append([tuple(r) for r in result.all()] if result.returns_rows else [])
    finally:
        await engine.dispose()
    return out


def _seed_wide(url: str) -> None:
    at = T0.replace(tzinfo=None).isoformat(" ") if _text(url) else T0
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            "INSERT INTO assets (id, identity_key, symbol, name, created_at) VALUES "
            "(1, 'k1', 'POL', 'Polygon', :at), (2, 'k2', 'BTC', 'Bitcoin', :at)",
            {"at": at},
        ),
        (
            "INSERT INTO runs (id, source, trigger, status, started_at, start_page, pages, "
            "fetched, loaded, unchanged, rejected) "
            "VALUES (7, 'coingecko', 'cli', 'success', :at, 1, 0, 0, 0, 0, 0)",
            {"at": at},
        ),
    ]
    for i, (asset, source, sid, minutes, symbol, name, price, rank) in enumerate(ROWS, 1):
        when = T0 + timedelta(minutes=minutes)
        stamp: Any = when.replace(tzinfo=None).isoformat(" ") if _text(url) else when
        statements.append(
            (
                f"INSERT INTO observations (id, {WIDE}) VALUES (:id, :asset, :source, :sid, "
                ":at, :symbol, :name, "
                + ("CAST(:price AS NUMERIC)" if not _text(url) else ":price")
                + ", :rank, NULL, 7, :at)",
                {
                    "id": i * 10,
                    "asset": asset,
                    "source": source,
                    "sid": sid,
                    "at": stamp,
                    "symbol": symbol,
                    "name": name,
                    "price": price,
                    "rank": rank,
                },
            )
        )
    asyncio.run(_run(url, statements))


def _price(value: Any) -> str | None:
    return None if value is None else str(value)


def test_migration_0018_converts_a_populated_store_and_back(db_url: str) -> None:
    cfg = alembic_config(db_url)
    try:
        command.downgrade(cfg, "0017")
        _seed_wide(db_url)
        command.upgrade(cfg, "0018")
        listings, narrow = asyncio.run(
            _run(
                db_url,
                [
                    (
                        "SELECT source, source_asset_id, symbol, name, id FROM listings "
                        "ORDER BY source, source_asset_id",
                        {},
                    ),
                    (
                        "SELECT o.id, o.asset_id, l.source, l.source_asset_id, o.source, "
                        "o.price_usd, o.market_cap_rank, o.run_id FROM observations o "
                        "JOIN listings l ON l.id = o.listing_id ORDER BY o.id",
                        {},
                    ),
                ],
            )
        )
        if not _text(db_url):
            # Still partitioned by month (migration 0017), its primary key with observed_at.
            ((layout,),) = asyncio.run(
                _run(
                    db_url,
                    [
                        (
                            "SELECT c.relkind::text, pg_get_constraintdef(k.oid),"
                            " (SELECT count(*) FROM pg_inherits WHERE inhparent = c.oid)"
                            " FROM pg_class c JOIN pg_constraint k ON k.conrelid = c.oid"
                            " AND k.contype = 'p' WHERE c.oid = 'observations'::regclass",
                            {},
                        )
                    ],
                )
            )
            assert layout[:2] == ("p", "PRIMARY KEY (id, observed_at)")
            assert layout[2] >= 2  # the months and the default partition
        # One listing per source id, named by its newest observation.
        assert [row[:4] for row in listings] == [
            ("coingecko", "bitcoin", "BTC", "Bitcoin"),
            ("coingecko", "matic-network", "POL", "POL (ex-MATIC)"),
            ("coinpaprika", "matic-network", "MATIC", "Polygon"),
        ]
        assert [
            (oid, asset, src, sid, own, _price(price), rank)
            for oid, asset, src, sid, own, price, rank, _ in narrow
        ] == [
            (i * 10, asset, source, sid, source, price, rank)
            for i, (asset, source, sid, _, _, _, price, rank) in enumerate(ROWS, 1)
        ]
        # The id sequence continues after the copied ids, and the loader's key holds.
        ids = asyncio.run(
            _run(
                db_url,
                [
                    (
                        "INSERT INTO observations (asset_id, observed_at, run_id, ingested_at, "
                        "listing_id, source) VALUES (2, :at, 7, :at, :lid, 'coingecko') "
                        "RETURNING id",
                        {
                            "at": (T0 + timedelta(hours=1)).replace(tzinfo=None).isoformat(" ")
                            if _text(db_url)
                            else T0 + timedelta(hours=1),
                            "lid": listings[0][4],
                        },
                    )
                ],
            )
        )
        assert ids[0][0][0] > 50
        command.downgrade(cfg, "0017")
        (wide,) = asyncio.run(
            _run(
                db_url,
                [
                    (
                        "SELECT id, source, source_asset_id, symbol, name, price_usd "
                        "FROM observations WHERE id <= 50 ORDER BY id",
                        {},
                    )
                ],
            )
        )
        # Back to the wide rows; each carries its listing's (newest) symbol and name.
        newest = {(s, sid): (sym, name) for s, sid, sym, name, _ in listings}
        assert [(oid, s, sid, sym, name, _price(p)) for oid, s, sid, sym, name, p in wide] == [
            (i * 10, source, sid, *newest[(source, sid)], price)
            for i, (_, source, sid, _, _, _, price, _) in enumerate(ROWS, 1)
        ]
    finally:
        upgrade(db_url)  # the PostgreSQL database is shared by this worker's later tests


def test_migration_0020_moves_backfills_mappings_to_their_upstream(db_url: str) -> None:
    """Backfills mapped their coins under the history source's name: 0020 makes each the
    upstream's mapping where that was missing; where the upstream's named another asset, the
    listing's rows move to it (with their rollups) and the emptied asset becomes its alias."""
    cfg = alembic_config(db_url)
    at = T0.replace(tzinfo=None).isoformat(" ") if _text(db_url) else T0
    later = (
        (T0 + timedelta(minutes=5)).replace(tzinfo=None).isoformat(" ")
        if _text(db_url)
        else (T0 + timedelta(minutes=5))
    )
    mapping = (
        "INSERT INTO asset_mappings (source, source_asset_id, asset_id, method, decided_at)"
        " VALUES (:s, :i, :a, 'new', :at)"
    )
    row = (
        "INSERT INTO observations (id, asset_id, observed_at, run_id, ingested_at, listing_id,"
        " source, price_usd) VALUES (:id, 1, :t, 1, :t, 5, 'coingecko', :p)"
    )
    try:
        command.downgrade(cfg, "0019")
        asyncio.run(
            _run(
                db_url,
                [
                    (
                        "INSERT INTO assets (id, identity_key, symbol, name, created_at) VALUES"
                        " (1, 'btc:old', 'BTC', 'Bitcoin', :at),"
                        " (2, 'btc:bitcoin', 'BTC', 'Bitcoin', :at),"
                        " (3, 'eth:ethereum', 'ETH', 'Ethereum', :at)",
                        {"at": at},
                    ),
                    (
                        "INSERT INTO listings (id, source, source_asset_id, symbol, name,"
                        " named_at) VALUES (5, 'coingecko', 'bitcoin', 'BTC', 'Bitcoin', :at)",
                        {"at": at},
                    ),
                    (mapping, {"s": "coingecko", "i": "bitcoin", "a": 2, "at": at}),
                    (mapping, {"s": "coingecko_history", "i": "bitcoin", "a": 1, "at": at}),
                    (mapping, {"s": "coingecko_history", "i": "ethereum", "a": 3, "at": at}),
                    (row, {"id": 1, "t": at, "p": "100.5"}),
                    (row, {"id": 2, "t": later, "p": "0.0000000001"}),
                ],
            )
        )
        command.upgrade(cfg, "0020")
        mappings, owners, aliases, rolled = asyncio.run(
            _run(
                db_url,
                [
                    (
                        "SELECT source, source_asset_id, asset_id"
                        " FROM asset_mappings ORDER BY source, source_asset_id",
                        {},
                    ),
                    ("SELECT DISTINCT asset_id FROM observations", {}),
                    ("SELECT id, alias_of FROM assets ORDER BY id", {}),
                    (
                        "SELECT asset_id, bucket_seconds, observations, close_price"
                        " FROM observation_rollups ORDER BY 1, 2",
                        {},
                    ),
                ],
            )
        )
        assert mappings == [("coingecko", "bitcoin", 2), ("coingecko", "ethereum", 3)]
        assert owners == [(2,)]
        assert aliases == [(1, 2), (2, None), (3, None)]
        # The close is the newest row's exact price (1e-10), on both dialects.
        assert [(a, s, n, Decimal(str(p))) for a, s, n, p in rolled] == [
            (2, 3600, 2, Decimal("1E-10")),
            (2, 86400, 2, Decimal("1E-10")),
        ]
    finally:
        asyncio.run(
            _run(
                db_url,
                [
                    ("DELETE FROM observation_rollups", {}),
                    ("DELETE FROM observations", {}),
                    ("DELETE FROM listings", {}),
                    ("DELETE FROM asset_mappings", {}),
                    ("UPDATE assets SET alias_of = NULL", {}),
                    ("DELETE FROM assets", {}),
                ],
            )
        )
        upgrade(db_url)
