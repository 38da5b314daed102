from __future__ import annotations

import string
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasparro.identity.keys import identity_key
from kasparro.models import MarketRecord, Rejection
from kasparro.normalize.coingecko import normalize_market
from kasparro.normalize.coinpaprika import normalize_ticker
from kasparro.normalize.common import PRICE_BOUND, loads_exact
from kasparro.normalize.csv_rows import CSV_COLUMNS, normalize_csv_row
from tests.normalize._samples import CG_MARKETS_BTC_2021, CP_TICKER_BTC, sample_bytes

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

prices = st.decimals(min_value=0, max_value=PRICE_BOUND, places=18, allow_nan=False)


def render(value: Decimal) -> str:
    """JSON number text for a Decimal (str() gives forms like 1E+2 that JSON allows)."""
    return str(value)


def assert_exact(got: Decimal | None, expected: Decimal) -> None:
    assert got == expected
    if expected:
        assert got is not None and got.as_tuple() == expected.as_tuple()


@FAST
@given(price=prices)
def test_coingecko_price_round_trips_exactly(price: Decimal) -> None:
    body = sample_bytes(CG_MARKETS_BTC_2021).decode()
    body = body.replace('"current_price":49053', f'"current_price":{render(price)}')
    (element,) = loads_exact(body)
    result = normalize_market(element)
    assert isinstance(result, MarketRecord), result
    assert_exact(result.price_usd, price)


@FAST
@given(price=prices, supply=st.decimals(min_value=0, max_value=Decimal("1e30"), places=10))
def test_coinpaprika_values_round_trip_exactly(price: Decimal, supply: Decimal) -> None:
    body = sample_bytes(CP_TICKER_BTC).decode()
    body = body.replace('"price":41389.57931641128', f'"price":{render(price)}')
    body = body.replace('"total_supply":19016031', f'"total_supply":{render(supply)}')
    result = normalize_ticker(loads_exact(body))
    assert isinstance(result, MarketRecord), result
    assert_exact(result.price_usd, price)
    assert_exact(result.total_supply, supply)


@FAST
@given(price=prices, scientific=st.booleans())
def test_csv_price_round_trips_exactly(price: Decimal, scientific: bool) -> None:
    text = f"{price:e}" if scientific else f"{price:f}"
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(id="x", symbol="X", name="X", last_updated="2024-05-01T00:00:00Z", price_usd=text)
    result = normalize_csv_row(row)
    assert isinstance(result, MarketRecord), result
    assert result.price_usd == price


# --- never raises -----------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()  # includes NaN, sNaN and infinities
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "2022-02-23T11:23:11.426Z", "NaN", "1e400", "USD"])
)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

CG_KEYS = [
    "id",
    "symbol",
    "name",
    "last_updated",
    "current_price",
    "market_cap",
    "total_volume",
    "price_change_percentage_24h",
    "market_cap_rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
]
CP_KEYS = [
    "id",
    "symbol",
    "name",
    "last_updated",
    "rank",
    "quotes",
    "circulating_supply",
    "total_supply",
    "max_supply",
]


def check_result(result: object, raw: Any) -> None:
    assert isinstance(result, MarketRecord | Rejection)
    if isinstance(result, Rejection):
        assert isinstance(result.reason, str) and result.reason
        assert result.raw is raw
        assert result.source_asset_id is None or isinstance(result.source_asset_id, str)
    else:
        assert result.price_usd is not None and 0 <= result.price_usd <= PRICE_BOUND
        assert result.observed_at.utcoffset() is not None


