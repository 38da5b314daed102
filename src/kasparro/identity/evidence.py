"""Weighing the evidence that two listings are one coin (pure).

A pair's score is the sum of the weights below, each a rough log-odds: how much more often
the observation holds for two listings of one coin than for two different coins that share
a symbol, a name or an id word (the pairs the linker compares). They were set from the real
lists and the crosswalk (``tests/fixtures/identity/crosswalk.csv``, DATA_QUALITY.md) and
checked on the emulator's universes; the thresholds live in :mod:`kasparro.identity.linking`
(link at 6, review from 5, a clear winner by 2).

**Contracts** (the strongest evidence: an address names one token on one chain)

- ``same_contract`` +8 for one shared address on one canonical chain, +2 per further one
  (at most +12). Only addresses each source lists for a single coin count: an address one
  source lists for two coins proves nothing (an anomaly).
- ``contracts_differ``: both list addresses on a chain and share none anywhere: never linked
  automatically (on-chain they are different tokens), -1 per such chain next to a shared one.
- ``address_of_another_coin`` -4: one of them shares an address with a *different* coin of
  the other source: that coin is the address's owner, this one its look-alike.

**Names** (``identity.names``)

The first that holds counts:

- ``same_name`` +4 (case, punctuation, spacing and a parenthesized suffix aside: "Rock N
  Rain Coin" / "RocknRainCoin", "PlayCoin (QRC-20)" / "PlayCoin [QRC20]");
- ``same_name_core`` +2 (generic words such as "Token" or "Network" aside too: "KuCoin" /
  "KuCoin Token"; weaker than the same name, since "Clover" and "Clover Finance" are two
  coins);
- ``name_within_name`` +1.5 (one name's words all in the other's: "Axie" / "Axie
  Infinity");
- ``same_name_as_symbol`` +2.5 when a name that is just the symbol equals the other's name
  ("HEX" / "HEX"), +2 its core ("SIX" / "SIX Network"); a name that is just the symbol
  and differs says nothing, nor do its marks ("WAULT" is not a new token against "Wault
  Finance (OLD)").

Besides:

- ``names_differ`` -1.5: no significant word in common, unless an id explains it (renames).
- ``name_is_the_other_symbol`` +1 ("Toncoin" / TONCOIN), when the names differ.

**Ids** (what an id encodes, ``names.id_names``; they keep the first-listed name, so they
survive renames: CoinGecko ``omisego`` is "OMG Network", CoinPaprika ``omg-omisego``). The
first that holds counts:

- ``ids_same_name`` +4 (both ids name the same thing); +3 only once dashes are dropped
  (``morpheus-network`` / ``mrph-morpheusnetwork``), and nothing then when the names differ
  by the same spacing: that is one fact, not two (of "Chess Coin" / "ChessCoin" listed on
  both APIs, the pairs spelled alike win); +2.5 when that name is one side's symbol
  (``ethos`` / ``ethos-ethos`` for a coin now called VGX);
- ``ids_same_words`` +3 (the same words in another order, each as often: ``luna-terra`` /
  ``terra-luna``, not ``echo-token`` / ``echo-token-echo``);
- ``id_within_id`` +2.5 (one id's name is a run of the other id's words:
  ``toncoin-the-open-network`` / ``the-open-network``);
- ``ids_are_the_symbol`` +1.5 (both ids are just the symbol: ``aave`` / ``aave-new``);
- ``ids_share_a_word`` +1 (a word that is neither generic nor the symbol, when the names
  differ: a clue to a rename; with names that agree it is the same word counted twice).

Besides:

- ``name_is_the_other_id`` +3: one's name is the other's id name (renamed coins: CoinPaprika
  "OmiseGO" / CoinGecko ``omisego``); only when the names themselves differ and the ids'
  agreement has not counted it already (else it is the same fact counted twice).
- ``ids_differ`` -1: both ids name more than their symbol, with no word in common, and
  nothing else about the names agrees.

**Symbols**: ``same_symbol`` +2 (symbols collide a lot: never enough alone);
``symbol_within_symbol`` -1 (TON / TONCOIN); ``symbols_differ`` -2.5 (tickers do change:
XZC / FIRO), -1.5 for a rebrand (names differ and the ids name the same thing: a new name
and a new ticker go together; with the same names, "Helium" HNT / "Helium" HLM, a ticker
that differs keeps its full weight).

**Copies and versions**: a bridged, pegged or wrapped copy and an original (``copy_and_
original``), or names with different versions or numbers ("v1", "2") and no shared
contract (``versions_differ``), are never linked automatically. A migrated token's old
contract ("X [OLD]") against a name without the mark: ``old_and_new`` -5.

**Market** (only where both sides know the number; weak, never a veto: aggregators disagree
on supplies and show 0 for a missing one, so a disagreement lowers a score, it does not
block a pair that names and ids support). "Top" means both ranks within 500, where caps are
sparse enough that agreement by chance is rare (about 4 % of random top pairs fall within
25 % of each other, against most listings of one coin: about +3).

- ``market_caps_agree`` within 25 %: +1.5 (top: +3.5); within 1.5x: top only, +2.5;
  within 2x: +0.5 (top: +1.5). In the long tail caps crowd together: unrelated coins fall
  within 25 % of each other often enough that agreement there only tips a pair the names
  already support.
- ``market_caps_differ`` over 10x: -1, over 100x: -2 (-3 when either is a top coin: a top
  coin's listing is not worth a hundredth of it elsewhere).
- Ranks follow caps, so they count only where one cap is missing or 0 (CoinPaprika's list
  rank is reference data): ``ranks_close`` (within 1.5x or 20 places) +1 (top: +1.5),
  ``ranks_far`` (over 5x and 100 places apart) -1.5 (-2.5 when the better is in the top).
- So the market part lies within [-3, +3.5]: a pair whose names and ids agree (about +10)
  still links when the caps disagree; a symbol alone with agreeing caps (+5.5) does not.

**Detail** (per-coin pages, fetched only for undecided pairs): ``same_homepage`` +5,
``different_homepages`` -2, ``same_explorer_token`` +6 (an explorer link to the same token
address, or to the other's contract).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, NamedTuple

from kasparro.identity import names as nm
from kasparro.identity.detail import explorer_addresses, homepage_sites
from kasparro.identity.model import Candidate, Chainaddr

__all__ = ["Evidence", "Profile", "Scored", "profile", "score_pair"]

TOP_RANK: Final = 500
_PAGE_KINDS: Final = frozenset({"same_homepage", "different_homepages", "same_explorer_token"})


class Evidence(NamedTuple):
    kind: str
    weight: float
    detail: str


@dataclass(frozen=True, slots=True)
class Scored:
    score: float
    evidence: tuple[Evidence, ...]
    veto: str | None  # why it can never link automatically
    market: float  # the market evidence's part of the score
    shared: int  # shared contract addresses

    def weighed(self, sign: int) -> tuple[dict[str, object], ...]:
        """The evidence for (sign 1) or against (sign -1), strongest first, as dicts."""
        picked = [e for e in self.evidence if (e.weight > 0) == (sign > 0) and e.weight != 0]
        picked.sort(key=lambda e: (-abs(e.weight), e.kind, e.detail))
        return tuple({"kind": e.kind, "weight": e.weight, "detail": e.detail} for e in picked)

    @property
    def paged(self) -> float:
        """What the coins' own pages add or take (homepages, explorer token pages)."""
        return sum(e.weight for e in self.evidence if e.kind in _PAGE_KINDS)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the scorer reads of one coin, computed once."""

    coin: Candidate
    scheme: str | None  # how its source's ids are built (names.ID_SCHEMES)
    symbol: str
    spelled: str  # the name as written, case and spacing aside
    plain: str
    core: str
    words: frozenset[str]
    symbol_only: bool
    copies: frozenset[str]
    old: frozenset[str]
    versions: frozenset[str]
    id_names: frozenset[str]
    id_tokens: tuple[str, ...]  # sorted: "luna-terra" and "terra-luna" are the same words
    name_slug: str
    chains: Mapping[str, frozenset[str]]
    sites: frozenset[str]
    explorer: frozenset[str]


def profile(coin: Candidate, taken_ids: frozenset[str]) -> Profile:
    """``taken_ids``: the source's ids; an id whose ``-N`` suffix is dropped must not then
    claim another coin's id (CoinGecko ``terra-luna-2`` is not ``terra-luna``)."""
    id_names = nm.id_names(coin.source, coin.id, coin.name, taken=taken_ids)
    tokens = nm.strip_number(list(nm.id_tokens(coin.id)), coin.name, taken_ids)
    chains: dict[str, set[str]] = defaultdict(set)
    for chain, address in coin.contracts:
        chains[chain].add(address)
    versions = nm.version_marks(coin.name)
    symbol_only = nm.is_symbol_only(coin.name, coin.symbol)
    return Profile(
        coin=coin,
        scheme=nm.ID_SCHEMES.get(coin.source),
        symbol=nm.symbol_key(coin.symbol),
        spelled=" ".join(coin.name.casefold().split()),
        plain=nm.plain_name(coin.name),
        core=nm.name_core(coin.name),
        words=nm.informative_words(coin.name),
        symbol_only=symbol_only,
        copies=nm.copy_marks(coin.name, coin.symbol),
        old=nm.old_marks(coin.name),
        versions=frozenset() if symbol_only else versions,
        id_names=id_names,
        id_tokens=tuple(sorted(tokens)),
        name_slug=nm.slug(coin.name),
        chains={k: frozenset(v) for k, v in chains.items()},
        sites=homepage_sites(coin.detail),
        explorer=explorer_addresses(coin.detail),
    )


