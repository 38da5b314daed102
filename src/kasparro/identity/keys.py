"""Cross-source identity keys for coins (pure; no store access).

Two records describe the same asset when they resolve to the same key:

1. **Override** - ``(source, source_asset_id)`` is in :data:`OVERRIDES`, a small curated table
   of top native coins whose names differ between CoinGecko and CoinPaprika (CoinGecko
   ``binancecoin`` is "BNB", CoinPaprika ``bnb-binance-coin`` is "Binance Coin"). Native
   coins have no contract address to join on, so this table is the only reliable link.
2. **Symbol + name** - ``identity_key(symbol, name)``: ``"<symbol>:<name-slug>"``. Never the
   symbol alone (``uni`` is Uniswap, Unicorn Token, Universe Token...).

A source without curated ids (the CSV files) whose symbol+name key is the well-known key of a
curated coin (``btc:bitcoin``) resolves to the curated key, so a CSV "Bitcoin" lands on the
same asset as the overridden CoinGecko and CoinPaprika records. Curated sources do not get
this alias: there, a "BTC"/"Bitcoin" that is *not* the curated id is some other token.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Final, NamedTuple

from kasparro.models import MarketRecord

__all__ = [
    "CURATED",
    "CURATED_ALIASES",
    "OVERRIDES",
    "CuratedCoin",
    "identity_key",
    "override_for",
    "resolve_key",
]

_NON_ALNUM_ASCII: Final = re.compile(r"[^a-z0-9]+")
_NON_ALNUM_UNICODE: Final = re.compile(r"[\W_]+")
# Keys live in a 300-character column; cap each half well below that.
_MAX_SYMBOL_PART: Final = 64
_MAX_SLUG: Final = 200
_EMPTY_SYMBOL: Final = "?"
_EMPTY_NAME: Final = "_"


def identity_key(symbol: str, name: str) -> str:
    """``"<symbol>:<name-slug>"``; deterministic, never empty, case-insensitive.

    The symbol part is case-folded with whitespace runs collapsed (``$`` and other marks are
    kept: ``$aapl`` is not ``aapl``). The slug is the name folded to ASCII (NFKD), lower-case,
    runs of other characters turned into ``-``. Names with no ASCII letters or digits keep
    their Unicode letters (``比特币``); names with none at all (``$$$``) become ``_`` plus a
    short hash, and an empty name becomes ``_``. A slug never contains ``:``, so the key is
    unambiguous even when a symbol does.
    """
    return f"{_symbol_part(symbol)}:{_name_slug(name)}"


def _symbol_part(symbol: str) -> str:
    folded = " ".join(unicodedata.normalize("NFKC", symbol).casefold().split())
    return _cap(folded, _MAX_SYMBOL_PART) if folded else _EMPTY_SYMBOL


def _name_slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NON_ALNUM_ASCII.sub("-", ascii_name.lower()).strip("-")
    if not slug:
        folded = unicodedata.normalize("NFKC", name).casefold()
        slug = _NON_ALNUM_UNICODE.sub("-", folded).strip("-")
    if not slug:
        stripped = name.strip()
        if not stripped:
            return _EMPTY_NAME
        # "_" cannot appear in the other two forms, so this never collides with them.
        return _EMPTY_NAME + _digest(stripped)
    return _cap(slug, _MAX_SLUG)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # A plain cut would merge two long names sharing a prefix; the hash keeps them apart.
    return f"{text[: limit - 13]}-{_digest(text)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# --- curated overrides ------------------------------------------------------------------


class CuratedCoin(NamedTuple):
    """One curated native coin: its ids per source and the (symbol, name) pairs seen for it."""

    key: str
    coingecko: str
    coinpaprika: str
    aliases: tuple[tuple[str, str], ...]


# Top native (non-contract) coins only, with ids checked against real payloads where we have
# them (CoinGecko 2022-02-23 markets page, CoinPaprika btc-bitcoin/eth-ethereum) and
# CoinPaprika's "<symbol>-<name-slug>" convention otherwise. Aliases list the symbol+name
# pairs each upstream has used, including renames (CoinGecko's BNB was "Binance Coin" in 2021).
CURATED: Final[tuple[CuratedCoin, ...]] = (
    CuratedCoin("curated:bitcoin", "bitcoin", "btc-bitcoin", (("BTC", "Bitcoin"),)),
    CuratedCoin("curated:ethereum", "ethereum", "eth-ethereum", (("ETH", "Ethereum"),)),
    CuratedCoin(
        "curated:binance-coin",
        "binancecoin",
        "bnb-binance-coin",
        (("BNB", "BNB"), ("BNB", "Binance Coin")),
    ),
    CuratedCoin("curated:xrp", "ripple", "xrp-xrp", (("XRP", "XRP"),)),
    CuratedCoin("curated:cardano", "cardano", "ada-cardano", (("ADA", "Cardano"),)),
    CuratedCoin("curated:solana", "solana", "sol-solana", (("SOL", "Solana"),)),
    CuratedCoin("curated:dogecoin", "dogecoin", "doge-dogecoin", (("DOGE", "Dogecoin"),)),
    CuratedCoin("curated:polkadot", "polkadot", "dot-polkadot", (("DOT", "Polkadot"),)),
    CuratedCoin("curated:avalanche", "avalanche-2", "avax-avalanche", (("AVAX", "Avalanche"),)),
    CuratedCoin("curated:tron", "tron", "trx-tron", (("TRX", "TRON"),)),
    CuratedCoin("curated:litecoin", "litecoin", "ltc-litecoin", (("LTC", "Litecoin"),)),
    CuratedCoin(
        "curated:bitcoin-cash", "bitcoin-cash", "bch-bitcoin-cash", (("BCH", "Bitcoin Cash"),)
    ),
    CuratedCoin(
        "curated:cosmos", "cosmos", "atom-cosmos", (("ATOM", "Cosmos"), ("ATOM", "Cosmos Hub"))
    ),
    CuratedCoin("curated:stellar", "stellar", "xlm-stellar", (("XLM", "Stellar"),)),
    CuratedCoin("curated:monero", "monero", "xmr-monero", (("XMR", "Monero"),)),
    CuratedCoin(
        "curated:ethereum-classic",
        "ethereum-classic",
        "etc-ethereum-classic",
        (("ETC", "Ethereum Classic"),),
    ),
    CuratedCoin(
        "curated:near-protocol",
        "near",
        "near-near-protocol",
        (("NEAR", "Near"), ("NEAR", "NEAR Protocol")),
    ),
    CuratedCoin("curated:algorand", "algorand", "algo-algorand", (("ALGO", "Algorand"),)),
    CuratedCoin("curated:tezos", "tezos", "xtz-tezos", (("XTZ", "Tezos"),)),
    CuratedCoin("curated:eos", "eos", "eos-eos", (("EOS", "EOS"),)),
    CuratedCoin(
        "curated:hedera",
        "hedera-hashgraph",
        "hbar-hedera-hashgraph",
        (("HBAR", "Hedera"), ("HBAR", "Hedera Hashgraph")),
    ),
    CuratedCoin(
        "curated:internet-computer",
        "internet-computer",
        "icp-internet-computer",
        (("ICP", "Internet Computer"),),
    ),
    CuratedCoin("curated:iota", "iota", "miota-iota", (("MIOTA", "IOTA"), ("IOTA", "IOTA"))),
    CuratedCoin(
        "curated:cronos",
        "crypto-com-chain",
        "cro-cryptocom-chain",
        (("CRO", "Cronos"), ("CRO", "Crypto.com Chain"), ("CRO", "Crypto.com Coin")),
    ),
)

OVERRIDES: Final[dict[tuple[str, str], str]] = {
    pair: coin.key
    for coin in CURATED
    for pair in (("coingecko", coin.coingecko), ("coinpaprika", coin.coinpaprika))
}

# Derived symbol+name key -> curated key, for sources that have no curated ids.
CURATED_ALIASES: Final[dict[str, str]] = {
    identity_key(symbol, name): coin.key for coin in CURATED for symbol, name in coin.aliases
}

_CURATED_SOURCES: Final = frozenset(source for source, _ in OVERRIDES)


def override_for(source: str, source_asset_id: str) -> str | None:
    """The curated key pinned to this source id, if any (what normalizers put in the hint)."""
    return OVERRIDES.get((source, source_asset_id))


def resolve_key(record: MarketRecord) -> tuple[str, str]:
    """``(identity_key, method)`` for a record; method is ``"override"`` or ``"symbol_name"``."""
    pinned = record.identity_hint or OVERRIDES.get((record.source, record.source_asset_id))
    if pinned:
        return pinned, "override"
    if record.name is None:  # a symbol alone never names a coin
        return f"{record.source}:{record.source_asset_id}", "new"
    key = identity_key(record.symbol, record.name)
    if record.source not in _CURATED_SOURCES:
        key = CURATED_ALIASES.get(key, key)
    return key, "symbol_name"
