"""Keyset pagination walks every row exactly once, for every sort, while data is loading.

Rows present when a walk starts must all be returned, none twice, in order; rows inserted
during the walk must be returned when they land after the walk's current position.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.api import T0, rec, seed_run, walk

SORTS = [
    "observed_at",
    "-observed_at",
    "price_usd",
    "-price_usd",
    "market_cap_rank",
    "-market_cap_rank",
    "symbol",
    "-symbol",
]
LETTERS = "ABCDEFGH"


def _record(n: int, source: str) -> Any:
    """Deterministic values with many ties and NULLs in every sortable column."""
    price = None if n % 5 == 0 else ["0.0000000001", "1", "2.5", "2.50", "1000"][n % 4]
    rank = None if n % 3 == 0 else (n % 4) + 1
    symbol = LETTERS[n % 3] + LETTERS[(n // 3) % 2]
    at = T0 + timedelta(minutes=n % 4)
    return rec(
        f"coin-{n}", source=source, symbol=symbol, name=f"Coin {n}", price=price, rank=rank, at=at
    )


def sort_key(row: dict[str, Any], field: str, descending: bool) -> tuple[Any, ...]:
    """Position of a row in the API's order, as a tuple comparable ascending."""
    value = row[field]
    if field == "price_usd" and value is not None:
        value = Decimal(value)
    is_null = value is None
    if descending:
        # Negate via a wrapper: NULLs still last, values and ids reversed.
        return (is_null, _Rev(value) if not is_null else 0, _Rev(row["id"]))
    return (is_null, value if not is_null else 0, row["id"])


class _Rev:
    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Rev) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and other.v == self.v


@pytest.mark.parametrize("sort", SORTS)
async def test_walk_while_loading(
    engine: AsyncEngine, api_client: httpx.AsyncClient, sort: str
) -> None:
    field, descending = sort.lstrip("-"), sort.startswith("-")
    counter = itertools.count()
    for source in ("coingecko", "coinpaprika", "csv"):
        await seed_run(engine, source, [_record(next(counter), source) for _ in range(10)])
    everything = await api_client.get("/api/v1/data", params={"sort": sort, "limit": 1000})
    initial = everything.json()["data"]
    assert len(initial) == 30
    assert [sort_key(r, field, descending) for r in initial] == sorted(
        sort_key(r, field, descending) for r in initial
    )

    inserted_ids: list[int] = []
    must_appear: set[int] = set()

    async def load_more(page_no: int, position: tuple[Any, ...]) -> None:
        # New rows with values before, at, and after the walk's position (incl. exact ties).
        # (A source name of its own marks them; the API filters only by registry names.)
        source = f"live{page_no}"
        seeded = await seed_run(engine, source, [_record(next(counter), source) for _ in range(3)])
        params = [("asset_id", a) for a in seeded.asset_ids.values()] + [("limit", 1000)]
        fresh = await api_client.get("/api/v1/data", params=params)
        for row in (r for r in fresh.json()["data"] if r["source"] == source):
            inserted_ids.append(row["id"])
            if sort_key(row, field, descending) > position:
                must_appear.add(row["id"])

    rows: list[dict[str, Any]] = []
    page_sizes: list[int] = []
    cursor = None
    while True:
        params = [("sort", sort), ("limit", 7)] + ([("cursor", cursor)] if cursor else [])
        body = (await api_client.get("/api/v1/data", params=params)).json()
        rows.extend(body["data"])
        page_sizes.append(len(body["data"]))
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
        await load_more(len(page_sizes), sort_key(rows[-1], field, descending))

    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a row was returned twice"
    missing = {r["id"] for r in initial} - set(ids)
    assert not missing, f"rows present from the start were skipped: {missing}"
    assert must_appear <= set(ids), "rows inserted ahead of the walk were skipped"
    assert set(ids) - {r["id"] for r in initial} <= set(inserted_ids)
    keys = [sort_key(r, field, descending) for r in rows]
    assert keys == sorted(keys), "walk is not in sort order"
    assert len(page_sizes) >= 5 and all(n == 7 for n in page_sizes[:-1])


async def test_latest_walk_and_cursor_scope(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    for source in ("coingecko", "coinpaprika"):
        await seed_run(engine, source, [_record(n, source) for n in range(12)])
    rows = await walk(
        api_client, "/api/v1/data", [("latest", "true"), ("sort", "-price_usd"), ("limit", 5)]
    )
    assert len(rows) == len({r["id"] for r in rows}) == 24
    first = await api_client.get(
        "/api/v1/data", params={"latest": "true", "limit": 5, "sort": "-price_usd"}
    )
    cursor = first.json()["meta"]["next_cursor"]
    # The cursor only works for the query it came from.
    for params in (
        {"latest": "false", "sort": "-price_usd"},
        {"latest": "true", "sort": "price_usd"},
        {"latest": "true", "sort": "-price_usd", "source": "csv"},
    ):
        resp = await api_client.get("/api/v1/data", params={**params, "cursor": cursor, "limit": 5})
        assert resp.status_code == 422
        assert "different query" in resp.json()["error"]["message"]
    # ...but the page size may change between pages.
    ok = await api_client.get(
        "/api/v1/data",
        params={"latest": "true", "sort": "-price_usd", "cursor": cursor, "limit": 50},
    )
    assert ok.status_code == 200 and ok.json()["meta"]["count"] == 19


async def test_tampered_cursor_is_rejected(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    await seed_run(engine, "coingecko", [_record(n, "coingecko") for n in range(5)])
    cursor = (await api_client.get("/api/v1/data", params={"limit": 2})).json()["meta"][
        "next_cursor"
    ]
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    resp = await api_client.get("/api/v1/data", params={"limit": 2, "cursor": flipped})
    assert resp.status_code == 422
    assert resp.json()["error"]["details"][0]["loc"] == "query.cursor"


async def test_symbol_order_ignores_case(
    engine: AsyncEngine, api_client: httpx.AsyncClient
) -> None:
    # "$BASED" sorted before "$aapl", "1WO" before "1inch": the order of the bytes.
    symbols = ["$BASED", "$aapl", "1WO", "1inch", "btc", "BTC", "Eth", "ada", "ZRX"]
    await seed_run(
        engine,
        "coingecko",
        [rec(f"coin-{i}", symbol=s, name=f"Coin {i}", price="1") for i, s in enumerate(symbols)],
    )
    for path, field in (("/api/v1/data", "symbol"), ("/api/v1/assets", "symbol")):
        for sort in ("symbol", "-symbol"):
            whole = await api_client.get(path, params={"sort": sort, "limit": 100})
            rows = whole.json()["data"]
            expected = sorted(rows, key=lambda r: (r[field].lower(), r["id"]))
            if sort.startswith("-"):
                expected.reverse()
            assert [r["id"] for r in rows] == [r["id"] for r in expected], (path, sort)
            assert [r[field].lower() for r in rows][:2] in (
                ["$aapl", "$based"],
                ["zrx", "eth"],
            )
            paged = await walk(api_client, path, {"sort": sort, "limit": 2})
            assert [r["id"] for r in paged] == [r["id"] for r in rows], (path, sort)
