"""What names, symbols and ids say about a coin (pure).

Two listings of one coin rarely spell it the same way. Measured on real lists (a CoinGecko
``/coins/list`` of 2022 against CoinPaprika's ``/v1/coins`` of 2020, DATA_QUALITY.md): names
differ by case, punctuation, spacing, a parenthesized suffix or a generic word ("KuCoin
Shares" / "KuCoin Token"), one API shows the symbol as the name ("LUNA"), coins get renamed
("OmiseGO" / "OMG Network") and change symbols ("XZC" / "FIRO"). What survives a rename is
the *id*: CoinGecko's id is the slug of the name the coin was first listed under
(``omisego``), CoinPaprika's is ``<symbol>-<name slug>`` of its first listing
(``omg-omisego``, ``hav-havven`` for Synthetix). :func:`id_names` reads those names out of an
id, per source (:data:`ID_SCHEMES`).

Copies are other coins: a bridged, pegged or wrapped token ("Binance-Peg Uniswap", "Wrapped
BTC (Wormhole)", "Uniswap (BSC)") trades apart from its original (:func:`copy_marks`). A
migrated token's old contract ("Sentinel [OLD]") is flagged by :func:`old_marks`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = [
    "GENERIC_WORDS",
    "ID_SCHEMES",
    "copy_marks",
    "fold",
    "id_names",
    "id_tokens",
    "informative_words",
    "is_symbol_only",
    "name_core",
    "old_marks",
    "plain_name",
    "slug",
    "strip_number",
    "symbol_key",
    "version_marks",
    "words",
]

_PARENTHESIZED: Final = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_APOSTROPHES: Final = re.compile(r"['\u2019`]")
_WORD: Final = re.compile(r"[a-z0-9]+")
_VERSION: Final = re.compile(r"v\d+|\d+(\.\d+)?")

# Words that say what kind of thing a coin is, not which one: "Theta Token" is "Theta
# Network", "Nash Exchange" is "Nash", "Crypto.com Chain" is "Crypto.com Coin". Never words
# that tell coins apart ("Cash", "Gold", "Classic", "SV", a number).
GENERIC_WORDS: Final = frozenset(
    {
        "token",
        "tokens",
        "coin",
        "coins",
        "network",
        "protocol",
        "finance",
        "the",
        "project",
        "platform",
        "chain",
        "exchange",
    }
)

# Words that make a coin a copy of another one, anywhere in its name.
_COPY_WORDS: Final = frozenset({"wrapped", "bridged", "peg", "pegged", "wormhole"})
# ... and only inside a parenthesized suffix: "Golden Bridge Coin", "BSC Farm" and
# "Multichain" are coins, "USDC (Polygon PoS Bridge)" and "Uniswap (BSC)" are copies.
_COPY_SUFFIXES: Final = frozenset(
    {
        "bridge",
        "bsc",
        "bep20",
        "erc20",
        "polygon",
        "pos",
        "multichain",
        "axelar",
        "portal",
        # bridges that name their copies so: "Wrapped Bitcoin (Sollet)", "USDC (Celer)"
        "sollet",
        "celer",
        "anyswap",
        "allbridge",
        "nomad",
        "optics",
        "synapse",
    }
)
# A token replaced by a migration, marked in a suffix: "Sentinel [OLD]", "Loom Network (OLD)".
_OLD_SUFFIXES: Final = frozenset({"old", "legacy", "deprecated"})

# Id schemes: what an id encodes. ``name_slug``: the slug of the first-listed name, with a
# ``-N`` suffix when the slug was taken (CoinGecko ``bitcoin``, ``pundi-x-2``).
# ``symbol_name_slug``: ``<symbol>-<name slug>`` of the first listing, ``-N`` when taken
# (CoinPaprika ``btc-bitcoin``, ``hex-hex-2``). Other sources' ids encode nothing known.
ID_SCHEMES: Final[dict[str, str]] = {
    "coingecko": "name_slug",
    "coinpaprika": "symbol_name_slug",
}
# Words an id may add that name nothing: CoinPaprika ``aave-new`` is "Aave", listed again.
_ID_QUALIFIERS: Final = frozenset({"new", "old", "v2", "v3", "token", "coin", "2", "3"})


def fold(text: str) -> str:
    """Lower-case ASCII: accents dropped, non-Latin letters dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


def words(name: str) -> list[str]:
    """A name's words, without case, punctuation, apostrophes or a parenthesized suffix."""
    folded = _APOSTROPHES.sub("", _PARENTHESIZED.sub(" ", fold(name)))
    return _WORD.findall(folded)


