"""How each emulated API lists a coin's identity: kind, contracts, display name and symbol.

The two real APIs describe one coin differently, and a cross-source matcher has to cope:

- **Contracts.** A token lists its contract addresses per chain (CoinGecko
  ``/coins/list?include_platform=true`` ``platforms``; CoinPaprika ``/contracts/{platform}``
  and ``/coins/{id}`` ``contracts``). CoinPaprika often lists fewer chains, sometimes none,
  sometimes an EIP-55 mixed-case spelling, sometimes a newer address after a migration.
  CoinGecko marks a native coin with ``{"": ""}`` and knows platforms CoinPaprika does not.
- **Names, ids and symbols**, at the rates measured on real lists (CoinGecko's 2022
  ``/coins/list`` against CoinPaprika's 2020 ``/v1/coins``: the 462 pairs of the hand-made
  crosswalk whose CoinPaprika coin is in the 2019 tickers' top 400 or a random 260 of the
  rest, ``tests/fixtures/identity/crosswalk.csv``; DATA_QUALITY.md):
  names the same but for case or punctuation 87.9 % (here 82 % identical, 2 % spacing or
  punctuation, 2 % a parenthesized suffix), a generic word more or less 3.7 % ("KuCoin
  Shares" / "KuCoin Token"), the symbol as the name on one side 2.4 % ("USD Coin" / "USDC"),
  a shortened name 1.9 %, a new ticker on one side with the same name 1.9 % (NANO / XNO:
  here 2.1 %), renamed 4.1 %: a rebrand that changed the display name on CoinGecko while
  both ids keep the first name (``omisego`` "OMG Network" / ``omg-omisego`` "OmiseGO"; here
  2.1 %, a fifth of them with a new ticker on both), a new name on CoinPaprika only (1.6 %)
  and, rarest (none of the 19 real renames lost every id link), a re-listing under a new
  id, name and ticker (0.2 %). CoinPaprika's id is
  ``<symbol>-<name slug>`` of the first listing, so renamed coins keep the old name in it.
- **Dead duplicates**: CoinPaprika lists some coins twice, the second listing dead
  (inactive, no market data) under the same name or a respaced one (``zeon-zeon-network`` /
  ``zeon-zeon-``, ``bhd-bitcoinhd`` / ``bhd-bitcoin-hd``): 20 such groups among 2,391
  active CoinPaprika coins (0.8 %; here 0.8 % of the coins on CoinPaprika).
- **Market caps**: CoinPaprika's cap of a coin is CoinGecko's within 3 % for most coins, 0
  for 3 % (a missing supply: 57 of the 2019 tickers' top 2,000 show 0) and 1.25x-3x off
  for 8 % (supply methodologies; no recorded pair of both APIs' caps exists to measure this
  one, the figure is an estimate) (``Identity.cp_cap_permille``).
- **Look-alikes.** Bridged, pegged and wrapped copies of a token on another chain (universe
  builder, :func:`lookalike`), which CoinPaprika sometimes lists under the original coin.
- **Bad data**: an address listed for two coins, empty addresses, unknown platforms.

Everything is a pure function of ``(seed, asset index)``: the ground truth is the universe
itself (an asset is one real coin, whatever each API calls it).

The chain table is the emulator's own, written from the APIs' documentation, not imported
from the ETL: a matcher tested against a copy of its own assumptions would prove nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kasparro.emulator.rng import Stream

SALT_IDENTITY: Final = 8

# (CoinGecko platform id, CoinPaprika platform id, weight, address style, CoinPaprika type)
CHAINS: Final[tuple[tuple[str, str, int, str, str], ...]] = (
    ("ethereum", "eth-ethereum", 400, "evm", "ERC20"),
    ("binance-smart-chain", "bnb-binance-coin", 180, "evm", "Other"),
    ("solana", "sol-solana", 120, "base58", "Other"),
    ("polygon-pos", "matic-polygon", 70, "evm", "Other"),
    ("arbitrum-one", "arb-arbitrum", 60, "evm", "Other"),
    ("base", "base-base", 50, "evm", "Other"),
    ("avalanche", "avax-avalanche", 30, "evm", "Other"),
    ("optimistic-ethereum", "op-optimism", 30, "evm", "Other"),
    ("tron", "trx-tron", 30, "tron", "TRC20"),
    ("fantom", "ftm-fantom", 10, "evm", "Other"),
    ("cronos", "cro-cryptocom-chain", 10, "evm", "Other"),
    ("stellar", "xlm-stellar", 10, "stellar", "Stellar Asset"),
)
CP_PLATFORMS: Final = {cg: cp for cg, cp, *_ in CHAINS}
CP_TYPES: Final = {cp: kind for _, cp, _, _, kind in CHAINS}
# Platforms only CoinGecko lists (the ETL cannot map them to a chain CoinPaprika knows).
CG_ONLY_PLATFORMS: Final = ("hydra", "kardiachain", "energi", "xdai", "klay-token")
# CoinPaprika platforms with contracts but no CoinGecko counterpart in this universe.
CP_ONLY_PLATFORMS: Final = ("waves-waves", "neo-neo")
_TOTAL_WEIGHT: Final = sum(w for _, _, w, _, _ in CHAINS)

_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B32: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

# Real contracts and CoinPaprika names of some recorded coins (public on-chain facts).
REAL_TOKENS: Final[dict[str, tuple[str | None, tuple[tuple[str, str], ...]]]] = {
    "tether": (None, (("ethereum", "0xdac17f958d2ee523a2206206994597c13d831ec7"),)),
    "usd-coin": ("USDC", (("ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),)),
    "wrapped-bitcoin": (
        "Wrapped BTC",
        (("ethereum", "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599"),),
    ),
    "uniswap": (None, (("ethereum", "0x1f9840a85d5af5bf1d1762f925bdaddc4201f984"),)),
    "chainlink": (None, (("ethereum", "0x514910771af9ca656af840dff83e8264ecf986ca"),)),
    "shiba-inu": (None, (("ethereum", "0x95ad61b0a150d79219dcf64e1e6cc01f0b64c4ce"),)),
    "dai": (None, (("ethereum", "0x6b175474e89094c44da98b954eedeac495271d0f"),)),
}

_GENERIC: Final = (" Token", " Coin", " Network", " Protocol", " Finance")
_CAMEL: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str  # "coin" | "token"
    # As CoinGecko lists them: (platform id, address); ("", "") is its native-coin marker.
    cg_platforms: tuple[tuple[str, str], ...]
    # As CoinPaprika lists them: (platform id, address, type).
    cp_contracts: tuple[tuple[str, str, str], ...]
    cp_name: str
    cp_symbol: str
    variant: str  # how CoinPaprika's name differs: "same", "generic_word", ... (quirks)
    # A rebrand CoinGecko shows (its id keeps the first name): the new name and symbol.
    cg_name: str | None = None
    cg_symbol: str | None = None
    relisted: bool = False  # CoinPaprika re-listed it under an id from its new name
    cp_cap_permille: int = 1000  # CoinPaprika's market cap / CoinGecko's, per mille (0: shows 0)
    dead_duplicate: str | None = None  # the name of a dead CoinPaprika duplicate listing


def address(style: str, stream: Stream, symbol: str = "") -> str:
    if style == "evm":
        return "0x" + f"{stream.bits():016x}{stream.bits():016x}{stream.bits():016x}"[:40]
    if style == "tron":
        return "T" + "".join(_B58[stream.below(58)] for _ in range(33))
    if style == "stellar":
        code = re.sub(r"[^A-Z0-9]", "", symbol.upper())[:12] or "X"
        return f"{code}-G" + "".join(_B32[stream.below(32)] for _ in range(55))
    return "".join(_B58[stream.below(58)] for _ in range(44))


def _mixed_case(addr: str, stream: Stream) -> str:
    """An EIP-55-looking spelling (the checksum itself is not computed: nobody checks it)."""
    if not addr.startswith("0x"):
        return addr
    return "0x" + "".join(ch.upper() if ch.isalpha() and stream.below(2) else ch for ch in addr[2:])


def _pick_chains(stream: Stream) -> list[tuple[str, str, int, str, str]]:
    count = 1
    roll = stream.below(1000)
    if roll >= 550:
        count = 2 if roll < 800 else 3 + stream.below(2)
    picked: list[tuple[str, str, int, str, str]] = []
    while len(picked) < count:
        point = stream.below(_TOTAL_WEIGHT)
        for chain in CHAINS:
            point -= chain[2]
            if point < 0:
                if chain not in picked:
                    picked.append(chain)
                break
        if len(picked) < count and stream.below(20) == 0:
            break  # rarely fewer chains than drawn: keeps the loop bounded
    return picked


def identity(
    seed: int,
    index: int,
    cg_id: str | None,
    symbol: str,
    name: str,
    *,
    native: bool,
    renamed: tuple[str, str],
) -> Identity:
    """The identity one asset shows on each API. ``native``: a coin with its own chain (never
    contracts); ``renamed``: a fresh (symbol, name) to use if the draw says it was renamed."""
    stream = Stream(seed, SALT_IDENTITY, index)
    real = REAL_TOKENS.get(cg_id or "")
    kind = "token" if real or (not native and stream.below(1000) < 800) else "coin"
    cg_platforms: list[tuple[str, str]] = []
    cp_contracts: list[tuple[str, str, str]] = []
    if kind == "coin":
        if stream.below(10) < 6:
            cg_platforms.append(("", ""))
    elif real is not None:
        for platform, addr in real[1]:
            cg_platforms.append((platform, addr))
            cp_contracts.append((CP_PLATFORMS[platform], addr, CP_TYPES[CP_PLATFORMS[platform]]))
    else:
        chains = _pick_chains(stream)
        listed = [(c, address(c[3], stream, symbol)) for c in chains]
        cg_platforms = [(c[0], addr) for c, addr in listed]
        if stream.below(1000) < 20:
            cg_platforms.append((stream.choice(CG_ONLY_PLATFORMS), address("evm", stream)))
        if stream.below(1000) < 8:
            cg_platforms.append((stream.choice(CHAINS)[0], ""))  # an empty address
        cp_contracts = _paprika_contracts(listed, stream, symbol)
    if real is not None and real[0] is not None:
        named = _Named(real[0], symbol.upper(), "real")
    else:
        named = _paprika_name(name, symbol, stream, renamed)
    extra = Stream(seed, SALT_IDENTITY, index, 2)  # kept apart: the draws above stay as they were
    cap_roll = extra.below(1000)
    if cap_roll < 30:
        permille = 0
    elif cap_roll < 110:
        factor = 1250 + extra.below(1751)
        permille = factor if extra.below(2) else 1_000_000 // factor
    else:
        permille = 970 + extra.below(61)
    duplicate = None
    if extra.below(1000) < 8:
        duplicate = name if extra.below(10) < 6 else _respaced(name)
    return Identity(
        kind,
        tuple(cg_platforms),
        tuple(cp_contracts),
        named.cp_name,
        named.cp_symbol,
        named.variant,
        named.cg_name,
        named.cg_symbol,
        named.relisted,
        permille,
        duplicate,
    )


def _respaced(name: str) -> str:
    """The name spelled another way (a duplicate listing's), or as it is."""
    if " " in name:
        return name.replace(" ", "")
    return _CAMEL.sub(" ", name)


def _paprika_contracts(
    listed: list[tuple[tuple[str, str, int, str, str], str]], stream: Stream, symbol: str
) -> list[tuple[str, str, str]]:
    roll = stream.below(1000)
    if roll < 80:
        return []  # CoinPaprika has no contract data for this token
    if roll < 130:
        # Only a chain CoinGecko does not list for it.
        free = [c for c in CHAINS if all(c is not chain for chain, _ in listed)]
        chain = stream.choice(free)
        return [(chain[1], address(chain[3], stream, symbol), chain[4])]
    chosen = listed if roll >= 250 else listed[:1]
    out = []
    for position, (chain, addr) in enumerate(chosen):
        spelled = _mixed_case(addr, stream) if stream.below(10) < 3 else addr
        if position == 0 and stream.below(1000) < 15:
            spelled = address(chain[3], stream, symbol)  # migrated: a newer address
        out.append((chain[1], spelled, chain[4]))
    if stream.below(1000) < 10:
        out.append((stream.choice(CP_ONLY_PLATFORMS), address("evm", stream), "Other"))
    return out


@dataclass(frozen=True, slots=True)
class _Named:
    cp_name: str
    cp_symbol: str
    variant: str
    cg_name: str | None = None
    cg_symbol: str | None = None
    relisted: bool = False


def _paprika_name(name: str, symbol: str, stream: Stream, renamed: tuple[str, str]) -> _Named:
    """How the two APIs name one coin (rates in the module docstring). ``renamed``: a fresh
    (symbol, name) for the variants that need one."""
    upper = symbol.upper()
    roll = stream.below(1000)
    if roll < 820:
        return _Named(name, upper, "same")
    if roll < 840:
        if " " in name:
            return _Named(name.replace(" ", ""), upper, "punctuation")
        split = _CAMEL.sub(" ", name)
        if split != name:
            return _Named(split, upper, "punctuation")
        return _Named(name + ".", upper, "punctuation")
    if roll < 860:
        return _Named(f"{name} ({upper})", upper, "parenthesized")
    if roll < 897:
        for suffix in _GENERIC:
            if name.endswith(suffix) and len(name) > len(suffix) + 2:
                other = stream.choice([s for s in ("", *_GENERIC) if s != suffix])
                return _Named(name[: -len(suffix)] + other, upper, "generic_word")
        return _Named(name + stream.choice(_GENERIC), upper, "generic_word")
    if roll < 921:
        return _Named(upper, upper, "symbol_as_name")
    if roll < 940:
        words = name.split()
        if len(words) >= 2:
            return _Named(" ".join(words[:-1]), upper, "shortened")
        return _Named(name, upper, "same")
    new_symbol, new_name = renamed
    if roll < 961:
        return _Named(name, new_symbol.upper(), "ticker_changed")
    if roll < 982:
        # A rebrand: CoinGecko shows the new name (its id keeps the old one), CoinPaprika
        # the new name or still the old one; a fifth change the ticker on both.
        ticker = new_symbol if stream.below(5) == 0 else symbol
        shown = new_name if stream.below(2) else name
        return _Named(shown, ticker.upper(), "rebranded", new_name, ticker)
    if roll < 998:
        return _Named(new_name, upper, "renamed")
    return _Named(new_name, new_symbol.upper(), "renamed_and_relisted", relisted=True)


LOOKALIKE_PATTERNS: Final = (
    ("Bridged {name} ({chain})", "bridged"),
    ("Binance-Peg {name}", "binance-peg"),
    ("Wrapped {name} (Wormhole)", "wormhole"),
)


@dataclass(frozen=True, slots=True)
class Lookalike:
    name: str
    symbol: str
    cg_id: str
    chain: tuple[str, str, int, str, str]
    address: str
    on_coinpaprika: bool  # listed there as its own coin too
    # CoinPaprika lists the copy's address under the original coin (a common data mix-up).
    claimed_by_original: bool


def lookalike(
    seed: int, index: int, original: Identity, cg_id: str, symbol: str, name: str
) -> Lookalike | None:
    """A bridged/pegged/wrapped copy of a token, on a chain the original does not list
    (about 6% of tokens); None for most assets."""
    if original.kind != "token":
        return None
    stream = Stream(seed, SALT_IDENTITY, index, 1)
    if stream.below(1000) >= 60:
        return None
    used = {platform for platform, _ in original.cg_platforms}
    free = [c for c in CHAINS if c[0] not in used and c[3] == "evm"]
    if not free:
        return None
    chain = stream.choice(free)
    pattern, slug = stream.choice(LOOKALIKE_PATTERNS)
    title = chain[0].replace("-", " ").title()
    look_name = pattern.format(name=name, chain=title)
    look_symbol = symbol if stream.below(2) else f"{symbol}.e"
    return Lookalike(
        name=look_name,
        symbol=look_symbol,
        cg_id=f"{slug}-{cg_id}"[:120],
        chain=chain,
        address=address("evm", stream),
        on_coinpaprika=stream.below(10) < 3,
        claimed_by_original=stream.below(10) < 4,
    )
