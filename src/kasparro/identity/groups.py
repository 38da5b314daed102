"""Assets as groups of coins: at most one coin per source, never a forbidden pairing (pure).

A small union-find (hand-written: a few dozen lines with the per-source and forbidden-pair
checks built in, which no general-purpose library offers) and the step that turns the
groups into keyed :class:`~kasparro.identity.model.Link` rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from kasparro.identity.model import Candidate, CoinRef, Link

__all__ = ["STRENGTH", "Groups"]

# How strongly a method ties coins together (keys go to the stronger asset first).
STRENGTH: Final = {"manual": 0, "override": 0, "contract": 1, "name": 2, "market": 3, "new": 4}
_NO_RANK: Final = 1 << 30


class Groups:
    def __init__(
        self, coins: Mapping[CoinRef, Candidate], forbidden: set[frozenset[CoinRef]]
    ) -> None:
        self.coins = coins
        self.forbidden = forbidden
        self._parent: dict[CoinRef, CoinRef] = {ref: ref for ref in coins}
        self._members: dict[CoinRef, list[CoinRef]] = {ref: [ref] for ref in coins}
        # coin -> (method, score, evidence, other coin) of each pairing that joined it
        self._edges: dict[CoinRef, list[tuple[str, float | None, dict[str, Any], CoinRef]]] = (
            defaultdict(list)
        )

    def find(self, ref: CoinRef) -> CoinRef:
        root = ref
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[ref] != root:
            self._parent[ref], ref = root, self._parent[ref]
        return root

    def members(self, ref: CoinRef) -> list[CoinRef]:
        return self._members[self.find(ref)]

    def same(self, a: CoinRef, b: CoinRef) -> bool:
        return self.find(a) == self.find(b)

    def has_source(self, ref: CoinRef, source: str) -> bool:
        """Whether ``ref``'s asset already holds another coin of ``source``."""
        return any(m[0] == source and m != ref for m in self.members(ref))

    def can_join(self, a: CoinRef, b: CoinRef) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        left, right = self._members[ra], self._members[rb]
        if {m[0] for m in left} & {m[0] for m in right}:
            return False
        return not any(frozenset((x, y)) in self.forbidden for x in left for y in right)

    def join(
        self, a: CoinRef, b: CoinRef, method: str, score: float | None, evidence: dict[str, Any]
    ) -> bool:
        if not self.can_join(a, b):
            return False
        ra, rb = sorted((self.find(a), self.find(b)))
        self._parent[rb] = ra
        self._members[ra] = sorted(self._members[ra] + self._members.pop(rb))
        self._edges[a].append((method, score, evidence, b))
        self._edges[b].append((method, score, evidence, a))
        return True

    def _best_edge(self, ref: CoinRef) -> tuple[str, float | None, dict[str, Any]]:
        edges = self._edges.get(ref)
        if not edges:
            return "new", None, {}
        method, score, evidence, other = min(
            edges, key=lambda e: (STRENGTH[e[0]], -(e[1] or 0.0), e[3])
        )
        return method, score, {**evidence, "with": f"{other[0]}:{other[1]}"}

    def links(
        self,
        chosen: Mapping[CoinRef, str],
        key_sources: Sequence[str],
        key_fn: Callable[[str, str], str],
    ) -> list[Link]:
        """Every coin's link, with a key no other asset holds (see ``linking``)."""
        order = {source: i for i, source in enumerate(key_sources)}
        assets = []
        for root in sorted(self._members):
            members = self._members[root]
            anchor = min(members, key=lambda m: (order.get(m[0], len(order)), m))
            curated = sorted(chosen[m] for m in members if m in chosen)
            coin = self.coins[anchor]
            natural = curated[0] if curated else key_fn(coin.symbol, coin.name)
            methods = [self._best_edge(m)[0] for m in members]
            ranks = [r for m in members if (r := self.coins[m].rank)]
            strength = min(STRENGTH[m] for m in methods)
            assets.append(
                (
                    (len(members) == 1, strength, min(ranks, default=_NO_RANK), anchor),
                    natural,
                    members,
                )
            )
        claimed: set[str] = set()
        out: list[Link] = []
        for (_, _, _, anchor), natural, members in sorted(assets):
            key = natural if natural not in claimed else f"{anchor[0]}:{anchor[1]}"
            claimed.add(key)
            for ref in members:
                method, score, evidence = self._best_edge(ref)
                partners = tuple(m for m in members if m != ref)
                out.append(Link(ref[0], ref[1], key, method, score, partners, evidence))
        return sorted(out, key=lambda x: x.ref)