Owners = Mapping[str, Mapping[Chainaddr, str]]  # source -> address -> its one coin's id


def score_pair(a: Profile, b: Profile, owners: Owners) -> Scored:
    ev: list[Evidence] = []
    veto = None
    shared = _contracts(a, b, owners, ev)
    if shared == 0 and _conflicting(a, b):
        veto = "contracts_differ"
    if a.copies != b.copies:
        veto = veto or "copy_and_original"
        ev.append(Evidence("copy_and_original", 0.0, f"{sorted(a.copies)} / {sorted(b.copies)}"))
    if a.versions != b.versions and shared == 0:
        veto = veto or "versions_differ"
        ev.append(Evidence("versions_differ", 0.0, f"{sorted(a.versions)} / {sorted(b.versions)}"))
    if a.old != b.old and not (a.symbol_only or b.symbol_only):  # a bare symbol says nothing
        ev.append(Evidence("old_and_new", -5.0, f"{a.coin.name} / {b.coin.name}"))
    _names_and_ids(a, b, ev)
    market = _market(a.coin, b.coin, ev)
    _detail(a, b, ev)
    score = round(sum(e.weight for e in ev), 3)
    return Scored(score, tuple(ev), veto, market, shared)


def _contracts(a: Profile, b: Profile, owners: Owners, ev: list[Evidence]) -> int:
    own_a, own_b = owners.get(a.coin.source, {}), owners.get(b.coin.source, {})
    shared = sorted(
        ca
        for ca in a.coin.contracts & b.coin.contracts
        if own_a.get(ca) == a.coin.id and own_b.get(ca) == b.coin.id
    )
    if shared:
        weight = min(8.0 + 2.0 * (len(shared) - 1), 12.0)
        ev.append(Evidence("same_contract", weight, ", ".join(f"{c} {x}" for c, x in shared)))
        for chain in _conflicting(a, b):
            ev.append(Evidence("contracts_differ", -1.0, chain))
    for mine, theirs, other in ((a, own_b, b), (b, own_a, a)):
        elsewhere = sorted(
            {
                theirs[ca]
                for ca in mine.coin.contracts
                if theirs.get(ca, other.coin.id) != other.coin.id
            }
        )
        if elsewhere:
            detail = f"{mine.coin.id} shares an address with {elsewhere[0]}"
            ev.append(Evidence("address_of_another_coin", -4.0, detail))
    return len(shared)