def plain_name(name: str) -> str:
    """A name without case, punctuation, spacing or a parenthesized suffix (generic words
    kept): "ren BTC" is "renBTC", "Bolt (BOLT)" is "Bolt", "Fire Token" is not "Fire". A name
    with no ASCII letters keeps its case-folded text."""
    return "".join(words(name)) or unicodedata.normalize("NFKC", name).casefold().strip()


def name_core(name: str) -> str:
    """A name without case, punctuation, spacing, a parenthesized suffix or generic words:
    "Theta Token" = "Theta Network", "PancakeSwap" = "Pancake Swap". A name with nothing left
    keeps its letters ("Token" stays "token")."""
    ws = words(name)
    core = "".join(w for w in ws if w not in GENERIC_WORDS) or "".join(ws)
    return core or unicodedata.normalize("NFKC", name).casefold().strip()


def informative_words(name: str) -> frozenset[str]:
    """The words that tell a name apart (generic words dropped)."""
    return frozenset(w for w in words(name) if w not in GENERIC_WORDS)


def symbol_key(symbol: str) -> str:
    """A symbol as compared: NFKC, case-folded, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", symbol).casefold().split())


def _symbol_letters(symbol: str) -> str:
    return "".join(_WORD.findall(fold(symbol)))


def is_symbol_only(name: str, symbol: str) -> bool:
    """A name that is just the symbol ("USDC", "LUNA") says nothing a symbol does not."""
    letters = "".join(words(name))
    return not letters or letters == _symbol_letters(symbol)


def slug(text: str) -> str:
    return "-".join(_WORD.findall(fold(text)))


def copy_marks(name: str, symbol: str) -> frozenset[str]:
    """The words that make a listing a bridged, pegged or wrapped copy (empty for an
    original). A name that is just the symbol says nothing."""
    folded = fold(name)
    if "".join(_WORD.findall(folded)) == _symbol_letters(symbol):
        return frozenset()  # the whole name, suffix included, is the symbol
    marks = frozenset(_WORD.findall(folded)) & _COPY_WORDS
    suffixes = {w for part in _PARENTHESIZED.findall(folded) for w in _WORD.findall(part)}
    return marks | (frozenset(suffixes) & _COPY_SUFFIXES)


def old_marks(name: str) -> frozenset[str]:
    """The suffix words that mark a migrated token's old contract ("X [OLD]")."""
    folded = fold(name)
    suffixes = {w for part in _PARENTHESIZED.findall(folded) for w in _WORD.findall(part)}
    return frozenset(suffixes) & _OLD_SUFFIXES


def version_marks(name: str) -> frozenset[str]:
    """Versions and numbers in a name ("Aave MANA v1", "Bitcoin 2"): they tell coins apart."""
    return frozenset(w for w in words(name) if _VERSION.fullmatch(w))


def id_tokens(source_id: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(source_id)))


def strip_number(tokens: list[str], name: str, taken: frozenset[str]) -> list[str]:
    """An id's words without a ``-N`` that only made it unique (see :func:`id_names`)."""
    unique_only = len(tokens) > 1 and tokens[-1].isdigit() and tokens[-1] not in words(name)
    if unique_only and "-".join(tokens[:-1]) not in taken:
        return tokens[:-1]
    return tokens


def id_names(
    source: str, source_id: str, name: str = "", *, taken: frozenset[str] = frozenset()
) -> frozenset[str]:
    """The name slugs an id was built from (empty when the source's ids encode none).

    A ``-N`` suffix is dropped when it only made the id unique (``pundi-x-2`` is "pundi-x"),
    kept when the name carries the number (``bitcoin-2`` is "Bitcoin 2") or when ``taken``
    (the source's other ids) holds the id without it: then the first listing under that name
    is another coin (CoinGecko ``terra-luna-2`` is not ``terra-luna``). CoinPaprika's first
    part is the symbol of the first listing (not always today's: ``hav-havven`` is SNX); an
    id whose name part is only a qualifier (``aave-new``) names nothing beyond its symbol.
    """
    scheme = ID_SCHEMES.get(source)
    tokens = list(id_tokens(source_id))
    if scheme is None or not tokens:
        return frozenset()
    tokens = strip_number(tokens, name, taken)
    if scheme == "symbol_name_slug":
        if len(tokens) < 2:
            return frozenset()
        tokens = tokens[1:]
        if all(t in _ID_QUALIFIERS for t in tokens):
            return frozenset()
    return frozenset({"-".join(tokens)})
