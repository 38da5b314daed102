"""Cross-source identity v3: which listings of any number of sources are one coin (pure).

Input: every coin each source lists (:class:`Candidate`: reference data, latest market data,
per-coin detail where fetched), the human decisions and the curated overrides. Output: a
:class:`LinkPlan`: one :class:`Link` per coin (its asset's key, how it joined, the evidence),
the pairings left to a human (:class:`ReviewItem`, with the evidence for and against), bad
reference data (:class:`Anomaly`) and the undecided pairs whose per-coin pages would settle
them (``detail_wanted``).

**A function of its inputs.** No earlier automatic link is an input, candidates are indexed
and sorted before anything is decided and every tie is broken by ids, never by input order:
the grouping depends on the current reference data, market data and decisions only, not on
the order they arrived in, and relinking unchanged data changes nothing (one relink is the
fixpoint). Human decisions are inputs, so they stay sticky.

**Order of decisions.** An asset holds at most one coin per source.

1. ``manual``: accepted decisions (earliest first; one that would put two coins of one source
   in an asset is an anomaly). Rejected decisions forbid a pairing for good.
2. ``override``: the curated table (key -> {source: id}), where no decision contradicts it.
3. Weighed evidence (:mod:`kasparro.identity.evidence`) for every pair of coins of two
   sources that share a symbol, a name, an id word, an address, a homepage or an explorer
   token (blocks of more than ``MAX_BLOCK`` coins of one source are too common to compare).
   A pair links when it is *clear*: its score is at least ``LINK_AT`` (6) and beats every
   rival pairing of either coin with the other's source by ``MARGIN`` (2). Rivals that are
   dead (inactive, no market data) do not count against a live pair; rivals already taken
   by another coin of the same source do not count either, so decisions propagate: passes
   repeat until nothing more links (each pass decides from the previous one's result, so
   the outcome is still order-free). Market data settles a conflict between names and
   market: a pair the market *backs* (``MARKET_BACKED``: caps within 25 % among the top
   coins) scoring at least ``LINK_AT - MARGIN`` wins over better-named rivals the market
   *contradicts* (``MARKET_CONTRADICTED``: caps 100x apart, or ranks far apart, among the top
   coins), and a contradicted pair never wins over a backed rival: a ranked listing beats a
   dead duplicate with the same name (CoinGecko "WOO Network" is CoinPaprika's ranked
   "Wootrade", not its unranked "WOO Network" copy). Contradicted is not vetoed: without a
   backed rival, a pair whose names and ids agree still links.
   Why 6: a symbol (+2) and a name (+4) together, or an id and a name, or a contract; never
   a symbol alone, nor a symbol with agreeing market data alone (+2 +3.5). Why 2: one piece
   of moderate evidence between the best two candidates. Why 3.5 and -2.5: the strongest
   market evidence either way (caps within 25 % among the top coins; caps 100x apart or
   ranks far apart next to a top coin).
4. Review: open pairs (neither coin has a partner of the other's source) scoring at least
   ``REVIEW_FROM`` (5: more than a symbol and a name that is just the symbol), including
   clear-enough pairs left ambiguous by a rival, and exactly named pairs with different
   addresses on one chain; only the best pairing per coin (``REVIEW_PER_COIN``), never a
   dead coin (inactive, no market data) and never two coins without market data: nothing
   trades under them, and a queue a human can work through holds what matters.
   ``detail_wanted`` lists the same pairs, and the weaker ones from ``DETAIL_FROM`` (4), whose
   coins' detail pages are not in yet, best first, then their rival pairings: a shared
   homepage (+5) or explorer token (+6) links them, different homepages (-2) drop them, at
   the next relink. What a pair's pages add does not count against a rival whose own page
   is not in yet or lists no site (it could show the same one: a dead duplicate listing of
   the same project does), nor for an inactive listing against an active rival.

Never linked automatically: two coins of one source; a bridged, pegged or wrapped copy and
its original; names with different versions; coins listing different addresses on one chain
and sharing none. An address one source lists for two coins proves nothing.

**Keys.** An asset's key is its override key, or ``symbol:name`` of its coin from the first
of ``key_sources`` (CoinGecko, as loading without reference data gives), a lone coin's its
own; a key wanted twice goes to the stronger asset (decided by a stronger method, then better
rank) and the other gets ``source:id``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from kasparro.identity.evidence import Profile, Scored, profile, score_pair
from kasparro.identity.groups import Groups
from kasparro.identity.keys import CURATED, identity_key
from kasparro.identity.model import (
    Anomaly,
    Candidate,
    Chainaddr,
    CoinRef,
    Decision,
    LinkPlan,
    ReviewItem,
)

__all__ = ["LINK_AT", "MARGIN", "REVIEW_FROM", "default_overrides", "link_coins"]

LINK_AT: Final = 6.0
MARGIN: Final = 2.0
REVIEW_FROM: Final = 5.0
DETAIL_FROM: Final = 4.0
MARKET_BACKED: Final = 3.5
MARKET_CONTRADICTED: Final = -2.5
REVIEW_PER_COIN: Final = 1
MAX_BLOCK: Final = 100
_MAX_PASSES: Final = 20

Pair = tuple[CoinRef, CoinRef]


def default_overrides() -> dict[str, dict[str, str]]:
    """The curated table (``identity.keys.CURATED``) as key -> {source: id}."""
    return {c.key: {"coingecko": c.coingecko, "coinpaprika": c.coinpaprika} for c in CURATED}


def link_coins(
    candidates: Iterable[Candidate],
    *,
    decisions: Sequence[Decision] = (),
    overrides: Mapping[str, Mapping[str, str]] | None = None,
    key_sources: Sequence[str] = ("coingecko", "coinpaprika"),
) -> LinkPlan:
    """Decide every listed coin's identity (see the module docstring)."""
    anomalies: list[Anomaly] = []
    coins = _index(candidates, anomalies)
    owners = _owners(coins, anomalies)
    ids: dict[str, set[str]] = defaultdict(set)
    for source, sid in coins:
        ids[source].add(sid)
    taken = {source: frozenset(v) for source, v in ids.items()}
    profiles = {ref: profile(coin, taken[coin.source]) for ref, coin in sorted(coins.items())}
    forbidden = {frozenset((d.a, d.b)) for d in decisions if not d.accept}
    groups = Groups(coins, forbidden)
    _manual(groups, coins, decisions, anomalies)
    chosen = _overrides(groups, coins, default_overrides() if overrides is None else overrides)
    scored = _score(profiles, owners, groups, forbidden)
    _assign(groups, scored, profiles)
    review, wanted = _undecided(groups, scored, profiles)
    links = groups.links(chosen, key_sources, identity_key)
    return LinkPlan(links, review, anomalies, wanted)


