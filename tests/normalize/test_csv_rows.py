from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from kasparro.identity.keys import resolve_key
from kasparro.models import MarketRecord, Rejection
from kasparro.normalize.csv_rows import (
    CSV_COLUMNS,
    header_problems,
    normalize_csv_row,
    sample_csv_path,
)

HEADER = ",".join(CSV_COLUMNS)
BTC_ROW = (
    "bitcoin,BTC,Bitcoin,2024-05-01T00:00:00Z,60612.34,1193599413599,31250448211,-4.12,1,"
    "19692350,21000000,21000000"
)


def rows_of(text: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(io.StringIO(text)))


def one_row(**overrides: str | None) -> dict[str, Any]:
    (row,) = rows_of(f"{HEADER}\n{BTC_ROW}\n")
    row.update(overrides)
    return row


def record(row: Any, **kwargs: Any) -> MarketRecord:
    result = normalize_csv_row(row, **kwargs)
    assert isinstance(result, MarketRecord), result
    return result


def rejection(row: Any) -> Rejection:
    result = normalize_csv_row(row)
    assert isinstance(result, Rejection), result
    return result


# --- the shipped sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> tuple[list[str], list[MarketRecord | Rejection]]:
    reader = csv.DictReader(io.StringIO(sample_csv_path().read_text(encoding="utf-8")))
    results = [normalize_csv_row(row) for row in reader]
    return list(reader.fieldnames or []), results


def test_sample_header_is_the_documented_format(sample: Any) -> None:
    fieldnames, _ = sample
    assert tuple(fieldnames) == CSV_COLUMNS
    assert header_problems(fieldnames) == []


def test_sample_quarantines_exactly_the_deliberately_bad_rows(sample: Any) -> None:
    _, results = sample
    assert 40 <= len(results) <= 60
    rejected = {(r.source_asset_id, r.reason) for r in results if isinstance(r, Rejection)}
    assert rejected == {
        ("dogwifcoin", "price_usd: not a decimal number"),
        ("kaspa", "missing required field: last_updated"),
        ("celestia", "price_usd: not finite"),
        ("floki", "price_usd: negative"),
    }


def test_sample_records(sample: Any) -> None:
    _, results = sample
    records = [r for r in results if isinstance(r, MarketRecord)]
    assert all(r.source == "csv" and r.observed_at.tzinfo is UTC for r in records)
    by_id: dict[str, list[MarketRecord]] = {}
    for r in records:
        by_id.setdefault(r.source_asset_id, []).append(r)

    # Same id at two timestamps (one of them written with a +02:00 offset).
    assert {r.observed_at for r in by_id["tether"]} == {
        datetime(2024, 5, 1, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 12, tzinfo=UTC),
    }
    assert len(by_id["bitcoin"]) == 2
    assert sum(1 for rs in by_id.values() if len(rs) == 2) >= 5

    assert by_id["shibadoge"][0].price_usd == Decimal("1e-10")
    assert by_id["baby-doge-coin"][0].max_supply == 420_000_000_000_000_000
    assert by_id["ethereum"][0].max_supply is None
    assert by_id["aapl"][0].market_cap_rank is None

    keys = {rid: resolve_key(rs[0])[0] for rid, rs in by_id.items()}
    assert keys["uniswap"] == "uni:uniswap"
    assert keys["unicorn-token"] == "uni:unicorn-token"
    assert keys["bitcoin"] == "curated:bitcoin"
    assert keys["binancecoin"] == "curated:binance-coin"
    assert keys["aapl"] == "$aapl:aapl"
    assert Counter(keys.values()).most_common(1)[0][1] == 1  # no two ids share a key


# --- format rules ------------------------------------------------------------------------


def test_a_good_row() -> None:
    btc = record(one_row())
    assert btc.source_asset_id == "bitcoin"
    assert btc.price_usd == Decimal("60612.34")
    assert btc.change_24h_pct == Decimal("-4.12")
    assert btc.market_cap_rank == 1
    assert btc.identity_hint is None


def test_scientific_notation_and_empty_cells() -> None:
    row = one_row(price_usd="3.447e-9", max_supply="4.2E+17", total_supply="", market_cap_rank="")
    result = record(row)
    assert result.price_usd == Decimal("3.447E-9")
    assert result.max_supply == 420_000_000_000_000_000
    assert result.total_supply is None
    assert result.market_cap_rank is None


