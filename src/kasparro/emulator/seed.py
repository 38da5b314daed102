"""Access to the recorded upstream payloads shipped in ``emulator/seed/``."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from kasparro.emulator.numbers import parse_num

CG_MARKETS = "coingecko_coins_markets_usd_2022-02-23.json"
CG_COINS_LIST = "coingecko_coins_list_2021-05-15.json"
CP_BTC_TICKER = "coinpaprika_ticker_btc-bitcoin_2022-04-19.json"
CP_GLOBAL = "coinpaprika_global_2023-04-14.json"


def seed_bytes(name: str) -> bytes:
    return resources.files("kasparro.emulator").joinpath("seed", name).read_bytes()


@cache
def seed_json(name: str) -> Any:
    """Plain ``json`` view of a seed file (floats as float): for identities and key sets."""
    return json.loads(seed_bytes(name))


@cache
def seed_numbers(name: str) -> Any:
    """A seed file with every number kept as an exact ``Num`` parsed from its original text."""
    return json.loads(seed_bytes(name), parse_float=parse_num, parse_int=parse_num)