def _index(candidates: Iterable[Candidate], anomalies: list[Anomaly]) -> dict[CoinRef, Candidate]:
    """One candidate per (source, id): a listing given twice keeps its first form in sort
    order (never input order) and is reported."""
    coins: dict[CoinRef, Candidate] = {}
    for coin in sorted(candidates, key=_sort_key):
        if coin.ref in coins:
            if coin != coins[coin.ref]:
                detail = "listed twice with different data; the first in sort order is used"
                anomalies.append(Anomaly("duplicate_listing", coin.source, detail, (coin.id,)))
            continue
        coins[coin.ref] = coin
    return coins


def _sort_key(c: Candidate) -> tuple[Any, ...]:
    return (
        c.source,
        c.id,
        c.symbol,
        c.name,
        sorted(c.contracts),
        str(c.market_cap),
        c.rank or 0,
        repr(c.active),
        c.has_market_data,
        repr(c.detail),
    )


def _owners(
    coins: Mapping[CoinRef, Candidate], anomalies: list[Anomaly]
) -> dict[str, dict[Chainaddr, str]]:
    """(chain, address) -> the one coin of each source listing it; an address one source
    lists for two coins is dropped and reported."""
    listed: dict[str, dict[Chainaddr, list[str]]] = defaultdict(lambda: defaultdict(list))
    for (source, sid), coin in sorted(coins.items()):
        for ca in coin.contracts:
            listed[source][ca].append(sid)
    owners: dict[str, dict[Chainaddr, str]] = {}
    for source in sorted(listed):
        unique: dict[Chainaddr, str] = {}
        for ca, ids in sorted(listed[source].items()):
            if len(ids) == 1:
                unique[ca] = ids[0]
            else:
                anomalies.append(
                    Anomaly(
                        "contract_listed_for_two_coins",
                        source,
                        f"{ca[0]} {ca[1]}",
                        tuple(sorted(ids)),
                    )
                )
        owners[source] = unique
    return owners