def mutated(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """The real element with some fields replaced by arbitrary JSON-like junk or removed."""
    replacement = st.dictionaries(st.sampled_from(keys), json_like | st.just(_DELETE), max_size=4)

    def apply(changes: dict[str, Any]) -> dict[str, Any]:
        raw = dict(base)
        for key, value in changes.items():
            if value is _DELETE:
                raw.pop(key, None)
            else:
                raw[key] = value
        return raw

    return replacement.map(apply)


_DELETE = object()


@FAST
@given(raw=json_like)
def test_normalizers_never_raise_on_arbitrary_input(raw: Any) -> None:
    check_result(normalize_market(raw), raw)
    check_result(normalize_ticker(raw), raw)


@FAST
@given(raw=mutated(loads_exact(sample_bytes(CG_MARKETS_BTC_2021))[0], CG_KEYS))
def test_coingecko_never_raises_on_damaged_elements(raw: dict[str, Any]) -> None:
    check_result(normalize_market(raw), raw)


@FAST
@given(
    raw=mutated(loads_exact(sample_bytes(CP_TICKER_BTC)), CP_KEYS),
    quote=st.dictionaries(
        st.sampled_from(["price", "market_cap", "volume_24h", "percent_change_24h"]),
        json_like,
        max_size=3,
    ),
)
def test_coinpaprika_never_raises_on_damaged_elements(
    raw: dict[str, Any], quote: dict[str, Any]
) -> None:
    if isinstance(raw.get("quotes"), dict) and isinstance(raw["quotes"].get("USD"), dict):
        raw["quotes"] = {"USD": {**raw["quotes"]["USD"], **quote}}
    check_result(normalize_ticker(raw), raw)


@FAST
@given(
    row=st.dictionaries(
        st.sampled_from(CSV_COLUMNS) | st.none() | st.text(max_size=5),
        st.none() | st.text(max_size=20) | st.lists(st.text(max_size=3), max_size=2),
        max_size=14,
    )
)
def test_csv_never_raises(row: dict[Any, Any]) -> None:
    check_result(normalize_csv_row(row), row)


def contains_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(contains_float(v) for v in value)
    if isinstance(value, dict):
        return any(contains_float(v) for v in value.values())
    return False


@FAST
@given(body=st.text(alphabet='{}[]",:0123456789.eE+-NaInfity tru', max_size=40))
def test_loads_exact_only_raises_value_error(body: str) -> None:
    try:
        parsed = loads_exact(body)
    except ValueError:
        return
    assert not contains_float(parsed)


def test_loads_exact_turns_absurd_nesting_into_value_error() -> None:
    with pytest.raises(ValueError, match="nested"):
        loads_exact("[" * 100_000 + "]" * 100_000)


# --- identity ---------------------------------------------------------------------------

ascii_symbols = st.text(alphabet=string.ascii_letters + string.digits + "$.- ", max_size=12)


@FAST
@given(symbol=st.text(max_size=20), name=st.text(max_size=40))
def test_identity_key_is_total_deterministic_and_bounded(symbol: str, name: str) -> None:
    key = identity_key(symbol, name)
    assert key == identity_key(symbol, name)
    sym_part, _, slug = key.rpartition(":")
    assert sym_part and slug
    assert ":" not in slug
    assert len(key) <= 300


@FAST
@given(symbol=ascii_symbols, name=st.text(max_size=40))
def test_identity_key_ignores_symbol_case(symbol: str, name: str) -> None:
    assert identity_key(symbol.upper(), name) == identity_key(symbol.lower(), name)
    assert identity_key(f"  {symbol} ", name) == identity_key(symbol, name)


@FAST
@given(
    symbol=ascii_symbols,
    name=st.text(alphabet=string.ascii_letters + string.digits + " .-_$()", max_size=40).filter(
        lambda n: any(c.isalnum() for c in n)
    ),
)
def test_identity_key_is_a_fixed_point_for_ascii_names(symbol: str, name: str) -> None:
    key = identity_key(symbol, name)
    sym_part, _, slug = key.rpartition(":")
    assert identity_key(sym_part, slug) == key


@FAST
@given(name=st.text(max_size=40))
def test_name_case_and_spacing_do_not_matter(name: str) -> None:
    ascii_name = name.encode("ascii", "ignore").decode()
    assert identity_key("x", ascii_name.upper()) == identity_key("x", ascii_name.lower())
    assert identity_key("x", f" {ascii_name}  ") == identity_key("x", ascii_name)
