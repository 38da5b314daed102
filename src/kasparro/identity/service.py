"""Identity's service: relinking, and a human's decision applied at once.

A relink reads the linker's inputs with a plain read (every source's listed coins, their
latest market data, the decisions), decides in a worker thread (the pure
``identity.linking``: a couple of seconds for 30,000 listed coins, so the event loop keeps
serving), then writes the plan and re-links assets in one transaction under the exclusive
identity lock. It never blocks a market run for longer than that transaction, and a failure
leaves the previous links whole. It runs after a reference source's run, after a market run
that met coins it had never seen, on ``kasparro identity relink`` and after a decision.

What identity works on comes from the registry (:class:`IdentityScope`): which namespaces
publish reference data (linking waits until each has a complete snapshot) and in which
order providers give their names to new assets.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.identity.detail_store import save_wanted
from kasparro.identity.linking import link_coins
from kasparro.identity.model import CoinRef
from kasparro.identity.reconcile import reconcile
from kasparro.identity.repository import (
    decide,
    finish_relink,
    identity_lock,
    incomplete_references,
    known_coins,
    read_inputs,
    review_item,
    save_plan,
    start_relink,
)
from kasparro.runs.repository import utcnow
from kasparro.sources.base import (
    MarketSource,
    ReferenceSource,
    Source,
    SourceKind,
    VenueMarketsSource,
)
from kasparro.sources.registry import Registry

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IdentityScope:
    # namespace -> its reference sources (each must hold a complete snapshot to link)
    reference_sources: Mapping[str, tuple[str, ...]]
    # providers in registry order: an asset's key comes from the first that lists it
    source_order: tuple[str, ...]
    # what a coin's source can be: the reference namespaces and the market sources
    coin_sources: tuple[str, ...]

    @classmethod
    def from_registry(cls, registry: Registry) -> IdentityScope:
        # An exchange venue's coins are its markets' bases, linked to assets by
        # kasparro.venues.linking (venue_market_links), not coins of this linker: its
        # market list is reference data, but not a namespace identity waits for.
        venues = {registry.spec(n)[0].name for n in registry.names(SourceKind.VENUE)}
        reference: dict[str, list[str]] = {}
        for name in registry.names(SourceKind.REFERENCE):
            provider, _ = registry.spec(name)
            if provider.name not in venues:
                reference.setdefault(provider.name, []).append(name)
        return cls(
            {k: tuple(v) for k, v in reference.items()},
            tuple(p for p in registry.provider_names() if p not in venues),
            tuple(dict.fromkeys([*reference, *registry.names(SourceKind.MARKET)])),
        )

    @property
    def key_sources(self) -> tuple[str, ...]:
        """Whose ``symbol:name`` keys assets take: reference-data namespaces first."""
        return (
            *(s for s in self.source_order if s in self.reference_sources),
            *(s for s in self.source_order if s not in self.reference_sources),
        )


@dataclass(slots=True)
class RelinkResult:
    status: str  # success | skipped | failed
    relink_id: int | None = None
    reason: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


class UnknownCoins(ValueError):
    """A decision named coins that no source identity links lists: refused, nothing stored.
    Stored, a typo would be a sticky decision that never applies."""

    def __init__(self, coins: Sequence[CoinRef], coin_sources: Sequence[str]) -> None:
        self.coins = tuple(coins)
        self.coin_sources = tuple(coin_sources)
        super().__init__(self.describe())

    def reason(self, coin: CoinRef, hint: str = "") -> str:
        """Why ``coin`` is unknown; ``hint`` (what to do) follows a coin a run could list."""
        source = coin[0]
        if source not in self.coin_sources:
            return f"{source} is not one of identity's sources: {', '.join(self.coin_sources)}"
        return f"not in {source}'s coin list or market data{hint}"

    def describe(self, hint: str = "") -> str:
        return "; ".join(
            f"unknown coin {s}:{i} ({self.reason((s, i), hint)})" for s, i in self.coins
        )


class SameCoin(ValueError):
    """A decision that names one coin twice: it says nothing about two coins, refused."""

    def __init__(self, coin: CoinRef) -> None:
        self.coin = coin
        super().__init__(f"a decision names two coins: {coin[0]}:{coin[1]} is named twice")


@dataclass(frozen=True, slots=True)
class DecisionResult:
    review_id: int
    a: CoinRef
    b: CoinRef
    accepted: bool
    relink: RelinkResult


class IdentityService:
    def __init__(self, engine: AsyncEngine, scope: IdentityScope) -> None:
        self.engine = engine
        self.scope = scope
        # One relink at a time (read, decide, write): two runs finishing together (two
        # reference runs fetching coin pages) would otherwise both read, and the one that
        # read first could write last, leaving a plan of older inputs (not the fixpoint).
        self._relinking = asyncio.Lock()

    @classmethod
    def for_registry(cls, engine: AsyncEngine, registry: Registry) -> IdentityService:
        return cls(engine, IdentityScope.from_registry(registry))

    def wants_relink(self, source: Source, new_ids: int) -> bool:
        """After a successful run: new reference data always; a market run only when it
        mapped coins it had never seen (they may belong with coins of other sources)."""
        if isinstance(source, VenueMarketsSource):
            return False  # linked by kasparro.venues.linking after the venue's runs
        if isinstance(source, ReferenceSource):
            return True
        return isinstance(source, MarketSource) and new_ids > 0

    async def relink(self, *, trigger: str) -> RelinkResult:
        async with self._relinking:
            return await self._relink(trigger)

    async def _relink(self, trigger: str) -> RelinkResult:
        started = time.monotonic()
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(kasparro_read_only=True)
            missing = await incomplete_references(conn, self.scope.reference_sources)
            if missing:
                reason = f"no complete reference data yet for {', '.join(missing)}"
                log.info("identity_relink_skipped", trigger=trigger, reason=reason)
                return RelinkResult("skipped", reason=reason)
            inputs = await read_inputs(conn)
        plan = await asyncio.to_thread(
            link_coins,
            inputs.candidates,
            decisions=inputs.decisions,
            key_sources=self.scope.key_sources,
        )
        decided = time.monotonic()
        now = utcnow()
        async with self.engine.begin() as conn:
            await identity_lock(conn, exclusive=True)
            relink_id = await start_relink(conn, trigger, now)
            review = await save_plan(conn, plan, inputs.anomalies, relink_id, now)
            # The coins of undecided pairs whose own pages are not in yet: the reference
            # sources fetch them (within their budgets) and the next relink weighs them.
            detailed = {c.ref for c in inputs.candidates if c.detail is not None}
            wanted = [ref for pair in plan.detail_wanted for ref in pair if ref not in detailed]
            pending = await save_wanted(conn, wanted, now)
            moved = await reconcile(conn, relink_id, now, source_order=self.scope.key_sources)
            anomalies = Counter(a.kind for a in [*plan.anomalies, *inputs.anomalies])
            stats: dict[str, Any] = {
                "coins": inputs.coins,
                "links": plan.counts(),
                "review": review,
                "detail_wanted": len(plan.detail_wanted),
                "detail_pending": pending,
                "anomalies": dict(sorted(anomalies.items())),
                "relinked": moved.as_dict(),
                "decide_s": round(decided - started, 3),
                "total_s": round(time.monotonic() - started, 3),
            }
            await finish_relink(conn, relink_id, "success", utcnow(), stats)
        log.info("identity_relinked", trigger=trigger, relink_id=relink_id, **stats)
        return RelinkResult("success", relink_id=relink_id, stats=stats)

    async def relink_quietly(self, *, trigger: str) -> RelinkResult:
        """:meth:`relink` for callers that must not fail because of it (a finished run)."""
        try:
            return await self.relink(trigger=trigger)
        except Exception as exc:  # the run it follows succeeded; the next relink retries
            log.exception("identity_relink_failed", trigger=trigger)
            return RelinkResult("failed", reason=f"{type(exc).__name__}: {exc}")

    async def decide(
        self, a: CoinRef, b: CoinRef, *, accept: bool, decided_by: str, note: str | None
    ) -> DecisionResult:
        """Record a human's verdict on two coins (sticky) and relink at once, so an accepted
        pair shares one asset and a rejected one never does, observations included.

        Raises :class:`UnknownCoins` (nothing stored) unless a source identity links lists
        both coins: in its coin list or with market data."""
        return await self._decide(
            a, b, accept=accept, decided_by=decided_by, note=note, known_only=True
        )

    async def decide_review(
        self, review_id: int, *, accept: bool, decided_by: str, note: str | None
    ) -> DecisionResult | None:
        """:meth:`decide` on a review item's pair; ``None`` when there is no such item."""
        async with self.engine.connect() as conn:
            pair = await review_item(conn, review_id)
        if pair is None:
            return None
        # Not checked: the item is stored already, and one whose coin has since left its
        # source's list (or that was stored before decisions were checked) stays decidable.
        return await self._decide(
            *pair, accept=accept, decided_by=decided_by, note=note, known_only=False
        )

    async def _decide(
        self,
        a: CoinRef,
        b: CoinRef,
        *,
        accept: bool,
        decided_by: str,
        note: str | None,
        known_only: bool,
    ) -> DecisionResult:
        if a == b:
            raise SameCoin(a)
        async with self.engine.begin() as conn:
            if known_only:
                wanted = [c for c in dict.fromkeys((a, b)) if c[0] in self.scope.coin_sources]
                known = await known_coins(conn, wanted)
                unknown = [c for c in dict.fromkeys((a, b)) if c not in known]
                if unknown:
                    raise UnknownCoins(unknown, self.scope.coin_sources)
            review_id = await decide(
                conn, a, b, accept=accept, decided_by=decided_by, note=note, now=utcnow()
            )
        result = await self.relink(trigger=f"decision {review_id}")
        first, second = sorted((a, b))
        return DecisionResult(review_id, first, second, accept, result)
