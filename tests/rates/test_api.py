"""The reference rate over HTTP, on both databases: every published value recomputed from
the inputs it lists (as a client would, docs/reference-rate.md), the series keyset-paged,
and the emulator's USDT depeg and outlier venue listed as divergences within one bucket."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.render import dumps
from kasparro.store.rate_schema import rate_inputs, rates
from kasparro.store.schema import assets
from tests.fixtures.api import make_settings, running_app, walk
from tests.rates.test_store import etl_settings, on_the_wall_clock, run_ticks


def weighted_median(pairs: list[tuple[Decimal, Decimal]]) -> Decimal:
    """The client's own median, exactly as the methodology page writes it."""
    pairs = sorted(pairs)
    total = sum((w for _, w in pairs), Decimal(0))
    if total <= 0:
        pairs, total = [(p, Decimal(1)) for p, _ in pairs], Decimal(len(pairs))
    running = Decimal(0)
    for price, weight in pairs:
        running += weight
        if running * 2 >= total:
            return price
    raise AssertionError("unreachable")


def client_recompute(inputs: list[dict[str, Any]]) -> Decimal:
    by_partition: dict[int, list[tuple[Decimal, Decimal]]] = {}
    for i in inputs:
        if i["included"]:
            by_partition.setdefault(i["partition"], []).append(
                (Decimal(i["price_usd"]), Decimal(i["weight"]))
            )
    values = [weighted_median(p) for p in by_partition.values()]
    return sum(values, Decimal(0)) / len(values)


async def test_published_values_recompute_from_their_inputs_and_depegs_are_flagged(
    engine: AsyncEngine, db_url: str, emulator_factory: Any, tmp_path: Path
) -> None:
    emu = emulator_factory(
        on_the_wall_clock(
            2, coins=300, venue_bad_days=["depeg:USDT:pct=3,from=2", "outlier:okx:pct=10,from=1"]
        )
    )
    await run_ticks(engine, emu, etl_settings(db_url, emu), 1)
    async with engine.connect() as conn:
        usdt = (
            await conn.execute(
                text(
                    "SELECT DISTINCT l.asset_id FROM venue_market_links l"
                    " WHERE l.base = 'USDT' AND l.status = 'linked'"
                )
            )
        ).scalar_one()
    async with running_app(make_settings(db_url, tmp_path)) as client:
        # Before the depeg: USDT near 1, not flagged.
        before = (await client.get(f"/api/v1/assets/{usdt}/rate")).json()["data"]
        assert not before["depeg"] and abs(Decimal(before["value"]) - 1) < Decimal("0.002")
        series = await walk(client, "/api/v1/rates", {"interval": "1m", "limit": 37})
        assert len(series) > 100
        assert [(r["bucket_start"], r["asset_id"]) for r in series] == sorted(
            (r["bucket_start"], r["asset_id"]) for r in series
        )
        for interval in ("1m", "1h"):
            checked = 0
            for r in series[::7] if interval == "1m" else series[::29]:
                got = await client.get(
                    f"/api/v1/assets/{r['asset_id']}/rate",
                    params={"at": r["bucket_start"], "interval": interval},
                )
                assert got.status_code == 200, got.text
                body = got.json()["data"]
                assert client_recompute(body["inputs"]) == Decimal(body["value"])
                # The page is rendered from JSON-ready SQL text: byte for byte what the
                # typed values (Decimal, datetime, bool) give through the one renderer.
                page = got.content.rsplit(b',"meta":', 1)[0].removeprefix(b'{"data":')
                assert page == await typed_rendering(engine, body, interval)
                if interval == "1m":  # the series' item: the same fields, in that order
                    assert list(r.items()) == list(body.items())[: len(r)]
                assert Decimal(body["low"]) <= Decimal(body["value"]) <= Decimal(body["high"])
                checked += 1
            assert checked > 3
        # The outlier venue (10 % off from tick 1) is outside the band, never included.
        div = (await client.get("/api/v1/divergences")).json()["data"]
        okx = [i for i in div["inputs"] if i["source"] == "okx"]
        assert okx and all(i["reason"] in ("outside_band", "reentry_pending") for i in okx)
        assert all(abs(Decimal(i["deviation"])) > Decimal("0.02") for i in okx)
        assert not div["inputs_truncated"]
        one = (await client.get("/api/v1/divergences", params={"limit": 1})).json()["data"]
        assert len(one["inputs"]) == 1 and one["inputs_truncated"]  # said, never silent

    # Tick 2: USDT 3 % under its peg on every venue; flagged in the first bucket with it.
    emu.state.tick()
    await run_etl_all(engine, emu, db_url)
    async with running_app(make_settings(db_url, tmp_path)) as client:
        now = (await client.get(f"/api/v1/assets/{usdt}/rate")).json()["data"]
        assert now["bucket_start"] >= before["bucket_start"]  # the same minute, restated
        assert now["depeg"] and abs(Decimal(now["value"]) - Decimal("0.97")) < Decimal("0.003")
        div = (await client.get("/api/v1/divergences")).json()["data"]
        assert [d["asset_id"] for d in div["depegs"]] == [usdt]
        assert div["depegs"][0]["bucket_start"] == now["bucket_start"]
        schema = (await client.get("/openapi.json")).json()
        for path in ("/api/v1/assets/{asset_id}/rate", "/api/v1/rates", "/api/v1/divergences"):
            assert path in schema["paths"]
        missing = await client.get("/api/v1/assets/999999/rate")
        assert missing.status_code == 404
        # The query string is parsed by a QuerySpec: as strict as the other routes.
        for bad in ("bogus=1", "at=yesterday", "interval=5m", "interval=1m&interval=1h"):
            got = await client.get(f"/api/v1/assets/{usdt}/rate?{bad}")
            assert got.status_code == 422, (bad, got.text)
            assert got.json()["error"]["details"][0]["loc"] == f"query.{bad.split('=')[0]}"
        params = schema["paths"]["/api/v1/assets/{asset_id}/rate"]["get"]["parameters"]
        assert [p["name"] for p in params] == ["asset_id", "at", "interval", "method_version"]


