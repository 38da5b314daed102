"""The recorded upstream payloads the suite uses, bundled in ``tests/fixtures/upstream/``.

They are public response bodies copied byte for byte with their provenance
(``tests/fixtures/upstream/PROVENANCE.md``): a clone of the repository has everything the suite
reads, and nothing here looks outside the repository.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from kasparro.normalize.common import loads_exact

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"

CG_MARKETS_250 = (
    "coingecko/coins-markets__vs-usd_per_page-250_page-1_"
    "pcp-1h-24h-7d-14d-30d-200d-1y__2022-02-23.json"
)
CG_MARKETS_BTC_2021 = "coingecko/coins-markets__vs-usd_ids-bitcoin__2021-05-15.json"
CG_MARKETS_DOCS = "coingecko/docs-examples/coins-markets.oas-example.json"
CG_COINS_LIST = "coingecko/coins-list__2021-05-15.json"
CP_TICKER_BTC = "coinpaprika/tickers-id__btc-bitcoin_quotes-USD__2022-04-19.json"


@cache
def _raw_bytes(relative: str) -> bytes:
    path = SAMPLES / relative
    if not path.is_file():
        # A missing recording must fail the suite: skipping would hide lost coverage.
        pytest.fail(f"upstream sample missing: {path} (see tests/fixtures/upstream/PROVENANCE.md)")
    return path.read_bytes()


def sample_bytes(relative: str) -> bytes:
    return _raw_bytes(relative)


def sample_json(relative: str) -> Any:
    """A fresh, exactly parsed copy (tests may mutate it)."""
    return copy.deepcopy(_parsed(relative))


@cache
def _parsed(relative: str) -> Any:
    return loads_exact(_raw_bytes(relative))


def cg_coin(coin_id: str) -> dict[str, Any]:
    """One element of the recorded 250-coin CoinGecko page, by id."""
    for element in sample_json(CG_MARKETS_250):
        if element["id"] == coin_id:
            return element
    pytest.fail(f"{coin_id!r} not in {CG_MARKETS_250}")