def _conflicting(a: Profile, b: Profile) -> list[str]:
    return sorted(c for c in a.chains.keys() & b.chains.keys() if not a.chains[c] & b.chains[c])


def _symbols(a: Profile, b: Profile, ev: list[Evidence], *, rebranded: bool) -> None:
    sa, sb = a.symbol, b.symbol
    if not sa or not sb:
        return
    if sa == sb:
        ev.append(Evidence("same_symbol", 2.0, sa))
    elif sa.startswith(sb) or sb.startswith(sa):
        ev.append(Evidence("symbol_within_symbol", -1.0, f"{sa} / {sb}"))
    elif rebranded:
        ev.append(Evidence("symbols_differ", -1.5, f"{sa} / {sb} (a rebrand: ids agree)"))
    else:
        ev.append(Evidence("symbols_differ", -2.5, f"{sa} / {sb}"))


def _names_and_ids(a: Profile, b: Profile, ev: list[Evidence]) -> None:
    pair = f"{a.coin.name} / {b.coin.name}"
    named = _names(a, b, pair, ev)
    respelled = a.plain == b.plain and a.spelled != b.spelled
    ids = _ids(a, b, ev, named=named > 0, respelled=respelled)
    # Names and ticker both changed while both ids keep the first name: a rebrand, whose new
    # ticker says less against the pair than a ticker that differs for no reason.
    _symbols(a, b, ev, rebranded=named == 0 and ids >= 3.0)
    crossed = False
    if named == 0:  # names that differ: a rename the other's id may explain
        for x, y in ((a, b), (b, a)):
            if ids >= 3.0 and x.name_slug in x.id_names:
                continue  # its name is its id's, which the ids' agreement counted already
            if x.name_slug and not x.symbol_only and x.name_slug in y.id_names:
                ev.append(Evidence("name_is_the_other_id", 3.0, f"{x.coin.name} / {y.coin.id}"))
                crossed = True
                break
    if a.symbol != b.symbol and named == 0:
        for x, y in ((a, b), (b, a)):
            if x.plain and not x.symbol_only and x.plain == "".join(nm.words(y.coin.symbol)):
                ev.append(Evidence("name_is_the_other_symbol", 1.0, f"{x.coin.name} / {y.symbol}"))
                break
    explained = bool(ids) or crossed
    informative = not (a.symbol_only or b.symbol_only)
    if named == 0 and not explained and informative and a.words and not a.words & b.words:
        ev.append(Evidence("names_differ", -1.5, pair))
    both_name = _names_something(a) and _names_something(b)
    shared = set(a.id_tokens) & set(b.id_tokens)
    if not explained and named < 2.0 and both_name and not shared:
        ev.append(Evidence("ids_differ", -1.0, f"{a.coin.id} / {b.coin.id}"))


