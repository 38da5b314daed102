"""Number spelling: exact values, and each upstream's own JSON number style."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasparro.emulator.numbers import (
    canonical_float,
    format_coingecko,
    format_coinpaprika,
    parse_num,
    percent_change,
    round_sig,
    scale,
    to_decimal,
)
from kasparro.emulator.seed import CG_MARKETS, CP_BTC_TICKER, seed_bytes
from tests.emulator.util import NUMBER_TOKEN


def test_coingecko_spelling_reproduces_every_number_of_the_recorded_page() -> None:
    tokens = NUMBER_TOKEN.findall(seed_bytes(CG_MARKETS).decode())
    assert len(tokens) > 6000
    assert [t for t in tokens if format_coingecko(parse_num(t)) != t] == []
    # The quirky spellings are among them.
    assert {"3.447e-09", "4.2e+17", "1.0e+15", "38938", "0.00136138", "18966243.0"} <= set(tokens)


def test_coinpaprika_spelling_reproduces_the_recorded_ticker() -> None:
    tokens = NUMBER_TOKEN.findall(seed_bytes(CP_BTC_TICKER).decode())
    assert [t for t in tokens if format_coinpaprika(parse_num(t)) != t] == []
    assert "19016044" in tokens and "41389.57931641128" in tokens


@pytest.mark.parametrize(
    ("text", "coingecko", "coinpaprika"),
    [
        ("3.447e-09", "3.447e-09", "3.447e-9"),
        ("1e-10", "1.0e-10", "1e-10"),
        ("4.2e+17", "4.2e+17", "420000000000000000"),
        ("0.0001", "0.0001", "0.0001"),
        ("0.00009672", "9.672e-05", "0.00009672"),
        ("0.000001", "1.0e-06", "0.000001"),
        ("0.0000001", "1.0e-07", "1e-7"),
        ("21000000.0", "21000000.0", "21000000"),
        ("999990000000000.0", "999990000000000.0", "999990000000000"),
        ("1e21", "1.0e+21", "1e+21"),
        ("-0.15", "-0.15", "-0.15"),
        ("38938", "38938", "38938"),
        ("0.0", "0.0", "0"),
    ],
)
def test_spelling_thresholds(text: str, coingecko: str, coinpaprika: str) -> None:
    value = parse_num(text)
    assert format_coingecko(value) == coingecko
    assert format_coinpaprika(value) == coinpaprika


def test_integer_and_float_kinds_survive_parsing() -> None:
    assert parse_num("38938") == (38938, 0)
    assert format_coingecko(parse_num("1.0e+15")) == "1.0e+15"  # float kind although integral
    assert canonical_float((42, 16)) == (4200000000000000000, -1)


mantissas = st.integers(min_value=-(10**20), max_value=10**20)
exponents = st.integers(min_value=-30, max_value=30)


@given(mantissas, exponents)
def test_emitted_text_is_the_exact_value(mantissa: int, exponent: int) -> None:
    value = canonical_float((mantissa, exponent))
    for text in (format_coingecko(value), format_coinpaprika(value)):
        assert Decimal(text) == to_decimal(value)
        assert to_decimal(parse_num(text)) == to_decimal(value)
    # CoinGecko text keeps the float kind, so it re-spells identically.
    assert format_coingecko(parse_num(format_coingecko(value))) == format_coingecko(value)


@given(st.integers(min_value=0, max_value=10**12), exponents)
def test_integer_kind_prints_bare_digits(mantissa: int, exponent: int) -> None:
    value = (mantissa * 10 ** max(exponent, 0), 0)
    assert format_coingecko(value) == str(value[0])


def test_arithmetic_helpers_are_exact() -> None:
    assert scale((38938, 0), 101_234, 100_000) == (39418, 0)
    assert scale((-3447, -12), 98_000, 100_000) == (-3378, -12)
    assert round_sig((123456789, -5), 4) == (12350, -1)  # 1235.0, still float kind
    assert percent_change((110, 0), (100, 0), 2) == (1000, -2)
    assert percent_change((1, 0), (0, 0), 2) is None