PK = ("asset_id", "interval", "method_version", "bucket_start")


async def typed_rendering(engine: AsyncEngine, body: dict[str, Any], interval: str) -> bytes:
    """The value ``body`` shows, read back with SQLAlchemy's typed columns and rendered with
    ``api.render.dumps`` in the documented field order (the endpoint's former path)."""
    key = (
        rates.c.asset_id == body["asset_id"],
        rates.c.interval == interval,
        rates.c.method_version == body["method_version"],
        rates.c.bucket_start == datetime.fromisoformat(body["bucket_start"]),
    )
    async with engine.connect() as conn:
        row = (await conn.execute(select(rates).where(*key))).one()
        asset = (await conn.execute(select(assets).where(assets.c.id == row.asset_id))).one()
        fields = [c for c in rate_inputs.c if c.name not in PK]
        inputs = await conn.execute(
            select(*fields)
            .where(
                rate_inputs.c.asset_id == row.asset_id,
                rate_inputs.c.interval == interval,
                rate_inputs.c.method_version == row.method_version,
                rate_inputs.c.bucket_start == row.bucket_start,
            )
            .order_by(rate_inputs.c.partition, rate_inputs.c.source, rate_inputs.c.market)
        )
        out = {c.name: getattr(row, c.name) for c in rates.c}
        out["bucket_end"] = row.bucket_start + (
            timedelta(minutes=1) if interval == "1m" else timedelta(hours=1)
        )
        out["inputs"] = [dict(i._mapping) for i in inputs]
    return dumps({**out, "symbol": asset.symbol, "name": asset.name})


async def run_etl_all(engine: AsyncEngine, emu: Any, db_url: str) -> None:
    from tests.fixtures.etl import VENUE_NAMES, run_etl

    await run_etl(engine, etl_settings(db_url, emu), "coingecko", "coinpaprika", *VENUE_NAMES)