def test_integral_rank_text_and_price_zero() -> None:
    assert record(one_row(market_cap_rank="5.0")).market_cap_rank == 5
    assert record(one_row(price_usd="0")).price_usd == 0


def test_source_name_selects_overrides() -> None:
    result = record(one_row(), source="coingecko")
    assert result.source == "coingecko"
    assert result.identity_hint == "curated:bitcoin"


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"price_usd": "abc"}, "price_usd: not a decimal number"),
        ({"price_usd": "1,000"}, "price_usd: not a decimal number"),
        ({"price_usd": "$1"}, "price_usd: not a decimal number"),
        ({"price_usd": "NaN"}, "price_usd: not finite"),
        ({"price_usd": "-inf"}, "price_usd: not finite"),
        ({"price_usd": ""}, "missing required field: price_usd"),
        ({"price_usd": "-1"}, "price_usd: negative"),
        ({"price_usd": "2e9"}, "price_usd: exceeds bound 1e9"),
        ({"market_cap_usd": "1e17"}, "market_cap_usd: exceeds bound 1e16"),
        ({"volume_24h_usd": "-3"}, "volume_24h_usd: negative"),
        ({"change_24h_pct": "Infinity"}, "change_24h_pct: not finite"),
        ({"market_cap_rank": "1.5"}, "market_cap_rank: not an integer"),
        ({"market_cap_rank": "0"}, "market_cap_rank: not positive"),
        ({"market_cap_rank": "first"}, "market_cap_rank: not a decimal number"),
        ({"circulating_supply": "1e31"}, "circulating_supply: exceeds bound 1e30"),
        ({"id": ""}, "missing required field: id"),
        ({"id": "   "}, "missing required field: id"),
        ({"symbol": ""}, "missing required field: symbol"),
        ({"name": " "}, "missing required field: name"),
        ({"last_updated": ""}, "missing required field: last_updated"),
        (
            {"last_updated": "2024-05-01 00:00"},
            "last_updated: not an ISO-8601 timestamp with timezone",
        ),
        (
            {"last_updated": "2024-05-01T00:00:00"},
            "last_updated: not an ISO-8601 timestamp with timezone",
        ),
        ({"last_updated": "2024-13-01T00:00:00Z"}, "last_updated: invalid date or time"),
    ],
)
def test_rejection_rules(cells: dict[str, str], reason: str) -> None:
    row = one_row(**cells)
    result = rejection(row)
    assert result.reason == reason
    assert result.raw is row


def test_ids_are_verbatim() -> None:
    assert record(one_row(id=" bitcoin")).source_asset_id == " bitcoin"


def test_unquoted_comma_shifts_columns_and_is_rejected() -> None:
    (row,) = rows_of(f"{HEADER}\n{BTC_ROW.replace('60612.34', '60,612.34')}\n")
    assert rejection(row).reason == "row has more cells than the header"


def test_short_row_is_missing_fields() -> None:
    (row,) = rows_of(f"{HEADER}\nbitcoin,BTC,Bitcoin\n")
    assert rejection(row).reason == "missing required field: last_updated"


def test_quoted_cells_are_parsed() -> None:
    (row,) = rows_of(
        f'{HEADER}\n"weird,id","BTC","Bit ""coin""",2024-05-01T00:00:00Z,"1.5",,,,,,,\n'
    )
    result = record(row)
    assert result.source_asset_id == "weird,id"
    assert result.name == 'Bit "coin"'


def test_non_text_cells_and_non_mappings() -> None:
    assert rejection(one_row(price_usd=5)).reason == "price_usd: expected text, got int"  # type: ignore[arg-type]
    assert rejection(["bitcoin"]).reason == "expected a row mapping, got list"


def test_header_problems() -> None:
    assert header_problems(None) == ["empty file: no header row"]
    assert header_problems(["id", "symbol", "name", "price_usd", "price_usd"]) == [
        "missing column: last_updated",
        "duplicate column: price_usd",
    ]
    assert header_problems([*CSV_COLUMNS, "notes"]) == []
    assert header_problems(["id", " symbol", "name", "last_updated", "price_usd"]) == [
        "column name has surrounding whitespace: symbol"
    ]