def _manual(
    groups: Groups,
    coins: Mapping[CoinRef, Candidate],
    decisions: Sequence[Decision],
    anomalies: list[Anomaly],
) -> None:
    accepted = [d for d in decisions if d.accept]
    for d in sorted(accepted, key=lambda d: (d.decided_at is None, d.decided_at or "", d.a, d.b)):
        if d.a not in coins or d.b not in coins:
            continue  # not listed now; the decision stays stored for when it is
        if groups.same(d.a, d.b):
            continue
        if not groups.join(d.a, d.b, "manual", None, dict(d.evidence)):
            detail = "accepted pairing conflicts with an earlier one (two coins of one source)"
            anomalies.append(
                Anomaly(
                    "conflicting_decision",
                    d.a[0],
                    detail,
                    (f"{d.a[0]}:{d.a[1]}", f"{d.b[0]}:{d.b[1]}"),
                )
            )


def _overrides(
    groups: Groups, coins: Mapping[CoinRef, Candidate], overrides: Mapping[str, Mapping[str, str]]
) -> dict[CoinRef, str]:
    """Join each curated key's listed coins; return coin -> curated key."""
    chosen: dict[CoinRef, str] = {}
    for key in sorted(overrides):
        members = sorted((s, i) for s, i in overrides[key].items() if (s, i) in coins)
        for ref in members:
            chosen[ref] = key
        for ref in members[1:]:
            if not groups.same(members[0], ref):
                groups.join(members[0], ref, "override", None, {"curated_key": key})
    return chosen


def _blocks(p: Profile) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    if p.symbol:
        keys.add(("s", p.symbol))
    if p.core:
        keys.add(("c", p.core))
    for name in p.id_names | ({p.name_slug} if p.name_slug else set()):
        keys.add(("n", name))
    runs = [p.coin.id.lower().split("-"), *(n.split("-") for n in p.id_names)]
    for tokens in runs:
        for n in range(2, len(tokens)):
            keys.add(("n", "-".join(tokens[:n])))
            keys.add(("n", "-".join(tokens[-n:])))
    if len(p.id_tokens) > 1:
        keys.add(("t", *sorted(p.id_tokens)))
    for chain, address in p.coin.contracts:
        keys.add(("a", chain, address))
    keys.update(("h", site) for site in p.sites)
    keys.update(("x", address) for address in p.explorer)
    return keys


def _score(
    profiles: Mapping[CoinRef, Profile],
    owners: Mapping[str, Mapping[Chainaddr, str]],
    groups: Groups,
    forbidden: set[frozenset[CoinRef]],
) -> dict[Pair, Scored]:
    blocks: dict[tuple[str, ...], dict[str, list[CoinRef]]] = defaultdict(lambda: defaultdict(list))
    for ref, p in profiles.items():
        for key in _blocks(p):
            blocks[key][ref[0]].append(ref)
    pairs: set[Pair] = set()
    for by_source in blocks.values():
        if len(by_source) < 2 or any(len(v) > MAX_BLOCK for v in by_source.values()):
            continue
        sources = sorted(by_source)
        for i, sa in enumerate(sources):
            for sb in sources[i + 1 :]:
                pairs.update((a, b) for a in by_source[sa] for b in by_source[sb])
    out: dict[Pair, Scored] = {}
    for a, b in sorted(pairs):
        if frozenset((a, b)) in forbidden or groups.same(a, b):
            continue
        out[(a, b)] = score_pair(profiles[a], profiles[b], owners)
    return out


def _assign(
    groups: Groups, scored: Mapping[Pair, Scored], profiles: Mapping[CoinRef, Profile]
) -> None:
    rivals: dict[tuple[CoinRef, str], list[tuple[CoinRef, Scored]]] = defaultdict(list)
    for (a, b), sc in scored.items():
        if sc.veto in (None, "contracts_differ"):
            rivals[(a, b[0])].append((b, sc))
            rivals[(b, a[0])].append((a, sc))
    for _ in range(_MAX_PASSES):
        ready = [
            (-sc.score, pair)
            for pair, sc in scored.items()
            if sc.veto is None
            and sc.score >= LINK_AT - MARGIN
            and groups.can_join(*pair)
            and _clear(pair, sc, rivals, groups, profiles)
        ]
        joined = 0
        for _, (a, b) in sorted(ready):
            sc = scored[(a, b)]
            joined += groups.join(a, b, _method(sc), sc.score, _evidence(sc))
        if not joined:
            return