def _names_something(p: Profile) -> bool:
    """Its id names more than its symbol."""
    return bool(p.id_names - {nm.slug(p.coin.symbol)})


def _names(a: Profile, b: Profile, pair: str, ev: list[Evidence]) -> float:
    if a.symbol_only or b.symbol_only:
        if a.plain == b.plain:
            ev.append(Evidence("same_name_as_symbol", 2.5, pair))
            return 2.5
        if a.core == b.core:
            ev.append(Evidence("same_name_as_symbol", 2.0, f"{pair} (a generic word aside)"))
            return 2.0
        return 0.0
    if a.plain == b.plain:
        ev.append(Evidence("same_name", 4.0, pair))
        return 4.0
    if a.core == b.core:
        ev.append(Evidence("same_name_core", 2.0, pair))
        return 2.0
    if a.words and b.words and (a.words <= b.words or b.words <= a.words):
        ev.append(Evidence("name_within_name", 1.5, pair))
        return 1.5
    return 0.0


def _ids(a: Profile, b: Profile, ev: list[Evidence], *, named: bool, respelled: bool) -> float:
    if a.scheme is None or b.scheme is None:
        return 0.0  # a source whose ids encode nothing known
    symbols = {nm.slug(a.coin.symbol), nm.slug(b.coin.symbol)}
    joined = {s.replace("-", "") for s in symbols}
    # Compared without dashes: ``morpheus-network`` is ``mrph-morpheusnetwork``'s name.
    same = sorted(
        {n.replace("-", "") for n in a.id_names} & {n.replace("-", "") for n in b.id_names}
    )
    pair = f"{a.coin.id} / {b.coin.id}"
    if same and not any(n in joined for n in same):
        if a.id_names & b.id_names:
            ev.append(Evidence("ids_same_name", 4.0, pair))
            return 4.0
        if respelled:
            return 0.0  # the names' spelling difference again ("chess-coin" / "chesscoin")
        ev.append(Evidence("ids_same_name", 3.0, f"{pair} (dashes aside)"))
        return 3.0
    if same and a.symbol != b.symbol:
        # The shared name is one side's symbol: CoinGecko ``ethos`` (now VGX) / ``ethos-ethos``.
        ev.append(Evidence("ids_same_name", 2.5, pair))
        return 2.5
    if len(a.id_tokens) > 1 and a.id_tokens == b.id_tokens:
        ev.append(Evidence("ids_same_words", 3.0, pair))
        return 3.0
    for x, y in ((a, b), (b, a)):
        for name in sorted(x.id_names):
            parts = name.split("-")
            if len(parts) >= 2 and name not in symbols and _run_of(parts, y):
                ev.append(Evidence("id_within_id", 2.5, pair))
                return 2.5
    if a.symbol == b.symbol and _only_symbol(a) and _only_symbol(b):
        ev.append(Evidence("ids_are_the_symbol", 1.5, pair))
        return 1.5
    words_a = {w for n in a.id_names for w in n.split("-")} - nm.GENERIC_WORDS - symbols
    words_b = {w for n in b.id_names for w in n.split("-")} - nm.GENERIC_WORDS - symbols
    if words_a & words_b and not named:  # with names that agree, the same word twice
        ev.append(Evidence("ids_share_a_word", 1.0, f"{pair}: {min(words_a & words_b)}"))
        return 1.0
    return 0.0


