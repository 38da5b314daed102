"""The README's DuckDB query, run as written against a lake the export wrote."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.lake.export import export
from tests.fixtures.api import T0, rec, seed_run

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_query() -> str:
    found = re.search(
        r"<!-- lake-query:start -->\n```sql\n(.*?)```\n<!-- lake-query:end -->",
        README.read_text(),
        re.S,
    )
    assert found, "README.md lost its lake query"
    return found.group(1)


async def test_the_readme_query_gives_exact_candles(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hour = timedelta(hours=1)
    prices = ["0.0000000001", "0.00000000015", "0.00000000005", "0.00000000012"]
    await seed_run(
        engine,
        "coingecko",
        [rec("tiny", symbol="TINY", at=T0 + i * hour, price=p) for i, p in enumerate(prices)],
    )
    await seed_run(
        engine, "coingecko", [rec("tiny", symbol="TINY", at=T0 + 5 * hour, price="1e-30")]
    )
    await seed_run(
        engine, "coinpaprika", [rec("tiny-x", source="coinpaprika", symbol="TINY", price="9")]
    )
    await export(engine, tmp_path / "lake")
    monkeypatch.chdir(tmp_path)  # the query reads 'lake/...'
    with duckdb.connect() as con:
        rows = con.sql(readme_query().rstrip().rstrip(";")).fetchall()
    (row,) = rows
    symbol, day, open_, high, low, close, points, in_overflow = row
    assert (symbol, str(day)) == ("TINY", "2024-05-01")
    assert (open_, high, low, close) == tuple(
        Decimal(p) for p in ("0.0000000001", "0.00000000015", "0.00000000005", "0.00000000012")
    )
    assert (points, in_overflow) == (4, 1)  # the 1e-30 price is counted, not lost silently
