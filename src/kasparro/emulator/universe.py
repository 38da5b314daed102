"""The deterministic coin universe shared by the emulated CoinGecko and CoinPaprika.

An *asset* is one real-world coin; each is listed on CoinGecko, CoinPaprika or both, under
each API's own id scheme (CoinGecko: its slug id such as ``bitcoin``; CoinPaprika:
``<symbol>-<name-slug>`` such as ``btc-bitcoin``). Assets are laid out in a fixed priority
order and the first ``coins`` of it form the universe, so a bigger universe is a superset of
a smaller one with the same seed:

1. ``SHOWCASE``: hand-made quirk carriers (symbol collisions, tiny prices, huge supplies,
   odd ids...), present in every universe of at least ``len(SHOWCASE)`` coins;
2. the 250 coins of the recorded CoinGecko page of 2022-02-23, served verbatim at tick 0;
3. the real CoinGecko ``/coins/list`` of 2021-05-15 (7,248 real ids/symbols/names, real
   symbol collisions), shuffled by the seed;
4. synthetic coins with generated names, as many as needed (100,000+ is fine).

Only identities, market caps and volumes are built eagerly; prices and the rest are built
lazily per asset (``market.py``) from hash streams keyed by the asset index.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from kasparro.emulator.gcpause import gc_paused
from kasparro.emulator.identity import Identity, identity, lookalike
from kasparro.emulator.numbers import Num, as_int
from kasparro.emulator.rng import Stream, draw_table
from kasparro.emulator.seed import CG_COINS_LIST, CG_MARKETS, seed_json, seed_numbers

Origin = Literal["showcase", "seed", "coins_list", "synthetic", "lookalike", "duplicate"]
Listing = Literal["both", "coingecko", "coinpaprika"]

# The universe's clock at tick 0: the Date header of the recorded CoinGecko page.
BASE_TIME = datetime(2022, 2, 23, 11, 31, 45, tzinfo=UTC)
BASE_TIME_MS = int(BASE_TIME.timestamp()) * 1000

# Salts keep the independent random streams apart.
SALT_SHUFFLE = 1
SALT_LISTING = 2
SALT_MARKET_CAP = 3
SALT_SYNTH = 4
SALT_CG = 5
SALT_CP = 6
SALT_TICK = 7
SALT_RENAME = 9  # 8 is emulator.identity's
SALT_DUPLICATE = 10
# 11-13: emulator.history; 20-29: emulator.truth.
SALT_LAG = 14

# Natives whose display names differ between the two APIs, so a symbol + name matcher
# cannot join them: the ETL's curated override table must. cg_id -> (cp_id, cp_name).
NAME_OVERRIDES: dict[str, tuple[str, str]] = {
    "binancecoin": ("bnb-binance-coin", "Binance Coin"),
    "crypto-com-chain": ("cro-cryptocom-chain", "Crypto.com Chain"),
    "theta-token": ("theta-theta-token", "Theta Token"),
}

# Recorded coins that are natives (their own chain, no contract): every other recorded coin
# is a token. Coins of the real /coins/list and synthetic coins are natives one time in five.
SEED_NATIVES = frozenset(
    [
        "bitcoin",
        "ethereum",
        "binancecoin",
        "ripple",
        "cardano",
        "solana",
        "terra-luna",
        "avalanche-2",
        "polkadot",
        "dogecoin",
        "litecoin",
        "cosmos",
        "tron",
        "near",
        "bitcoin-cash",
        "algorand",
        "stellar",
        "hedera-hashgraph",
        "fantom",
        "internet-computer",
        "ethereum-classic",
        "elrond-erd-2",
        "klay-token",
        "vechain",
        "filecoin",
        "theta-token",
        "monero",
        "tezos",
        "osmosis",
        "helium",
        "eos",
        "iota",
        "flow",
        "theta-fuel",
        "harmony",
        "bitcoin-cash-sv",
        "neo",
        "ecash",
        "arweave",
        "zcash",
        "blockstack",
        "kusama",
        "radix",
        "kadena",
        "thorchain",
        "celo",
        "dash",
        "waves",
        "nem",
        "secret",
        "mina-protocol",
        "decred",
        "qtum",
        "juno-network",
        "crypto-com-chain",
    ]
)

# Seeded coins deliberately left off CoinPaprika (the junk rank-1 token among them).
SEED_COINGECKO_ONLY = frozenset({"ticoex-token", "msol", "convex-crv", "huobi-btc", "tether-eurt"})

# Names that look like wrapped/pegged/leveraged instruments stay CoinGecko-only, as in reality.
_CG_ONLY_NAME = re.compile(
    r"binance-peg|\(bsc\)|wrapped|wormhole|synthetic|\blong\b|\bshort\b", re.I
)


@dataclass(frozen=True, slots=True)
class ShowcaseCoin:
    """A hand-placed asset carrying a specific quirk; ``values`` override generated CG fields
    with exact JSON number text (``None`` means JSON null)."""

    cg_id: str | None
    symbol: str
    name: str
    listing: Listing
    quirk: str
    values: dict[str, str | None] = field(default_factory=dict)
    stale: bool = False


SHOWCASE: tuple[ShowcaseCoin, ...] = (
    # uni x4 on CoinGecko (as in the real /coins/list), only two of them on CoinPaprika, plus a
    # CoinPaprika-only UNI: the same symbol must never be merged on its own.
    ShowcaseCoin(
        "binance-peg-uniswap", "uni", "Binance-Peg Uniswap", "coingecko", "symbol_collision"
    ),
    ShowcaseCoin("unicorn-token", "uni", "UNICORN Token", "both", "symbol_collision"),
    ShowcaseCoin("universe-token", "uni", "UNIVERSE Token", "coingecko", "symbol_collision"),
    ShowcaseCoin(None, "uni", "Unity Ledger", "coinpaprika", "symbol_collision"),
    ShowcaseCoin(
        "femto-dust",
        "fdust",
        "Femto Dust",
        "both",
        "tiny_price_huge_supply",
        values={
            "current_price": "1e-10",
            "circulating_supply": "4.2e+17",
            "total_supply": "4.2e+17",
            "max_supply": None,
        },
    ),
    ShowcaseCoin(
        "emulated-dollar",
        "edusd",
        "Emulated Dollar",
        "both",
        "bare_int_price",
        values={"current_price": "1"},
    ),
    ShowcaseCoin(
        "goldbar-unit",
        "gbu",
        "Goldbar Unit",
        "both",
        "bare_int_price",
        values={"current_price": "2150"},
    ),
    ShowcaseCoin(
        "overflow-coin",
        "ovf",
        "Overflow Coin",
        "both",
        "circulating_gt_total",
        values={"circulating_supply": "1000500.0", "total_supply": "1000000.0", "max_supply": None},
    ),
    ShowcaseCoin(
        "overmint",
        "omt",
        "Overmint",
        "both",
        "total_gt_max",
        values={
            "circulating_supply": "800000.0",
            "total_supply": "1200000.0",
            "max_supply": "1000000.0",
        },
    ),
    ShowcaseCoin(
        "nullius",
        "nul",
        "Nullius",
        "both",
        "nulls",
        values={
            "fully_diluted_valuation": None,
            "total_supply": None,
            "max_supply": None,
            "high_24h": None,
            "low_24h": None,
            "roi": None,
            "price_change_percentage_7d_in_currency": None,
            "price_change_percentage_14d_in_currency": None,
            "price_change_percentage_30d_in_currency": None,
            "price_change_percentage_200d_in_currency": None,
            "price_change_percentage_1y_in_currency": None,
        },
    ),
    ShowcaseCoin("fossil-coin", "fsl", "Fossil Coin", "both", "stale", stale=True),
    ShowcaseCoin(None, "prk", "Paprika Reserve", "coinpaprika", "coinpaprika_only"),
    ShowcaseCoin("gecko-lantern", "glt", "Gecko Lantern", "coingecko", "coingecko_only"),
    # Real /coins/list oddities: upper-case and underscore ids, non-alphanumeric and
    # upper-case symbols, non-ASCII and apostrophe names.
    ShowcaseCoin("bitCNY", "bitcny", "bitCNY", "both", "odd_id"),
    ShowcaseCoin("hive_dollar", "HBD", "Hive Dollar", "both", "odd_id"),
    ShowcaseCoin("aapl", "$aapl", "$AAPL", "both", "odd_symbol"),
    ShowcaseCoin("ape-punk", "ape$", "APE Punk", "both", "odd_symbol"),
    ShowcaseCoin(
        "0-5x-long-okb-token", "OKBHALF", "0.5X Long OKB Token", "coingecko", "odd_symbol"
    ),
    ShowcaseCoin("t-bitcoin", "tbtc", "τBitcoin", "both", "odd_name"),
    ShowcaseCoin("bobs_repair", "bob", "Bob's Repair", "both", "odd_name"),
)


@dataclass(slots=True, eq=False)
class Asset:
    index: int  # position in the priority order: the key of every random stream
    symbol: str  # CoinGecko spelling (CoinPaprika shows it upper-cased)
    name: str  # CoinGecko display name
    cg_id: str | None  # None: not listed on CoinGecko
    cp_id: str | None  # None: not listed on CoinPaprika
    cp_name: str
    origin: Origin
    market_cap: int | None  # tick-0 CoinGecko market cap; 0 or None: unranked
    volume: int
    stale: bool  # never updates (dead coin): same values and last_updated at every tick
    rank: int | None = None  # CoinGecko market_cap_rank
    cp_rank: int = 0
    # Freshness of a live coin: how long before each tick each API last refreshed it.
    # CoinGecko's lags follow the recorded page (2 s .. 8.5 min, median about a minute);
    # CoinPaprika refreshes every 5 minutes, so its lag is anywhere in [0, 300) s.
    cg_lag_ms: int = 0
    cp_lag_s: int = 0
    # How each API lists the coin's identity (emulator/identity.py); None: built from
    # symbol and name alone (CoinPaprika shows the same name, no contracts).
    identity: Identity | None = None
    lookalike_of: int | None = None  # index of the coin this bridged/pegged copy imitates
    seed_row: dict[str, Any] | None = None  # recorded CoinGecko row, numbers as Num
    showcase: ShowcaseCoin | None = None
    # Lazily built market bases (see market.py); deterministic, so races are harmless.
    cg_base: Any = None
    cp_base: Any = None

    @property
    def cp_symbol(self) -> str:
        return self.identity.cp_symbol if self.identity else self.symbol.upper()

    @property
    def kind(self) -> str:
        return self.identity.kind if self.identity else "coin"


_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def coinpaprika_id(symbol: str, name: str) -> str:
    parts = [p for p in (slugify(symbol), slugify(name)) if p]
    return "-".join(parts) or "coin"


_ONSETS = (
    "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cr",
    "dr", "fl", "gr", "kr", "pl", "st", "tr", "x", "qu", "sh", "th", "y", "h", "j", "w",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y", "ae", "ia")
_CODAS = ("", "", "", "n", "r", "x", "s", "l", "th", "m", "k", "nd")
_SUFFIXES = (
    "", "", "", "", " Token", " Coin", " Finance", " Protocol", " Network", " Swap", " DAO",
    " Inu", " AI", " Chain", " Cash", " Gold", " Labs", " Verse",
)  # fmt: skip


def _synthetic_identity(h: int) -> tuple[str, str]:
    """A made-up (symbol, name) from one 64-bit draw (each choice peels off some bits)."""
    h, syllables = divmod(h, 2)
    parts = []
    for _ in range(2 + syllables):
        h, onset = divmod(h, len(_ONSETS))
        h, vowel = divmod(h, len(_VOWELS))
        h, coda = divmod(h, len(_CODAS))
        parts.append(_ONSETS[onset] + _VOWELS[vowel] + _CODAS[coda])
    h, suffix = divmod(h, len(_SUFFIXES))
    word = "".join(parts)
    name = word.capitalize() + _SUFFIXES[suffix]
    letters = re.sub(r"[aeiouy]", "", word[1:])
    symbol = (word[0] + letters)[: 3 + h % 2] if len(letters) >= 2 else word[:4]
    return symbol, name


class Universe:
    """All assets plus the indexes the emulated APIs need. Immutable after construction."""

    def __init__(self, seed: int, assets: list[Asset]) -> None:
        self.seed = seed
        self.assets = assets
        self.coingecko = [a for a in assets if a.cg_id is not None]
        self.coinpaprika = sorted(
            (a for a in assets if a.cp_id is not None), key=lambda a: a.cp_rank
        )
        self.by_cg_id = {a.cg_id: a for a in self.coingecko if a.cg_id is not None}
        self.by_cp_id = {a.cp_id: a for a in self.coinpaprika if a.cp_id is not None}

    def __len__(self) -> int:
        return len(self.assets)

    def cross_listed(self) -> list[tuple[str, str]]:
        """(cg_id, cp_id) of every asset on both APIs, priority order."""
        return [(a.cg_id, a.cp_id) for a in self.assets if a.cg_id and a.cp_id]

    def coingecko_only(self) -> list[str]:
        return [a.cg_id for a in self.assets if a.cg_id and not a.cp_id]

    def coinpaprika_only(self) -> list[str]:
        return [a.cp_id for a in self.assets if a.cp_id and not a.cg_id]

    def symbol_collisions(self) -> dict[str, list[str]]:
        """CoinGecko symbol -> the CoinGecko ids sharing it (symbols used more than once)."""
        groups: dict[str, list[str]] = defaultdict(list)
        for asset in self.coingecko:
            groups[asset.symbol.lower()].append(asset.cg_id or "")
        return {symbol: ids for symbol, ids in groups.items() if len(ids) > 1}

    def name_overrides(self) -> dict[str, tuple[str, str]]:
        """cg_id -> (cp_id, cp_name) of present assets whose names differ between the APIs."""
        return {
            a.cg_id: (a.cp_id, a.cp_name)
            for a in self.assets
            if a.cg_id and a.cp_id and a.cp_name != a.name
        }

    def showcase(self) -> dict[str, list[str]]:
        """Quirk tag -> ids (CoinGecko id, or CoinPaprika id when CoinPaprika-only)."""
        tags: dict[str, list[str]] = defaultdict(list)
        for asset in self.assets:
            if asset.showcase is not None:
                tags[asset.showcase.quirk].append(asset.cg_id or asset.cp_id or "")
        return dict(tags)


def _fisher_yates(items: list[Any], stream: Stream) -> None:
    for i in range(len(items) - 1, 0, -1):
        j = stream.below(i + 1)
        items[i], items[j] = items[j], items[i]


@lru_cache(maxsize=8)
def build_universe(coins: int, seed: int) -> Universe:
    """The first ``coins`` assets of the priority order for ``seed`` (memoised: immutable)."""
    if coins < 1:
        raise ValueError("coins must be >= 1")
    with gc_paused():
        return _build(coins, seed)


def _build(coins: int, seed: int) -> Universe:
    seeded_rows: list[dict[str, Any]] = seed_numbers(CG_MARKETS)
    seeded_ids = {row["id"] for row in seeded_rows}
    showcase_ids = {s.cg_id for s in SHOWCASE if s.cg_id}
    taken_cg: set[str] = set(seeded_ids) | showcase_ids
    listed = [e for e in seed_json(CG_COINS_LIST) if e["id"] not in taken_cg]
    taken_cg.update(e["id"] for e in listed)  # synthetic ids must not reuse real ones
    _fisher_yates(listed, Stream(seed, SALT_SHUFFLE))

    # Eager randomness comes from whole-universe tables (entry i belongs to asset i, whatever
    # the universe size): one hash call instead of one per asset.
    listing_draws = draw_table(coins, seed, SALT_LISTING)
    synthetic_draws = draw_table(coins, seed, SALT_SYNTH)
    renames = draw_table(coins, seed, SALT_RENAME)
    assets: list[Asset] = []
    taken_cp: set[str] = {cp for cp, _ in NAME_OVERRIDES.values()}

    def unique_cp_id(symbol: str, name: str) -> str:
        base = coinpaprika_id(symbol, name)
        candidate, n = base, 1
        while candidate in taken_cp:
            n += 1
            candidate = f"{base}-{n}"
        taken_cp.add(candidate)
        return candidate

    def add(
        symbol: str,
        name: str,
        cg_id: str | None,
        listing: Listing,
        origin: Origin,
        *,
        showcase: ShowcaseCoin | None = None,
        seed_row: dict[str, Any] | None = None,
        native: bool = False,
        made: Identity | None = None,
        lookalike_of: int | None = None,
    ) -> Asset:
        index = len(assets)
        cp_id: str | None = None
        ident = made or identity(
            seed,
            index,
            cg_id,
            symbol,
            name,
            native=native,
            renamed=_synthetic_identity(renames[index]),
        )
        if showcase is not None or (ident.cg_name is not None and seed_row is not None):
            # A showcase coin carries one quirk, a recorded CoinGecko row is served as
            # recorded: neither shows another identity on CoinPaprika.
            ident = replace(ident, cp_name=name, cp_symbol=symbol.upper(), variant="same")
            ident = replace(ident, cg_name=None, cg_symbol=None, relisted=False)
        cp_name = ident.cp_name
        if listing != "coingecko":
            override = NAME_OVERRIDES.get(cg_id or "")
            if override is not None:
                cp_id, cp_name = override
                ident = replace(ident, cp_name=cp_name, variant="real")
            elif ident.relisted:
                # CoinPaprika re-listed the renamed coin under an id from its new name.
                cp_id = unique_cp_id(ident.cp_symbol, ident.cp_name)
            else:
                cp_id = unique_cp_id(symbol, name)
        rebrand = listing != "coinpaprika" and ident.cg_name is not None
        asset = Asset(
            index=index,
            # A rebrand shows on CoinGecko too (its id, and CoinPaprika's, keep the old name).
            symbol=ident.cg_symbol or symbol if rebrand else symbol,
            name=ident.cg_name or name if rebrand else name,
            cg_id=cg_id if listing != "coinpaprika" else None,
            cp_id=cp_id,
            cp_name=cp_name,
            origin=origin,
            market_cap=None,
            volume=0,
            stale=showcase is not None and showcase.stale,
            seed_row=seed_row,
            showcase=showcase,
            identity=ident,
            lookalike_of=lookalike_of,
        )
        assets.append(asset)
        return asset

    def add_with_lookalike(
        symbol: str, name: str, cg_id: str, listing: Listing, origin: Origin, **kw: Any
    ) -> None:
        original = add(symbol, name, cg_id, listing, origin, **kw)
        dead = original.identity.dead_duplicate if original.identity else None
        if dead is not None and original.cp_id is not None and len(assets) < coins:
            # CoinPaprika lists the coin a second time, dead (no market data, inactive).
            made = Identity(original.kind, (), (), dead, original.cp_symbol, "duplicate")
            add(
                symbol,
                dead,
                None,
                "coinpaprika",
                "duplicate",
                made=made,
                lookalike_of=original.index,
            )
        if listing == "coinpaprika" or len(assets) >= coins or original.identity is None:
            return
        shown_symbol, shown_name = original.symbol, original.name  # after a rebrand, the new
        copy = lookalike(seed, original.index, original.identity, cg_id, shown_symbol, shown_name)
        if copy is None or copy.cg_id in taken_cg:
            return
        taken_cg.add(copy.cg_id)
        cg_platform, cp_platform, _, _, cp_type = copy.chain
        made = Identity(
            kind="token",
            cg_platforms=((cg_platform, copy.address),),
            cp_contracts=((cp_platform, copy.address, cp_type),),
            cp_name=copy.name,
            cp_symbol=copy.symbol.upper(),
            variant="same",
        )
        add(
            copy.symbol,
            copy.name,
            copy.cg_id,
            "both" if copy.on_coinpaprika else "coingecko",
            "lookalike",
            made=made,
            lookalike_of=original.index,
        )
        if copy.claimed_by_original and original.cp_id is not None:
            contracts = (*original.identity.cp_contracts, (cp_platform, copy.address, cp_type))
            original.identity = replace(original.identity, cp_contracts=contracts)

    for spec in SHOWCASE:
        if len(assets) >= coins:
            break
        shown = add(
            spec.symbol,
            spec.name,
            spec.cg_id,
            spec.listing,
            "showcase",
            showcase=spec,
        )
        # Each showcase coin carries one quirk: its name is the same on both APIs.
        if shown.identity is not None:
            shown.identity = replace(
                shown.identity, cp_name=spec.name, cp_symbol=spec.symbol.upper(), variant="same"
            )
            shown.cp_name = spec.name
    for row in seeded_rows:
        if len(assets) >= coins:
            break
        listing: Listing = "coingecko" if row["id"] in SEED_COINGECKO_ONLY else "both"
        add(
            row["symbol"],
            row["name"],
            row["id"],
            listing,
            "seed",
            seed_row=row,
            native=row["id"] in SEED_NATIVES,
        )
    for entry in listed:
        if len(assets) >= coins:
            break
        add_with_lookalike(
            entry["symbol"],
            entry["name"],
            entry["id"],
            _listing(listing_draws[len(assets)], entry["name"]),
            "coins_list",
            native=(listing_draws[len(assets)] >> 32) % 5 == 0,
        )
    while len(assets) < coins:
        index = len(assets)
        symbol, name = _synthetic_identity(synthetic_draws[index])
        cg_id = slug = slugify(name) or "coin"
        n = 1
        while cg_id in taken_cg:
            n += 1
            cg_id = f"{slug}-{n}"
        taken_cg.add(cg_id)
        add_with_lookalike(
            symbol,
            name,
            cg_id,
            _listing(listing_draws[index], name),
            "synthetic",
            native=(listing_draws[index] >> 32) % 5 == 0,
        )

    _duplicate_contracts(seed, assets)
    _assign_markets(seed, assets)
    _assign_lags(seed, assets)
    _assign_ranks(assets)
    return Universe(seed, assets)


def _duplicate_contracts(seed: int, assets: list[Asset]) -> None:
    """CoinGecko lists a few addresses for two coins (a data-entry error, or a token
    migration recorded twice): about 3 tokens in 1,000 take the address an earlier token
    lists on the same platform. A matcher must not take such an address as proof."""
    last: dict[str, str] = {}
    draws = draw_table(len(assets), seed, SALT_DUPLICATE)
    for asset in assets:
        ident = asset.identity
        if ident is None or asset.cg_id is None or not ident.cg_platforms:
            continue
        platform, address = ident.cg_platforms[0]
        if platform and draws[asset.index] % 1000 < 3 and platform in last:
            platforms = ((platform, last[platform]), *ident.cg_platforms[1:])
            asset.identity = replace(ident, cg_platforms=platforms)
        elif platform and address:
            last[platform] = address


def _listing(draw: int, name: str) -> Listing:
    if _CG_ONLY_NAME.search(name):
        return "coingecko"
    roll = draw % 1000
    if roll < 720:
        return "both"
    return "coingecko" if roll < 880 else "coinpaprika"


def _assign_markets(seed: int, assets: list[Asset]) -> None:
    """Tick-0 market caps and volumes.

    Generated caps follow a power-law-ish decay as a running product of integer factors, so
    they are exact, strictly below the smallest seeded cap (212.6M) and mostly descending with
    priority. About 4% of the non-showcase tail is unranked: market cap 0 (or null, rarely).
    """
    cap = 200_000_000 * 1_000_000  # in micro-dollars to keep precision through the decay
    position = 0
    draws = draw_table(len(assets), seed, SALT_MARKET_CAP)
    for asset in assets:
        if asset.origin == "duplicate":
            asset.stale, asset.market_cap, asset.volume = True, None, 0
            continue
        if asset.seed_row is not None:
            row = asset.seed_row
            asset.market_cap = _int_or_none(row["market_cap"])
            asset.volume = _int_or_none(row["total_volume"]) or 0
            continue
        h, step = divmod(draws[asset.index], 2 * 1_300_000 // (position + 40) + 1)
        cap = cap * (1_000_000 - min(step, 500_000)) // 1_000_000
        position += 1
        market_cap = max(cap // 1_000_000, 1)
        h, ratio = divmod(h, 400)
        h, extra = divmod(h, 1000)
        asset.volume = market_cap * (ratio + 1) // 1000 + extra
        h, stale_roll = divmod(h, 1000)
        h, unranked_roll = divmod(h, 1000)
        h, null_roll = divmod(h, 1000)
        if asset.origin != "showcase":
            asset.stale = stale_roll < 30
            if position > 60 and unranked_roll < 40:
                asset.market_cap = None if null_roll < 125 else 0
                asset.volume = h % 5001
                continue
        asset.market_cap = market_cap


def _assign_lags(seed: int, assets: list[Asset]) -> None:
    for asset, h in zip(assets, draw_table(len(assets), seed, SALT_LAG), strict=True):
        if asset.seed_row is not None:
            recorded = datetime.fromisoformat(asset.seed_row["last_updated"].replace("Z", "+00:00"))
            asset.cg_lag_ms = BASE_TIME_MS - int(recorded.timestamp() * 1000)
        else:
            # A cubed uniform draw: most coins a minute or two behind, a few several minutes.
            u = h % 1000
            asset.cg_lag_ms = 2_000 + u * u * u * 513 // 1_000_000 + (h >> 10) % 1000
        asset.cp_lag_s = (h >> 32) % 300


def _int_or_none(value: Num | None) -> int | None:
    return None if value is None else as_int(value)[0]


def _assign_ranks(assets: list[Asset]) -> None:
    ranked = sorted(
        (a for a in assets if a.cg_id is not None and a.market_cap),
        key=lambda a: (-(a.market_cap or 0), a.index),
    )
    for position, asset in enumerate(ranked, start=1):
        if asset.seed_row is not None:
            recorded = asset.seed_row["market_cap_rank"]
            asset.rank = None if recorded is None else as_int(recorded)[0]
        else:
            asset.rank = position
    on_paprika = sorted(
        (a for a in assets if a.cp_id is not None), key=lambda a: (-(a.market_cap or 0), a.index)
    )
    for position, asset in enumerate(on_paprika, start=1):
        asset.cp_rank = position
