"""Blockchains as each source names them, mapped to one canonical chain (pure data).

A token is the same token on two sources when they list the same address on the same chain.
Sources name chains differently (CoinGecko ``binance-smart-chain``, CoinPaprika
``bnb-binance-coin``), so addresses are compared per *canonical* chain. A platform missing
from this table is an unknown chain: its contracts are stored and counted but never used to
link coins. A row maps a canonical chain to each source's platform id, so a further source is
one more key per row.

**Which chains.** The rows cover every platform with at least 20 contract listings in a real
CoinGecko ``/coins/list?include_platform=true`` body (October 2023, 10,244 coins, 12,438
listings on 134 platforms; ``tests/fixtures/upstream/coingecko/
coins-list-include-platform__2023-10.json``), plus smaller chains CoinPaprika is known to
list: 97 % of its listings (the twelve rows before covered 83 %).
``tests/identity/test_chains.py`` fails when that list has a platform with 20 or more
listings and no row. CoinGecko ids are that list's ``platforms``
keys and its ``/asset_platforms`` ids (recorded beside it).

**CoinPaprika ids** (``/v1/contracts`` platform ids) are grounded per row (``basis``):

- ``checked``: the id is in CoinPaprika's own documentation or a recorded request
  (``eth-ethereum``, ``trx-tron``: OpenAPI spec and a recorded ``/v1/contracts/eth-ethereum``
  request), or in Dune's ``spellbook`` ``scripts/token_checker.py``, which checks token
  listings against the live ``/v1/contracts/{platform}`` in CI (ethereum, bnb, polygon,
  solana, avalanche, arbitrum, gnosis, optimism, fantom, celo, base, zksync, mantle, blast,
  ronin, cardano, tron);
- ``convention``: CoinPaprika names a platform after the id of the chain's native coin
  (``eth-ethereum``, ``trx-tron``, ``bnb-binance-coin``); the id is that coin's id in a recorded
  CoinPaprika list (2020 ``/v1/coins`` or 2024 ``/v1/tickers``);
- ``none``: no CoinPaprika platform id is known; the chain links only sources that name it.

A wrong CoinPaprika id cannot merge coins: nothing is listed under it, so its contracts never
meet. Two chains mapped to one canonical chain could, so every canonical name is its own row.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, NamedTuple

__all__ = [
    "CHAINS",
    "Chain",
    "canonical_chain",
    "normalize_address",
    "platform_of",
    "platforms",
]

CG: Final = "coingecko"
CP: Final = "coinpaprika"


class Chain(NamedTuple):
    name: str  # canonical
    platforms: Mapping[str, str]  # source -> that source's platform id
    basis: str  # how the CoinPaprika id is known: checked | convention | none


def _chain(name: str, coingecko: str, coinpaprika: str | None, basis: str) -> Chain:
    ids = {CG: coingecko} if coinpaprika is None else {CG: coingecko, CP: coinpaprika}
    return Chain(name, MappingProxyType(ids), basis)


CHAINS: Final[tuple[Chain, ...]] = (
    # The first twelve names are the ones stored before this table grew: keep them.
    _chain("ethereum", "ethereum", "eth-ethereum", "checked"),
    _chain("bsc", "binance-smart-chain", "bnb-binance-coin", "checked"),
    _chain("polygon", "polygon-pos", "matic-polygon", "checked"),
    _chain("solana", "solana", "sol-solana", "checked"),
    _chain("arbitrum", "arbitrum-one", "arb-arbitrum", "checked"),
    _chain("optimism", "optimistic-ethereum", "op-optimism", "checked"),
    _chain("avalanche", "avalanche", "avax-avalanche", "checked"),
    _chain("base", "base", "base-base", "checked"),
    _chain("tron", "tron", "trx-tron", "checked"),
    _chain("fantom", "fantom", "ftm-fantom", "checked"),
    _chain("cronos", "cronos", "cro-cryptocom-chain", "convention"),
    _chain("stellar", "stellar", "xlm-stellar", "convention"),
    _chain("gnosis", "xdai", "gno-gnosis", "checked"),
    _chain("zksync", "zksync", "zksync-zksync", "checked"),
    _chain("celo", "celo", "celo-celo", "checked"),
    _chain("cardano", "cardano", "ada-cardano", "checked"),
    _chain("mantle", "mantle", "mnt-mantle", "checked"),
    _chain("energi", "energi", "nrg-energi", "convention"),
    _chain("harmony", "harmony-shard-0", "one-harmony", "convention"),
    _chain("klaytn", "klay-token", "klay-klaytn", "convention"),
    _chain("chiliz", "chiliz", "chz-chiliz", "convention"),
    _chain("heco", "huobi-token", "ht-huobi-token", "convention"),
    _chain("near", "near-protocol", "near-near-protocol", "convention"),
    _chain("sora", "sora", "xor-sora", "convention"),
    _chain("pulsechain", "pulsechain", "pls-pulsechain", "convention"),
    _chain("moonbeam", "moonbeam", "glmr-moonbeam", "convention"),
    _chain("moonriver", "moonriver", "movr-moonriver", "convention"),
    _chain("aurora", "aurora", "aurora-aurora", "convention"),
    _chain("osmosis", "osmosis", "osmo-osmosis", "convention"),
    _chain("tezos", "tezos", "xtz-tezos", "convention"),
    _chain("algorand", "algorand", "algo-algorand", "convention"),
    _chain("cosmos", "cosmos", "atom-cosmos", "convention"),
    _chain("metis", "metis-andromeda", "metis-metis-token", "convention"),
    _chain("aptos", "aptos", "apt-aptos", "convention"),
    _chain("multiversx", "elrond", "egld-elrond", "convention"),
    _chain("terra-classic", "terra", "luna-terra", "convention"),
    _chain("evmos", "evmos", "evmos-evmos", "convention"),
    _chain("astar", "astar", "astr-astar", "convention"),
    _chain("sui", "sui", "sui-sui", "convention"),
    _chain("kava", "kava", "kava-kava", "convention"),
    _chain("iotex", "iotex", "iotx-iotex", "convention"),
    _chain("hedera", "hedera-hashgraph", "hbar-hedera-hashgraph", "convention"),
    _chain("canto", "canto", "canto-canto", "convention"),
    _chain("zilliqa", "zilliqa", "zil-zilliqa", "convention"),
    _chain("xrp-ledger", "xrp", "xrp-xrp", "convention"),
    _chain("ton", "the-open-network", "toncoin-the-open-network", "convention"),
    _chain("kardiachain", "kardiachain", "kai-kardiachain", "convention"),
    _chain("velas", "velas", "vlx-velas", "convention"),
    _chain("core", "core", "core-core-dao", "convention"),
    _chain("kcc", "kucoin-community-chain", "kcs-kucoin-token", "convention"),
    _chain("telos", "telos", "tlos-telos", "convention"),
    _chain("viction", "tomochain", "tomo-tomochain", "convention"),
    _chain("conflux", "conflux", "cfx-conflux-network", "convention"),
    _chain("xdc", "xdc-network", "xdc-xdc-network", "convention"),
    _chain("wanchain", "wanchain", "wan-wanchain", "convention"),
    _chain("syscoin", "syscoin", "sys-syscoin", "convention"),
    _chain("elastos", "elastos", "ela-elastos", "convention"),
    _chain("ronin", "ronin", "ron-ronin-token", "checked"),
    # Platforms with many CoinGecko listings whose CoinPaprika id nothing records.
    _chain("okx-chain", "okex-chain", None, "none"),
    _chain("ordinals", "ordinals", None, "none"),
    _chain("bitcichain", "Bitcichain", None, "none"),
    _chain("milkomeda-cardano", "milkomeda-cardano", None, "none"),
    _chain("polygon-zkevm", "polygon-zkevm", None, "none"),
    _chain("linea", "linea", None, "none"),
    _chain("dogechain", "dogechain", None, "none"),
)

_BY_PLATFORM: Final[dict[tuple[str, str], str]] = {
    (source, platform.strip().lower()): chain.name
    for chain in CHAINS
    for source, platform in chain.platforms.items()
}
_PLATFORMS: Final[dict[tuple[str, str], str]] = {
    (source, chain.name): platform
    for chain in CHAINS
    for source, platform in chain.platforms.items()
}


def canonical_chain(source: str, platform: str) -> str | None:
    """The canonical chain of ``source``'s platform id, or ``None`` for an unknown chain.
    Platform ids are compared without case or surrounding spaces (CoinGecko spells one
    ``Bitcichain``)."""
    return _BY_PLATFORM.get((source, platform.strip().lower()))


def platform_of(source: str, chain: str) -> str | None:
    """``source``'s platform id for a canonical chain."""
    return _PLATFORMS.get((source, chain))


def platforms(source: str) -> tuple[str, ...]:
    """Every platform id of ``source`` in the table, in table order (what to fetch)."""
    return tuple(c.platforms[source] for c in CHAINS if source in c.platforms)


def normalize_address(address: str) -> str:
    """The form addresses are compared in: trimmed and lower-cased.

    EVM addresses are hexadecimal, and the APIs mix plain lower case with EIP-55 mixed-case
    checksums. Base58 addresses (Solana, Tron) are case-sensitive, but two distinct real
    addresses that differ only in case are vanishingly rare; and if they ever occurred, both
    would be listed for different coins and caught as a contract listed for two coins."""
    return address.strip().lower()
