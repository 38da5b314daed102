"""The linker's inputs and outputs (pure data; see :mod:`kasparro.identity.linking`).

Coins are keyed by ``(source, source_asset_id)`` (:data:`CoinRef`), for any number of
sources; a decision or a review item names two such coins. Nothing here is an earlier
automatic link: the plan is a function of the coins, the decisions and the overrides only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kasparro.identity.detail import Detail

__all__ = [
    "Anomaly",
    "Candidate",
    "CoinRef",
    "Decision",
    "Link",
    "LinkPlan",
    "ReviewItem",
]

CoinRef = tuple[str, str]  # (source, source_asset_id)
Chainaddr = tuple[str, str]  # (canonical chain, normalized address)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One listed coin of one source, with everything the linker may use.

    ``contracts``: (canonical chain, normalized address) pairs (``identity.chains``).
    ``market_cap`` and ``rank``: its latest market data, ``None`` when unknown (a cap of 0 is
    "unranked" and compares with nothing). ``active``: the source says it trades (``None``:
    the source does not say). ``has_market_data``: the store holds an observation for it.
    ``detail``: its own page's links, fetched only for undecided pairs. ``spelled``: addresses
    as the source spells them, for evidence: (chain, address) -> (platform, raw address).
    """

    source: str
    id: str
    symbol: str
    name: str
    contracts: frozenset[Chainaddr] = frozenset()
    market_cap: Decimal | None = None
    rank: int | None = None
    active: bool | None = None
    has_market_data: bool = False
    detail: Detail | None = None
    spelled: Mapping[Chainaddr, tuple[str, str]] = field(default_factory=dict)

    @property
    def ref(self) -> CoinRef:
        return (self.source, self.id)

    @property
    def stale(self) -> bool:
        """Listed but dead: marked inactive and without market data."""
        return self.active is False and not self.has_market_data


@dataclass(frozen=True, slots=True)
class Decision:
    """A human's verdict on two coins (sticky: relinks never change it). ``decided_at``
    (ISO text) orders conflicting verdicts: the earlier accepted one stands."""

    a: CoinRef
    b: CoinRef
    accept: bool
    decided_at: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Link:
    """The decided identity of one listed coin: its asset's key and how it joined it."""

    source: str
    id: str
    key: str  # canonical identity key of its asset
    method: str  # manual | override | contract | name | market | new
    score: float | None  # the weighed evidence of the pair that joined it (None: not weighed)
    partners: tuple[CoinRef, ...]  # the other coins of its asset
    evidence: Mapping[str, Any]

    @property
    def ref(self) -> CoinRef:
        return (self.source, self.id)

    def partner(self, source: str) -> str | None:
        """Its asset's coin of ``source``, if any."""
        return next((sid for s, sid in self.partners if s == source), None)


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A pairing left to a human, with the evidence for and against it (``a`` < ``b``)."""

    a: CoinRef
    b: CoinRef
    reason: str
    score: float
    evidence_for: tuple[Mapping[str, Any], ...]
    evidence_against: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # contract_listed_for_two_coins | conflicting_decision | override_conflict | ...
    source: str
    detail: str
    ids: tuple[str, ...] = ()


@dataclass(slots=True)
class LinkPlan:
    links: list[Link]
    review: list[ReviewItem]
    anomalies: list[Anomaly]
    # Undecided pairs whose per-coin detail (homepage and explorer links) would be weighed
    # on the next relink: fetch those coins' pages (within the request budget), then relink.
    detail_wanted: list[tuple[CoinRef, CoinRef]]

    def groups(self) -> list[tuple[CoinRef, ...]]:
        """Every asset's coins, sorted."""
        by_key: dict[str, list[CoinRef]] = defaultdict(list)
        for link in self.links:
            by_key[link.key].append(link.ref)
        return sorted(tuple(sorted(members)) for members in by_key.values())

    def grouping(self) -> frozenset[frozenset[CoinRef]]:
        return frozenset(frozenset(g) for g in self.groups())

    def pairs(
        self, source_a: str = "coingecko", source_b: str = "coinpaprika"
    ) -> set[tuple[str, str]]:
        """(id of ``source_a``, id of ``source_b``) of every asset holding both."""
        out = set()
        for link in self.links:
            if link.source == source_a:
                other = link.partner(source_b)
                if other is not None:
                    out.add((link.id, other))
        return out

    def counts(self) -> dict[str, int]:
        """Coins per method ("new": alone in its asset)."""
        out: dict[str, int] = defaultdict(int)
        for link in self.links:
            out[link.method] += 1
        return dict(sorted(out.items()))