def _clear(
    pair: Pair,
    sc: Scored,
    rivals: Mapping[tuple[CoinRef, str], list[tuple[CoinRef, Scored]]],
    groups: Groups,
    profiles: Mapping[CoinRef, Profile],
) -> bool:
    a, b = pair
    live: list[Scored] = []
    close: list[Scored] = []
    for me, other in ((a, b), (b, a)):
        for rival, rsc in rivals.get((me, other[0]), ()):
            if rival == other or groups.has_source(rival, me[0]):
                continue  # itself, or already taken by another coin of my source
            if profiles[rival].coin.stale and not profiles[other].coin.stale:
                continue  # a dead listing does not block a live one
            live.append(rsc)
            # A rival whose coin page is not in yet, or lists no site and no token page,
            # could be the same project, and an active rival of an inactive listing is
            # the live one: the pages do not decide between the two pairings (a dead
            # duplicate listing shows its project's site too, maybe the newer one).
            seen = profiles[rival].coin
            unseen = (
                seen.detail is None
                or not (profiles[rival].sites or profiles[rival].explorer)
                or (profiles[other].coin.active is False and seen.active is not False)
            )
            without_pages = rsc.score - rsc.paged > sc.score - sc.paged - MARGIN
            if rsc.score > sc.score - MARGIN or (unseen and without_pages):
                close.append(rsc)
    backed = [r for r in live if r.market >= MARKET_BACKED and r.score >= LINK_AT - MARGIN]
    if sc.market <= MARKET_CONTRADICTED and backed:
        return False  # a rival the market backs, where the market contradicts this one
    if not close:
        return sc.score >= LINK_AT
    return (
        sc.score >= LINK_AT - MARGIN
        and sc.market >= MARKET_BACKED
        and all(r.market <= MARKET_CONTRADICTED for r in close)
    )


def _method(sc: Scored) -> str:
    if sc.shared:
        return "contract"
    return "name" if sc.score - sc.market >= LINK_AT else "market"


def _evidence(sc: Scored) -> dict[str, Any]:
    return {"score": sc.score, "for": list(sc.weighed(1)), "against": list(sc.weighed(-1))}


def _undecided(
    groups: Groups,
    scored: Mapping[Pair, Scored],
    profiles: Mapping[CoinRef, Profile],
) -> tuple[list[ReviewItem], list[Pair]]:
    """The review queue, and the undecided pairs whose coins' detail pages would settle
    them (the review items and the weaker pairs from ``DETAIL_FROM``), best first."""
    proposed: list[tuple[float, Pair, str]] = []
    for (a, b), sc in scored.items():
        if groups.has_source(a, b[0]) or groups.has_source(b, a[0]):
            continue  # one of them is decided already
        ca, cb = profiles[a].coin, profiles[b].coin
        if ca.stale or cb.stale or not (ca.has_market_data or cb.has_market_data):
            continue  # a dead listing can wait: nothing trades under it
        if sc.veto == "contracts_differ":
            if sc.score >= LINK_AT:
                proposed.append((sc.score, (a, b), "same_name_but_contracts_differ"))
        elif sc.veto == "copy_and_original":
            if sc.shared:
                proposed.append((sc.score, (a, b), "contract_shared_with_a_copy"))
        elif sc.veto is None and sc.score >= DETAIL_FROM:
            reason = "several_candidates" if sc.score >= LINK_AT else "weak_evidence"
            proposed.append((sc.score, (a, b), reason))
    per_coin: dict[CoinRef, int] = defaultdict(int)
    review: list[ReviewItem] = []
    wanted: list[Pair] = []
    rivals: list[Pair] = []
    best: set[CoinRef] = set()
    for score, (a, b), reason in sorted(proposed, key=lambda x: (-x[0], x[1])):
        if per_coin[a] >= REVIEW_PER_COIN or per_coin[b] >= REVIEW_PER_COIN:
            if scored[(a, b)].veto is None:
                rivals.append((a, b))  # its pages weigh against the best pairing's
            continue
        per_coin[a] += 1
        per_coin[b] += 1
        best.update((a, b))
        sc = scored[(a, b)]
        if sc.veto is None and (profiles[a].coin.detail is None or profiles[b].coin.detail is None):
            wanted.append((a, b))
        if score >= REVIEW_FROM or sc.veto is not None:
            against = sc.weighed(-1)
            if sc.veto is not None:  # what keeps the pair from linking, said first
                veto: dict[str, object] = {
                    "kind": sc.veto,
                    "weight": None,
                    "detail": "never linked automatically",
                }
                against = (veto, *against)
            review.append(ReviewItem(a, b, reason, score, sc.weighed(1), against))
    # The rivals of the best pairings after them: a page settles a pair only once its rivals
    # could show theirs (_clear).
    for a, b in rivals:
        if (a in best or b in best) and (
            profiles[a].coin.detail is None or profiles[b].coin.detail is None
        ):
            wanted.append((a, b))
    return sorted(review, key=lambda i: (i.a, i.b)), wanted
