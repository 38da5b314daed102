"""Local CSV market rows -> ``MarketRecord``.

Format (UTF-8, RFC 4180 quoting, one header row)::

    id,symbol,name,last_updated,price_usd,market_cap_usd,volume_24h_usd,change_24h_pct,
    market_cap_rank,circulating_supply,total_supply,max_supply

(one line in the file). Column order does not matter; extra columns are ignored; a row with
more cells than the header is rejected (an unquoted comma such as ``1,000`` shifts every
column after it).

- ``id`` (required): the file's own asset id, kept verbatim (not trimmed); must not be blank.
- ``symbol``, ``name`` (required): trimmed; original case kept.
- ``last_updated`` (required): ISO-8601 with ``Z`` or a numeric offset, e.g.
  ``2024-05-01T12:00:00Z``, ``2024-05-01T14:00:00+02:00``, ``2024-05-01T12:00:00.250Z``.
- ``price_usd`` (required) and every other number: plain decimal text, optionally signed, with
  optional scientific notation (``0.00002673``, ``3.447e-9``, ``4.2E+17``). Parsed exactly as
  Decimal, never through float. No thousands separators, currency signs, ``_`` or ``NaN``.
- An empty cell is null. ``market_cap_rank`` is a positive integer (``5.0`` is accepted).
- Rules and bounds are the same as for the API sources (see ``kasparro.normalize``).

The shipped sample, ``kasparro/data/sample_markets.csv`` (see :func:`sample_csv_path`), has
55 rows observed at 2024-05-01 00:00Z and 12:00Z (one 12:00Z row is written as
``14:00:00+02:00``, another with milliseconds):

- coins that also come from the APIs with the same symbol and name (bitcoin BTC "Bitcoin",
  ethereum ETH "Ethereum", tether, usd-coin, solana, cardano, dogecoin, ...), and natives such
  as BNB "BNB", XRP "XRP", ATOM "Cosmos Hub" that resolve to curated keys via the alias table;
- coins only in the CSV (dogwifcoin, bonk, celestia, kaspa, pyth-network, ``$aapl``, ...);
- seven ids at both timestamps; tiny prices (``1e-10``, ``3.1e-9``, ``7.31e-6``) and supplies
  in scientific notation (``4.2E+17``, ``3.9e+23``);
- a symbol collision: ``uniswap`` UNI "Uniswap" and ``unicorn-token`` UNI "UNICORN Token";
- empty optional cells (max_supply, market_cap_rank, market_cap_usd, circulating_supply);
- four deliberately bad rows that land in quarantine: dogwifcoin ``price_usd`` = ``abc``,
  kaspa with an empty ``last_updated``, celestia ``price_usd`` = ``NaN`` and floki with a
  negative price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Final

from kasparro.identity.keys import OVERRIDES
from kasparro.models import MarketRecord, Normalized, Rejection
from kasparro.normalize.common import (
    CHANGE_PCT_BOUND,
    MARKET_BOUND,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_SYMBOL_CHARS,
    PRICE_BOUND,
    SUPPLY_BOUND,
    InvalidValue,
    bounded,
    decimal_from_text,
    optional_text,
    parse_timestamp,
    rank_from_number,
    require_text,
    type_name,
)

__all__ = [
    "CSV_COLUMNS",
    "REQUIRED_COLUMNS",
    "SOURCE",
    "header_problems",
    "normalize_csv_row",
    "sample_csv_path",
]

SOURCE: Final = "csv"
CSV_COLUMNS: Final = (
    "id",
    "symbol",
    "name",
    "last_updated",
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "change_24h_pct",
    "market_cap_rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
)
REQUIRED_COLUMNS: Final = ("id", "symbol", "name", "last_updated", "price_usd")


def sample_csv_path() -> Traversable:
    """The sample file shipped with the package (resolves inside a wheel too)."""
    return files("kasparro") / "data" / "sample_markets.csv"


def header_problems(fieldnames: Iterable[str] | None) -> list[str]:
    """What is wrong with a header row (empty list when it is usable)."""
    if fieldnames is None:
        return ["empty file: no header row"]
    names = list(fieldnames)
    stripped = {name.strip() for name in names}
    problems = []
    for column in REQUIRED_COLUMNS:
        if column in names:
            continue
        # Rows are looked up by exact name, so " symbol" would make every row "missing".
        if column in stripped:
            problems.append(f"column name has surrounding whitespace: {column}")
        else:
            problems.append(f"missing column: {column}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    problems += [f"duplicate column: {name}" for name in duplicates]
    return problems


def normalize_csv_row(row: Mapping[Any, Any], *, source: str = SOURCE) -> Normalized:
    """Normalize one ``csv.DictReader`` row; never raises.

    ``DictReader`` fills missing trailing cells with ``None`` (treated as empty) and puts
    surplus cells under the key ``None`` (rejected).
    """
    if not isinstance(row, Mapping):
        return Rejection(f"expected a row mapping, got {type_name(row)}", row)
    try:
        return _record(row, source)
    except InvalidValue as exc:
        return Rejection(exc.reason, row, optional_text(row.get("id")))


def _record(row: Mapping[Any, Any], source: str) -> MarketRecord:
    if row.get(None):
        raise InvalidValue("row has more cells than the header")
    asset_id = require_text(_cell(row, "id"), "id", MAX_ID_CHARS, strip=False)
    return MarketRecord(
        source=source,
        source_asset_id=asset_id,
        symbol=require_text(_cell(row, "symbol"), "symbol", MAX_SYMBOL_CHARS, strip=True),
        name=require_text(_cell(row, "name"), "name", MAX_NAME_CHARS, strip=True),
        observed_at=parse_timestamp(_cell(row, "last_updated"), "last_updated"),
        price_usd=_required(_number(row, "price_usd", PRICE_BOUND), "price_usd"),
        market_cap_usd=_number(row, "market_cap_usd", MARKET_BOUND),
        volume_24h_usd=_number(row, "volume_24h_usd", MARKET_BOUND),
        change_24h_pct=_number(row, "change_24h_pct", CHANGE_PCT_BOUND, signed=True),
        market_cap_rank=rank_from_number(
            decimal_from_text(_text(row, "market_cap_rank"), "market_cap_rank")
        ),
        circulating_supply=_number(row, "circulating_supply", SUPPLY_BOUND),
        total_supply=_number(row, "total_supply", SUPPLY_BOUND),
        max_supply=_number(row, "max_supply", SUPPLY_BOUND),
        identity_hint=OVERRIDES.get((source, asset_id)),
    )


def _cell(row: Mapping[Any, Any], column: str) -> Any:
    """A cell with blank (or absent) mapped to ``None`` so required checks say "missing"."""
    value = row.get(column)
    if type(value) is str and not value.strip():
        return None
    return value


def _text(row: Mapping[Any, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None or type(value) is str:
        return value
    raise InvalidValue(f"{column}: expected text, got {type_name(value)}")


def _number(
    row: Mapping[Any, Any], column: str, bound: Decimal, *, signed: bool = False
) -> Decimal | None:
    value = decimal_from_text(_text(row, column), column)
    if value is None:
        return None
    return bounded(value, column, bound, signed=signed)


def _required(value: Decimal | None, column: str) -> Decimal:
    if value is None:
        raise InvalidValue(f"missing required field: {column}")
    return value
