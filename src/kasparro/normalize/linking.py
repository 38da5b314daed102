"""Cross-source identity v2: which CoinGecko coin is which CoinPaprika coin (pure).

Input: every coin each API lists (its reference data: symbol, name, contracts) with the
latest market cap and rank the store holds, the curated overrides, the manual decisions and
the links decided before. Output: a :class:`LinkPlan`, one :class:`Link` per listed coin
(its canonical identity key, how it was decided and the evidence), the pairings left to a
human (:class:`ReviewItem`) and the bad reference data found (:class:`Anomaly`).

Pairs are decided in this order; a coin taken by an earlier rule is not offered to a later
one, and a rejected pair is never proposed again:

1. ``manual``: accepted pairings (sticky; they override everything automatic).
2. ``override``: the curated table of top native coins (``normalize.identity.CURATED``).
3. ``contract``: tokens listing the same address on the same (canonical) chain. A coin's
   best partner must be unique and mutual (most shared addresses, then same symbol, then
   same name, then fewest chains where the two list different addresses); otherwise the
   candidates go to review. An address one API lists for two of its coins proves nothing
   and is not used (``contract_listed_for_two_coins``).
4. the previous automatic links, kept while both coins are listed and nothing above
   contradicts them: decisions are sticky, so a coin does not flap between partners as
   market caps move.
5. ``symbol_name``: same symbol and same normalized name (case, punctuation, a parenthesized
   suffix and generic words such as "Token" or "Network" ignored), one candidate each way.
6. ``market_cap_tiebreak``: coins left over that share a symbol, when exactly one pairing
   is plausible: market caps within an order of magnitude, ranks in the same neighbourhood,
   names that do not contradict each other; several plausible pairings go to review.

A symbol alone never links two coins. Two coins are never linked when they list different
addresses on the same chain and share none (on-chain, they are different tokens), nor when
one of them shares an address with a coin that is linked to another: that coin is the
address's owner, the look-alike (a bridged or pegged copy) is not its twin.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from kasparro.normalize.identity import CURATED, identity_key

__all__ = [
    "CG",
    "CONFIDENCE",
    "CP",
    "Anomaly",
    "Candidate",
    "Decision",
    "Link",
    "LinkPlan",
    "PriorLink",
    "ReviewItem",
    "link_coins",
    "name_core",
]

CG: Final = "coingecko"
CP: Final = "coinpaprika"

CONFIDENCE: Final[dict[str, Decimal | None]] = {
    "manual": Decimal("1"),
    "override": Decimal("1"),
    "contract": Decimal("0.99"),
    "symbol_name": Decimal("0.9"),
    "market_cap_tiebreak": Decimal("0.75"),
    "new": None,
}

# Market caps within this factor are "the same order of magnitude": a plausible pairing.
MAX_CAP_RATIO: Final = 10.0
# A link on contracts alone (symbols and names differ) needs market caps at least this close.
CORE_CAP_RATIO: Final = 3.0
# A tie-break links a pairing only this close: in the long tail, market caps of unrelated
# coins fall within a few tens of percent of each other by chance (the other plausible
# pairings go to review) ...
CLEAR_CAP_RATIO: Final = 1.15
# ... and only when every other plausible candidate is at least this far.
RIVAL_CAP_RATIO: Final = 4.0

Chainaddr = tuple[str, str]  # (canonical chain, normalized address)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One listed coin, with everything the linker may use."""

    source: str
    id: str
    symbol: str
    name: str
    contracts: frozenset[Chainaddr] = frozenset()
    market_cap: Decimal | None = None
    rank: int | None = None
    # Addresses as each API spells them, for evidence: (chain, address) -> (platform, raw).
    spelled: Mapping[Chainaddr, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """A human's verdict on a pairing (sticky)."""

    coingecko_id: str
    coinpaprika_id: str
    accept: bool
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriorLink:
    coingecko_id: str
    coinpaprika_id: str
    method: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Link:
    """The decided identity of one listed coin."""

    source: str
    id: str
    key: str  # canonical identity key of its asset
    method: str  # manual | override | contract | symbol_name | market_cap_tiebreak | new
    counterpart: str | None  # the other API's id, for a pair
    evidence: Mapping[str, Any]

    @property
    def confidence(self) -> Decimal | None:
        return CONFIDENCE[self.method]


@dataclass(frozen=True, slots=True)
class ReviewItem:
    coingecko_id: str
    coinpaprika_id: str
    reason: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # contract_listed_for_two_coins | conflicting_manual_decision | ...
    source: str
    detail: str
    ids: tuple[str, ...] = ()


@dataclass(slots=True)
class LinkPlan:
    links: list[Link]
    review: list[ReviewItem]
    anomalies: list[Anomaly]
    # Coins a market-cap tie-break would decide once the store holds their market data.
    deferred: int = 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for item in self.links:
            if item.source == CG or item.counterpart is None:
                out[item.method if item.counterpart else "unpaired"] += 1
        return dict(sorted(out.items()))

    def pairs(self) -> set[tuple[str, str]]:
        return {(x.id, x.counterpart) for x in self.links if x.source == CG and x.counterpart}


# --- names ----------------------------------------------------------------------------------

_PARENTHESIZED: Final = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_APOSTROPHES: Final = re.compile(r"['\u2019`]")
_WORD: Final = re.compile(r"[a-z0-9]+")
# Words that say what kind of thing a coin is, not which one ("Theta Token" is "Theta
# Network"). Never words that tell coins apart ("Cash", "Gold", "Classic").
_GENERIC_WORDS: Final = frozenset({"token", "coin", "network", "protocol", "finance", "the"})


def _words(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = _APOSTROPHES.sub("", _PARENTHESIZED.sub(" ", folded.lower()))
    return _WORD.findall(folded)


def _plain_name(name: str) -> str:
    """A name without case, punctuation, spacing or a parenthesized suffix (generic words
    kept): "ren BTC" is "renBTC", "Bolt (BOLT)" is "Bolt", "Fire Token" is not "Fire"."""
    return "".join(_words(name)) or unicodedata.normalize("NFKC", name).casefold().strip()


def name_core(name: str) -> str:
    """A name without case, punctuation, spacing, a parenthesized suffix or generic words:
    "Bob's Repair" = "Bobs Repair", "PancakeSwap" = "Pancake Swap", "Theta Token" = "Theta
    Network". A name with nothing left keeps its letters ("Token" stays "token"); a name
    with no ASCII letters or digits keeps its case-folded text."""
    words = _words(name)
    core = "".join(w for w in words if w not in _GENERIC_WORDS) or "".join(words)
    return core or unicodedata.normalize("NFKC", name).casefold().strip()


def _symbol(symbol: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", symbol).casefold().split())


# Words that make a coin a copy of another one: "Binance-Peg Uniswap", "Bridged USDC (Polygon
# PoS Bridge)", "Wrapped X (Wormhole)", "Uniswap (BSC)". A copy trades apart from its original
# (and its twin on the other API carries the same word), so a name with such a word never
# matches a name without it.
_COPY_WORDS: Final = frozenset({"wrapped", "bridged", "peg", "pegged", "wormhole"})
# Words that mark a copy only in a parenthesized suffix: "Golden Bridge Coin", "BSC Farm" and
# "Multichain" are coins, "USDC (Polygon PoS Bridge)" and "Uniswap (BSC)" are copies, and
# so is the pre-migration token "X [OLD]".
_COPY_SUFFIXES: Final = frozenset(
    {"bridge", "bsc", "bep20", "erc20", "polygon", "pos", "multichain", "axelar", "portal"}
    # A token replaced by a migration: "Sentinel [OLD]" is not "Sentinel".
    | {"old", "legacy", "deprecated"}
)


def _copy_words(coin: Candidate) -> frozenset[str]:
    folded = unicodedata.normalize("NFKD", coin.name).encode("ascii", "ignore").decode("ascii")
    folded = folded.lower()
    if "".join(_WORD.findall(folded)) == _symbol_core(coin):
        return frozenset()  # the name is just the symbol: it says nothing
    words = frozenset(_WORD.findall(folded)) & _COPY_WORDS
    suffixes = {
        w for part in _PARENTHESIZED.findall(folded) for w in _WORD.findall(part)
    } & _COPY_SUFFIXES
    return words | suffixes


def _copy_mismatch(a: Candidate, b: Candidate) -> bool:
    return _copy_words(a) != _copy_words(b)


def _names_compatible(a: Candidate, b: Candidate) -> bool:
    """Names that do not contradict each other: equal cores, or one name's significant words
    are all in the other ("Axie" and "Axie Infinity"), or CoinPaprika's id names the
    CoinGecko coin. A name that is just the symbol (CoinPaprika calls USD Coin "USDC") says
    nothing, unless CoinPaprika's id tells the name it was listed under. Never a copy
    ("Wrapped X") and a non-copy."""
    if _copy_mismatch(a, b):
        return False
    if _listed_as(a, b):
        return True
    name_a, name_b = _informative_name(a), _informative_name(b)
    if name_a is None or name_b is None:
        # Nothing to compare: a symbol and a market cap alone are not enough.
        return False
    if name_core(name_a) == name_core(name_b):
        return True
    words_a = {w for w in _words(name_a) if w not in _GENERIC_WORDS}
    words_b = {w for w in _words(name_b) if w not in _GENERIC_WORDS}
    if not (words_a and words_b) or not (words_a <= words_b or words_b <= words_a):
        return False
    # A version or a number tells coins apart: "Aave MANA v1" is not "Aave MANA".
    return not any(_VERSION.fullmatch(w) for w in words_a ^ words_b)


def _informative_name(coin: Candidate) -> str | None:
    if "".join(_words(coin.name)) != _symbol_core(coin):
        return coin.name
    listed = _listed_name(coin) if coin.source == CP else None
    return listed.replace("-", " ") if listed else None


_DEDUP_SUFFIX: Final = re.compile(r"-\d+$")
_VERSION: Final = re.compile(r"v?\d+")


def _listed_as(cg: Candidate, cp: Candidate) -> bool:
    """CoinPaprika's id keeps the name a coin was listed under (``<symbol>-<name-slug>``,
    QUIRKS.md), which survives a rename of its display name: ``bnt-bancor`` is still
    "Bancor" after a rebrand. True when that name is the CoinGecko coin's id or name (and
    is more than the symbol: ``stonk-stonk`` and CoinGecko's ``stonk`` say nothing)."""
    listed = _listed_name(cp)
    return bool(listed) and listed != _slug(cp.symbol) and listed in _names_of(cg)


def _names_of(cg: Candidate) -> set[str]:
    """A CoinGecko coin's name and id as slugs, without those that are just the symbol."""
    names = {_slug(cg.name), _DEDUP_SUFFIX.sub("", cg.id.lower())}
    return {n for n in names if n and n != _slug(cg.symbol)}


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "-".join(_WORD.findall(folded.lower()))


def _symbol_core(c: Candidate) -> str:
    return "".join(_WORD.findall(_symbol(c.symbol)))


# --- contracts --------------------------------------------------------------------------------


def _chains(contracts: Iterable[Chainaddr]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for chain, address in contracts:
        out[chain].add(address)
    return out


def _conflicting_chains(a: frozenset[Chainaddr], b: frozenset[Chainaddr]) -> list[str]:
    """Chains on which both list addresses and share none."""
    ca, cb = _chains(a), _chains(b)
    return sorted(chain for chain in ca.keys() & cb.keys() if not ca[chain] & cb[chain])


def _contradict(a: Candidate, b: Candidate) -> bool:
    return not (a.contracts & b.contracts) and bool(_conflicting_chains(a.contracts, b.contracts))


# --- the linker -------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    cg: dict[str, Candidate]
    cp: dict[str, Candidate]
    forbidden: set[tuple[str, str]]
    pairs: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)  # cg -> ..
    taken_cp: dict[str, str] = field(default_factory=dict)  # cp -> cg
    # Coins whose contract address belongs to a coin linked to another (see the docstring).
    explained: set[tuple[str, str]] = field(default_factory=set)
    # Coins with a same-symbol, same-name counterpart whose contracts contradict theirs: a
    # human decides (review); a market-cap tie-break with a third coin would be a guess.
    blocked: set[tuple[str, str]] = field(default_factory=set)
    review: dict[tuple[str, str], ReviewItem] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    deferred: int = 0

    def free(self, cg_id: str, cp_id: str) -> bool:
        return (
            cg_id in self.cg
            and cp_id in self.cp
            and cg_id not in self.pairs
            and cp_id not in self.taken_cp
            and (cg_id, cp_id) not in self.forbidden
        )

    def pair(self, cg_id: str, cp_id: str, method: str, evidence: dict[str, Any]) -> None:
        self.pairs[cg_id] = (cp_id, method, evidence)
        self.taken_cp[cp_id] = cg_id

    def propose(self, cg_id: str, cp_id: str, reason: str, evidence: dict[str, Any]) -> None:
        if (cg_id, cp_id) not in self.forbidden:
            self.review.setdefault((cg_id, cp_id), ReviewItem(cg_id, cp_id, reason, evidence))


def link_coins(
    coingecko: Sequence[Candidate],
    coinpaprika: Sequence[Candidate],
    *,
    decisions: Sequence[Decision] = (),
    prior: Sequence[PriorLink] = (),
    overrides: Iterable[tuple[str, str, str]] | None = None,
) -> LinkPlan:
    """Decide every listed coin's identity. Deterministic: the same input, the same plan.

    ``overrides``: (coingecko id, coinpaprika id, curated key) triples, default the curated
    table."""
    state = _State(
        cg={c.id: c for c in coingecko},
        cp={c.id: c for c in coinpaprika},
        forbidden={(d.coingecko_id, d.coinpaprika_id) for d in decisions if not d.accept},
    )
    curated = {
        cg_id: (cp_id, key)
        for cg_id, cp_id, key in (
            overrides
            if overrides is not None
            else ((c.coingecko, c.coinpaprika, c.key) for c in CURATED)
        )
    }
    _manual(state, decisions)
    for cg_id, (cp_id, key) in sorted(curated.items()):
        if state.free(cg_id, cp_id):
            state.pair(cg_id, cp_id, "override", {"curated_key": key})
    _by_contract(state)
    _sticky(state, prior)
    _by_symbol_name(state)
    _by_market_cap(state)
    links = _keyed_links(state, {cg: key for cg, (_, key) in curated.items()})
    review = [state.review[k] for k in sorted(state.review) if _still_open(state, *k)]
    return LinkPlan(links, review, state.anomalies, state.deferred)


def _still_open(state: _State, cg_id: str, cp_id: str) -> bool:
    return cg_id not in state.pairs and cp_id not in state.taken_cp


def _manual(state: _State, decisions: Sequence[Decision]) -> None:
    for d in decisions:
        if not d.accept:
            continue
        if d.coingecko_id not in state.cg or d.coinpaprika_id not in state.cp:
            continue  # not listed now; the decision stays stored for when it is
        if state.free(d.coingecko_id, d.coinpaprika_id):
            state.pair(d.coingecko_id, d.coinpaprika_id, "manual", dict(d.evidence))
        elif state.pairs.get(d.coingecko_id, ("",))[0] != d.coinpaprika_id:
            state.anomalies.append(
                Anomaly(
                    "conflicting_manual_decision",
                    CG,
                    "accepted pairing conflicts with an earlier accepted one",
                    (d.coingecko_id, d.coinpaprika_id),
                )
            )


def _address_owners(state: _State) -> dict[str, dict[Chainaddr, str]]:
    """(chain, address) -> the one coin of each API listing it. An address listed for two
    coins of one API is dropped and reported."""
    owners: dict[str, dict[Chainaddr, str]] = {}
    for source, coins in ((CG, state.cg), (CP, state.cp)):
        listed: dict[Chainaddr, list[str]] = defaultdict(list)
        for coin in coins.values():
            for ca in coin.contracts:
                listed[ca].append(coin.id)
        unique: dict[Chainaddr, str] = {}
        for ca, ids in sorted(listed.items()):
            if len(ids) == 1:
                unique[ca] = ids[0]
            else:
                state.anomalies.append(
                    Anomaly(
                        "contract_listed_for_two_coins",
                        source,
                        f"{ca[0]} {ca[1]}",
                        tuple(sorted(ids)),
                    )
                )
        owners[source] = unique
    return owners


def _contract_evidence(a: Candidate, b: Candidate, shared: Iterable[Chainaddr]) -> dict[str, Any]:
    return {
        "shared": [
            {
                "chain": chain,
                "address": address,
                "coingecko": list(a.spelled.get((chain, address), ("", address))),
                "coinpaprika": list(b.spelled.get((chain, address), ("", address))),
            }
            for chain, address in sorted(shared)
        ],
        "conflicting_chains": _conflicting_chains(a.contracts, b.contracts),
    }


def _by_contract(state: _State) -> None:
    owners = _address_owners(state)
    shared: dict[tuple[str, str], set[Chainaddr]] = defaultdict(set)
    for ca, cg_id in owners[CG].items():
        cp_id = owners[CP].get(ca)
        if cp_id is not None:
            shared[(cg_id, cp_id)].add(ca)

    def score(cg_id: str, cp_id: str) -> tuple[int, int, int, int]:
        a, b = state.cg[cg_id], state.cp[cp_id]
        return (
            len(shared[(cg_id, cp_id)]),
            _symbol(a.symbol) == _symbol(b.symbol),
            name_core(a.name) == name_core(b.name),
            -len(_conflicting_chains(a.contracts, b.contracts)),
        )

    options: dict[tuple[str, str], list[tuple[tuple[int, int, int, int], str]]] = defaultdict(list)

    def plausible(a: Candidate, b: Candidate) -> bool:
        if _copy_mismatch(a, b):
            return False
        if _symbol(a.symbol) == _symbol(b.symbol) or _names_compatible(a, b):
            return True
        # Only the contracts agree: a coin renamed with a new ticker on one API, or an
        # address listed under the wrong coin. Several shared addresses, or market caps
        # that agree, tell the first from the second.
        ratio = _cap_ratio(a, b)
        return len(shared[(a.id, b.id)]) >= 2 or (ratio is not None and ratio < CORE_CAP_RATIO)

    for cg_id, cp_id in shared:
        if state.free(cg_id, cp_id) and plausible(state.cg[cg_id], state.cp[cp_id]):
            s = score(cg_id, cp_id)
            options[(CG, cg_id)].append((s, cp_id))
            options[(CP, cp_id)].append((s, cg_id))

    def best(side: str, coin: str) -> str | None:
        ranked = sorted(options[(side, coin)], reverse=True)
        if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
            return None  # a tie: nothing tells the candidates apart
        return ranked[0][1]

    for cg_id, cp_id in sorted(shared):
        if not state.free(cg_id, cp_id):
            continue
        a, b = state.cg[cg_id], state.cp[cp_id]
        evidence = _contract_evidence(a, b, shared[(cg_id, cp_id)])
        if _copy_mismatch(a, b):
            # One API lists a bridged/wrapped copy's address under the original coin.
            state.propose(cg_id, cp_id, "contract_shared_with_a_copy", evidence)
        elif not plausible(a, b):
            state.propose(cg_id, cp_id, "contract_shared_but_nothing_else", evidence)
        elif best(CG, cg_id) == cp_id and best(CP, cp_id) == cg_id:
            state.pair(cg_id, cp_id, "contract", evidence)
        elif best(CG, cg_id) is None or best(CP, cp_id) is None:
            state.propose(cg_id, cp_id, "contract_shared_with_several_coins", evidence)
    # A coin sharing an address with a coin linked to someone else is that coin's look-alike.
    for cg_id, cp_id in shared:
        if cg_id in state.pairs and state.pairs[cg_id][0] != cp_id:
            state.explained.add((CP, cp_id))
        if cp_id in state.taken_cp and state.taken_cp[cp_id] != cg_id:
            state.explained.add((CG, cg_id))


def _sticky(state: _State, prior: Sequence[PriorLink]) -> None:
    for p in prior:
        if p.method in ("manual", "override", "contract", "new"):
            continue  # re-derived from their own evidence above
        if not state.free(p.coingecko_id, p.coinpaprika_id):
            continue
        a, b = state.cg[p.coingecko_id], state.cp[p.coinpaprika_id]
        if _contradict(a, b):
            continue
        # Kept as decided, evidence included: a relink that changes nothing writes nothing.
        state.pair(a.id, b.id, p.method, dict(p.evidence))


def _eligible(state: _State, a: Candidate, b: Candidate) -> bool:
    return (
        state.free(a.id, b.id)
        and (CG, a.id) not in state.explained
        and (CP, b.id) not in state.explained
        and not _contradict(a, b)
        and not _copy_mismatch(a, b)
    )


def _by_symbol_name(state: _State) -> None:
    groups: dict[tuple[str, str], tuple[list[Candidate], list[Candidate]]] = defaultdict(
        lambda: ([], [])
    )
    for side, coins in ((0, state.cg), (1, state.cp)):
        for coin in coins.values():
            if (coin.id in state.pairs) if side == 0 else (coin.id in state.taken_cp):
                continue
            groups[(_symbol(coin.symbol), name_core(coin.name))][side].append(coin)
    for (symbol, core), (cgs, cps) in sorted(groups.items()):
        for a in cgs:
            for b in cps:
                if state.free(a.id, b.id) and _contradict(a, b):
                    conflicting = _conflicting_chains(a.contracts, b.contracts)
                    evidence = {"symbol": symbol, "names": [a.name, b.name]}
                    state.propose(
                        a.id,
                        b.id,
                        "same_name_but_contracts_differ",
                        {**evidence, "conflicting_chains": conflicting},
                    )
                    state.blocked |= {(CG, a.id), (CP, b.id)}
        pair: tuple[Candidate, Candidate] | None
        if len(cgs) == 1 and len(cps) == 1:
            pair = (cgs[0], cps[0])
        else:
            # Several coins share the core ("Rise" and "Rise Protocol"): the one pair whose
            # full names are equal, if there is exactly one, is the match.
            exact = [
                (a, b)
                for a in cgs
                for b in cps
                if identity_key(a.symbol, a.name) == identity_key(b.symbol, b.name)
            ]
            pair = exact[0] if len(exact) == 1 and _closest(*exact[0], cgs, cps) else None
        if pair is not None and _eligible(state, *pair) and _names_say_same(*pair):
            a, b = pair
            evidence = {"symbol": symbol, "name_core": core, "names": [a.name, b.name]}
            ratio = _cap_ratio(a, b)
            same_name = _plain_name(a.name) == _plain_name(b.name)
            bare = _is_symbol_only(a) or _is_symbol_only(b)  # "Celo" and "Celo Coin"
            if not (same_name or bare or _listed_as(a, b)):
                # Names equal only once generic words are dropped: "Theta Token" is "Theta
                # Network", but "Fire Protocol" is not "Fire Token", and market caps in the
                # long tail agree by chance. Settled when CoinPaprika's id names the coin as
                # CoinGecko does (theta-theta-token), else a human decides.
                cap = {"cap_ratio": round(ratio, 2)} if ratio is not None else {}
                state.propose(a.id, b.id, "names_differ_in_a_generic_word", {**evidence, **cap})
                continue
            if ratio is not None and ratio >= MAX_CAP_RATIO:
                # Same name, market caps an order of magnitude apart: a namesake, most likely.
                state.propose(
                    a.id,
                    b.id,
                    "same_name_but_market_caps_differ",
                    {**evidence, "cap_ratio": round(ratio, 2)},
                )
            else:
                state.pair(a.id, b.id, "symbol_name", evidence)
        # Otherwise the market-cap tie-break below looks at them.
    _by_listed_name(state)


def _names_say_same(a: Candidate, b: Candidate) -> bool:
    """Whether two names whose cores are equal name one coin as far as names go. A name
    that is just the symbol ("Celo", "TAO") matches the other name only when CoinPaprika's
    id does not list the coin under a different name ("tao-taodao" is not "Tao Network")."""
    if not (_is_symbol_only(a) or _is_symbol_only(b)):
        return True
    listed = _listed_name(b)
    return listed is None or listed == _slug(b.symbol) or listed in _names_of(a)


def _is_symbol_only(coin: Candidate) -> bool:
    return "".join(_words(coin.name)) == _symbol_core(coin)


def _listed_name(cp: Candidate) -> str | None:
    symbol = _slug(cp.symbol)
    if not symbol or not cp.id.startswith(symbol + "-"):
        return None
    return _DEDUP_SUFFIX.sub("", cp.id[len(symbol) + 1 :]) or None


def _by_listed_name(state: _State) -> None:
    """Same symbol, and the name CoinPaprika listed the coin under (kept in its id) is the
    CoinGecko coin's name or id, exactly: one candidate each way."""
    by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    for coin in state.cg.values():
        if coin.id not in state.pairs:
            for name in _names_of(coin):
                by_name[(_symbol(coin.symbol), name)].add(coin.id)
    wanted: dict[str, list[str]] = defaultdict(list)
    for coin in state.cp.values():
        listed = _listed_name(coin)
        if coin.id in state.taken_cp or not listed or listed == _slug(coin.symbol):
            continue  # an id that is the symbol twice ("stonk-stonk") names nothing
        for cg_id in by_name.get((_symbol(coin.symbol), listed), ()):
            wanted[cg_id].append(coin.id)
    for cg_id, cp_ids in sorted(wanted.items()):
        if len(cp_ids) != 1 or sum(cp_ids[0] in v for v in wanted.values()) != 1:
            continue
        a, b = state.cg[cg_id], state.cp[cp_ids[0]]
        ratio = _cap_ratio(a, b)
        if _eligible(state, a, b) and (ratio is None or ratio < MAX_CAP_RATIO):
            evidence = {"symbol": _symbol(a.symbol), "names": [a.name, b.name]}
            state.pair(a.id, b.id, "symbol_name", {**evidence, "listed_as": _listed_name(b)})


def _closest(
    a: Candidate, b: Candidate, cgs: Sequence[Candidate], cps: Sequence[Candidate]
) -> bool:
    """No rival of ``a`` or ``b`` has a market cap as close to its partner's as theirs (a
    shortened name on one API can equal another coin's full name: "Mars Network" is "Mars"
    on CoinPaprika, where CoinGecko also lists a "Mars"). A coin whose market data the store
    does not hold yet (``None``) could be that rival: undecided until it does. A reported
    market cap of 0 (an unranked coin) compares with nothing."""
    coins = [a, b, *cgs, *cps]
    if any(c.market_cap is None for c in coins):
        return False
    ratio = _cap_ratio(a, b)
    rivals = [_cap_ratio(x, b) for x in cgs if x is not a]
    rivals += [_cap_ratio(a, y) for y in cps if y is not b]
    return all(r is None or (ratio is not None and r > ratio) for r in rivals)


def _cap_ratio(a: Candidate, b: Candidate) -> float | None:
    if not a.market_cap or not b.market_cap or a.market_cap <= 0 or b.market_cap <= 0:
        return None
    high, low = max(a.market_cap, b.market_cap), min(a.market_cap, b.market_cap)
    return float(high / low)


def _rank_close(a: Candidate, b: Candidate) -> bool:
    if a.rank is None or b.rank is None:
        return True  # unknown says nothing
    low, high = sorted((a.rank, b.rank))
    return high - low <= 25 or high <= 1.5 * low


def _tiebreak_evidence(a: Candidate, b: Candidate, ratio: float, rivals: int) -> dict[str, Any]:
    return {
        "symbol": _symbol(a.symbol),
        "names": [a.name, b.name],
        "market_cap": [str(a.market_cap), str(b.market_cap)],
        "cap_ratio": round(ratio, 4),
        "log10_gap": round(math.log10(ratio), 4),
        "rank": [a.rank, b.rank],
        "candidates": rivals,
    }


def _by_market_cap(state: _State) -> None:
    by_symbol: dict[str, tuple[list[Candidate], list[Candidate]]] = defaultdict(lambda: ([], []))
    for coin in state.cg.values():
        if coin.id not in state.pairs:
            by_symbol[_symbol(coin.symbol)][0].append(coin)
    for coin in state.cp.values():
        if coin.id not in state.taken_cp:
            by_symbol[_symbol(coin.symbol)][1].append(coin)
    for _, (cgs, cps) in sorted(by_symbol.items()):
        if not cgs or not cps:
            continue
        plausible: dict[tuple[str, str], float] = {}
        # Coins with a candidate whose market cap is unknown: that candidate could be the
        # right one, so nothing is decided for them until the store has the numbers.
        waiting: set[tuple[str, str]] = set()
        for a in sorted(cgs, key=lambda c: c.id):
            for b in sorted(cps, key=lambda c: c.id):
                if not _eligible(state, a, b):
                    continue
                if (CG, a.id) in state.blocked or (CP, b.id) in state.blocked:
                    continue
                ratio = _cap_ratio(a, b)
                if ratio is None:
                    waiting |= {(CG, a.id), (CP, b.id)}
                    continue
                if ratio < MAX_CAP_RATIO and _rank_close(a, b) and _names_compatible(a, b):
                    plausible[(a.id, b.id)] = ratio
        undecided = {
            pair: ratio
            for pair, ratio in plausible.items()
            if (CG, pair[0]) not in waiting and (CP, pair[1]) not in waiting
        }
        state.deferred += len({cg for cg, _ in plausible} - {cg for cg, _ in undecided})
        state.deferred += len({cid for side, cid in waiting if side == CG} - set(plausible))
        _decide_tiebreaks(state, undecided)


def _decide_tiebreaks(state: _State, plausible: dict[tuple[str, str], float]) -> None:
    """Link each pair that is the only plausible one for both coins, or clearly the closest
    for both; propose the rest for review."""
    per_cg: dict[str, list[tuple[float, str]]] = defaultdict(list)
    per_cp: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for (cg_id, cp_id), ratio in plausible.items():
        per_cg[cg_id].append((ratio, cp_id))
        per_cp[cp_id].append((ratio, cg_id))

    def clear(options: list[tuple[float, str]], other: str) -> bool:
        options = sorted(options)
        if options[0][1] != other or options[0][0] > CLEAR_CAP_RATIO:
            return False
        return len(options) == 1 or options[1][0] >= RIVAL_CAP_RATIO

    for (cg_id, cp_id), ratio in sorted(plausible.items(), key=lambda kv: (kv[1], kv[0])):
        if not state.free(cg_id, cp_id):
            continue
        a, b = state.cg[cg_id], state.cp[cp_id]
        rivals = len(per_cg[cg_id]) + len(per_cp[cp_id]) - 1
        evidence = _tiebreak_evidence(a, b, ratio, rivals)
        if clear(per_cg[cg_id], cp_id) and clear(per_cp[cp_id], cg_id):
            state.pair(cg_id, cp_id, "market_cap_tiebreak", evidence)
        else:
            state.propose(cg_id, cp_id, "several_coins_share_the_symbol", evidence)


def _keyed_links(state: _State, curated: Mapping[str, str]) -> list[Link]:
    """Every coin's link, with an identity key that no other group holds: a pair's is its
    curated key or the CoinGecko coin's ``symbol:name`` key (what loading it without
    reference data would have used), a lone coin's its own; a key wanted twice goes to the
    stronger group (pairs before lone coins, then better rank) and the other group gets its
    source-scoped key, like the loader's ``ambiguous`` keys."""
    groups: list[tuple[tuple[Any, ...], str, list[Link]]] = []
    strength = {"manual": 0, "override": 0, "contract": 1, "symbol_name": 2}
    for cg_id, (cp_id, method, evidence) in state.pairs.items():
        a, b = state.cg[cg_id], state.cp[cp_id]
        natural = curated.get(cg_id) if method == "override" else None
        natural = natural or identity_key(a.symbol, a.name)
        order = (0, strength.get(method, 3), _rank(a, b), cg_id)
        groups.append(
            (
                order,
                natural,
                [
                    Link(CG, cg_id, "", method, cp_id, evidence),
                    Link(CP, cp_id, "", method, cg_id, evidence),
                ],
            )
        )
    for source, coins, taken in ((CG, state.cg, state.pairs), (CP, state.cp, state.taken_cp)):
        for coin in coins.values():
            if coin.id in taken:
                continue
            natural = curated.get(coin.id, "") if source == CG else ""
            natural = natural or identity_key(coin.symbol, coin.name)
            order = (1, 0, _rank(coin), f"{source}:{coin.id}")
            groups.append((order, natural, [Link(source, coin.id, "", "new", None, {})]))
    groups.sort(key=lambda g: g[0])
    claimed: set[str] = set()
    out: list[Link] = []
    for _, natural, members in groups:
        key = natural if natural not in claimed else f"{members[0].source}:{members[0].id}"
        claimed.add(key)
        out.extend(Link(m.source, m.id, key, m.method, m.counterpart, m.evidence) for m in members)
    return out


def _rank(*coins: Candidate) -> int:
    ranks = [c.rank for c in coins if c.rank is not None]
    return min(ranks) if ranks else 1 << 30
