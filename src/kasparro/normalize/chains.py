"""Blockchains as each API names them, mapped to one canonical chain (pure data).

A token is the same token on both APIs when they list the same address on the same chain.
The APIs name chains differently (CoinGecko ``binance-smart-chain``, CoinPaprika
``bnb-binance-coin``), so contract addresses are compared per *canonical* chain. A platform
missing from this table is an unknown chain: its contracts are stored and counted but never
used to link coins (a wrong guess here would merge unrelated tokens).

Adding a chain is one row. Ids are the APIs' own: CoinGecko ``/asset_platforms`` ``id`` (the
keys of ``/coins/list?include_platform=true`` ``platforms``), CoinPaprika ``/v1/contracts``
(``<symbol>-<name>`` of the chain's native coin, as in ``eth-ethereum``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["CHAINS", "Chain", "canonical_chain", "normalize_address", "platform_of"]


class Chain(NamedTuple):
    name: str  # canonical
    coingecko: str
    coinpaprika: str


CHAINS: Final[tuple[Chain, ...]] = (
    Chain("ethereum", "ethereum", "eth-ethereum"),
    Chain("bsc", "binance-smart-chain", "bnb-binance-coin"),
    Chain("polygon", "polygon-pos", "matic-polygon"),
    Chain("solana", "solana", "sol-solana"),
    Chain("arbitrum", "arbitrum-one", "arb-arbitrum"),
    Chain("optimism", "optimistic-ethereum", "op-optimism"),
    Chain("avalanche", "avalanche", "avax-avalanche"),
    Chain("base", "base", "base-base"),
    Chain("tron", "tron", "trx-tron"),
    Chain("fantom", "fantom", "ftm-fantom"),
    Chain("cronos", "cronos", "cro-cryptocom-chain"),
    Chain("stellar", "stellar", "xlm-stellar"),
)

_BY_PLATFORM: Final[dict[tuple[str, str], str]] = {
    (api, getattr(chain, api)): chain.name
    for chain in CHAINS
    for api in ("coingecko", "coinpaprika")
}
_PLATFORMS: Final[dict[tuple[str, str], str]] = {
    (api, chain.name): getattr(chain, api)
    for chain in CHAINS
    for api in ("coingecko", "coinpaprika")
}


def canonical_chain(source: str, platform: str) -> str | None:
    """The canonical chain of ``source``'s platform id, or ``None`` for an unknown chain."""
    return _BY_PLATFORM.get((source, platform.strip().lower()))


def platform_of(source: str, chain: str) -> str | None:
    """``source``'s platform id for a canonical chain."""
    return _PLATFORMS.get((source, chain))


def normalize_address(address: str) -> str:
    """The form addresses are compared in: trimmed and lower-cased.

    EVM addresses are hexadecimal, and the APIs mix plain lower case with EIP-55 mixed-case
    checksums. Base58 addresses (Solana, Tron) are case-sensitive, but two distinct real
    addresses that differ only in case are vanishingly rare; and if they ever occurred, both
    would be listed for different coins and caught as a contract listed for two coins."""
    return address.strip().lower()
