"""The chain table against a real CoinGecko list with platforms (2023) and its platforms."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from kasparro.identity import chains

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "coingecko"
LISTED = UPSTREAM / "coins-list-include-platform__2023-10.json"
PLATFORMS = UPSTREAM / "asset-platforms__2023-10.json"
# A platform with this many contract listings in a recorded list must have a row.
MANY = 20


def listings(path: Path = LISTED) -> Counter[str]:
    counts: Counter[str] = Counter()
    for coin in json.loads(path.read_text()):
        for platform, address in (coin.get("platforms") or {}).items():
            if platform and address:
                counts[platform] += 1
    return counts


def unmapped(
    counts: Counter[str], canonical: Callable[[str, str], str | None]
) -> list[tuple[str, int]]:
    return [(p, n) for p, n in counts.most_common() if n >= MANY and not canonical("coingecko", p)]


def test_every_platform_with_many_listings_in_a_recorded_list_has_a_row() -> None:
    counts = listings()
    assert sum(counts.values()) == 12438 and len(counts) == 134  # the recorded body
    assert unmapped(counts, chains.canonical_chain) == []
    covered = sum(n for p, n in counts.items() if chains.canonical_chain("coingecko", p))
    assert covered / sum(counts.values()) > 0.95


# CoinGecko platform ids of the twelve rows identity v2 knew (before issue 16).
OLD_TWELVE = frozenset(
    {
        "ethereum",
        "binance-smart-chain",
        "polygon-pos",
        "solana",
        "arbitrum-one",
        "optimistic-ethereum",
        "avalanche",
        "base",
        "tron",
        "fantom",
        "cronos",
        "stellar",
    }
)


def test_the_old_twelve_row_table_misses_most_of_them() -> None:
    """What this table fixes (issue 16: 12 of 125 platforms known)."""
    counts = listings()
    missing = unmapped(counts, lambda source, platform: "x" if platform in OLD_TWELVE else None)
    assert len(missing) > 30
    assert ("energi", 126) in missing and ("xdai", 74) in missing


def test_rows_are_real_platform_ids_and_never_shared() -> None:
    known = {p["id"] for p in json.loads(PLATFORMS.read_text()) if p["id"]} | set(listings())
    names = [c.name for c in chains.CHAINS]
    assert len(names) == len(set(names))
    for source in ("coingecko", "coinpaprika"):
        ids = [c.platforms[source] for c in chains.CHAINS if source in c.platforms]
        assert len(ids) == len(set(ids)), source  # one platform, one canonical chain
    for chain in chains.CHAINS:
        assert chain.platforms["coingecko"] in known, chain.name
        assert chain.basis in ("checked", "convention", "none")
        assert ("coinpaprika" in chain.platforms) == (chain.basis != "none"), chain.name


# The rows of identity v2's table: (canonical name, CoinGecko id, CoinPaprika id).
OLD_ROWS = (
    ("ethereum", "ethereum", "eth-ethereum"),
    ("bsc", "binance-smart-chain", "bnb-binance-coin"),
    ("polygon", "polygon-pos", "matic-polygon"),
    ("solana", "solana", "sol-solana"),
    ("arbitrum", "arbitrum-one", "arb-arbitrum"),
    ("optimism", "optimistic-ethereum", "op-optimism"),
    ("avalanche", "avalanche", "avax-avalanche"),
    ("base", "base", "base-base"),
    ("tron", "tron", "trx-tron"),
    ("fantom", "fantom", "ftm-fantom"),
    ("cronos", "cronos", "cro-cryptocom-chain"),
    ("stellar", "stellar", "xlm-stellar"),
)


def test_the_names_stored_before_keep_their_meaning() -> None:
    """Stored contracts carry canonical chain names: the old rows map exactly as before."""
    assert {row[1] for row in OLD_ROWS} == OLD_TWELVE
    for name, coingecko, coinpaprika in OLD_ROWS:
        for source, platform in (("coingecko", coingecko), ("coinpaprika", coinpaprika)):
            assert chains.canonical_chain(source, platform) == name
            assert chains.platform_of(source, name) == platform


@pytest.mark.parametrize(
    ("source", "platform", "chain"),
    [
        ("coingecko", "xdai", "gnosis"),
        ("coinpaprika", "gno-gnosis", "gnosis"),
        ("coingecko", "Bitcichain", "bitcichain"),
        ("coingecko", " HARMONY-SHARD-0 ", "harmony"),
        ("coinpaprika", "one-harmony", "harmony"),
        ("coingecko", "no-such-chain", None),
        ("kraken", "ethereum", None),  # a source with no platform ids in the table
    ],
)
def test_canonical_chain(source: str, platform: str, chain: str | None) -> None:
    assert chains.canonical_chain(source, platform) == chain


def test_platforms_and_addresses() -> None:
    assert chains.platforms("coinpaprika")[:2] == ("eth-ethereum", "bnb-binance-coin")
    assert "okex-chain" in chains.platforms("coingecko")
    assert "okex-chain" not in chains.platforms("coinpaprika")
    assert chains.platform_of("coinpaprika", "okx-chain") is None
    assert chains.normalize_address(" 0xAbC ") == "0xabc"