def _only_symbol(p: Profile) -> bool:
    """The id encodes the symbol and nothing else (``aave``, ``aave-new``, ``hex-hex``)."""
    symbol = nm.slug(p.coin.symbol)
    tokens = nm.id_tokens(p.coin.id)
    return bool(tokens) and tokens[0] == symbol.replace("-", "") and p.id_names <= {symbol}


def _run_of(parts: list[str], other: Profile) -> bool:
    """``parts`` are the first or last words of a name the other's id encodes."""
    n = len(parts)
    runs = [x.split("-") for x in other.id_names]  # never the symbol part of the id
    return any(len(t) > n and (t[:n] == parts or t[-n:] == parts) for t in runs)


def _ratio(x: Decimal, y: Decimal) -> float:
    high, low = max(x, y), min(x, y)
    return float(high / low)


def _market(a: Candidate, b: Candidate, ev: list[Evidence]) -> float:
    ranks = [r for r in (a.rank, b.rank) if r]
    top = len(ranks) == 2 and max(ranks) <= TOP_RANK  # both: agreement by chance is rare
    one_top = bool(ranks) and min(ranks) <= TOP_RANK  # one: a top coin is not 100x smaller
    items: list[Evidence] = []
    if a.market_cap and b.market_cap and a.market_cap > 0 and b.market_cap > 0:
        r = _ratio(a.market_cap, b.market_cap)
        detail = f"{a.market_cap} / {b.market_cap} ({r:.3g}x)"
        if r <= 1.25:
            items.append(Evidence("market_caps_agree", 3.5 if top else 1.5, detail))
        elif r <= 1.5 and top:
            items.append(Evidence("market_caps_agree", 2.5, detail))
        elif r <= 2:
            items.append(Evidence("market_caps_agree", 1.5 if top else 0.5, detail))
        elif r > 100:
            items.append(Evidence("market_caps_differ", -3.0 if one_top else -2.0, detail))
        elif r > 10:
            items.append(Evidence("market_caps_differ", -1.0, detail))
    elif a.rank and b.rank:
        # Ranks follow caps: they only speak where a cap is missing on one side.
        low, high = sorted((a.rank, b.rank))
        detail = f"{a.rank} / {b.rank}"
        if high <= 1.5 * low or high - low <= 20:
            items.append(Evidence("ranks_close", 1.5 if top else 1.0, detail))
        elif high > 5 * low and high - low > 100:
            items.append(Evidence("ranks_far", -2.5 if low <= TOP_RANK else -1.5, detail))
    ev.extend(items)
    return sum(e.weight for e in items)


def _detail(a: Profile, b: Profile, ev: list[Evidence]) -> None:
    if a.sites and b.sites:
        same = sorted(a.sites & b.sites)
        if same:
            ev.append(Evidence("same_homepage", 5.0, same[0]))
        else:
            ev.append(Evidence("different_homepages", -2.0, f"{min(a.sites)} / {min(b.sites)}"))
    addresses_a = a.explorer | {x for _, x in a.coin.contracts}
    addresses_b = b.explorer | {x for _, x in b.coin.contracts}
    if (a.explorer & addresses_b) or (b.explorer & addresses_a):
        token = min((a.explorer & addresses_b) | (b.explorer & addresses_a))
        ev.append(Evidence("same_explorer_token", 6.0, token))
