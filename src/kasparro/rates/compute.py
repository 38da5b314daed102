"""One asset's reference rate for one bucket, from a list of candidate inputs. Pure.

:func:`compute_partition` decides every candidate (included, or excluded with the reason) and
the partition's value and confidence band; :func:`compute_bucket` runs the partitions of a
bucket in time order (an input excluded outside the band stays out until it is back within
half the band) and averages them. The published inputs alone give the value back
(:func:`recompute`): that is the audit a client can run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Final

from kasparro.rates.method import (
    AGGREGATOR,
    ALIAS,
    CONTEXT,
    CURRENT,
    FALLBACK_ONLY,
    HALTED,
    LOW_VOLUME_SHARE,
    NO_CONVERSION,
    OUTSIDE_BAND,
    REENTRY_PENDING,
    STALE,
    TOO_FEW,
    USD_STABLECOINS,
    Method,
    mean,
    weighted_median,
    weighted_quantile,
)

WEIGHT_STEP: Final = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A price of the asset as one source saw it at one moment."""

    source: str  # the venue or the aggregator
    kind: str  # venue | cross | aggregator
    market: str  # the venue's market id (cross: both markets), or the aggregator's id
    quote: str  # the quote currency of ``price``
    price: Decimal  # in ``quote``
    quote_usd: Decimal | None  # USD per unit of ``quote`` used (None: no measured rate)
    conversion: str  # how ``quote_usd`` was obtained (definition | measured:<n> estimates)
    bid: Decimal | None
    ask: Decimal | None
    volume_usd: Decimal | None  # 24 h volume in USD
    observed_at: datetime
    unchanged_since: datetime  # the first of its consecutive identical quotes
    active: bool = True
    alias: bool = False

    @property
    def key(self) -> str:
        return f"{self.source}|{self.market}"

    def usd(self, value: Decimal | None) -> Decimal | None:
        if value is None or self.quote_usd is None:
            return None
        return CONTEXT.multiply(value, self.quote_usd)


@dataclass(frozen=True, slots=True)
class Input:
    """A candidate as published: its USD prices, its weight, and the decision."""

    partition: int
    source: str
    kind: str
    market: str
    quote: str
    price: Decimal
    quote_usd: Decimal | None
    conversion: str
    price_usd: Decimal | None
    bid_usd: Decimal | None
    ask_usd: Decimal | None
    volume_usd: Decimal | None
    observed_at: datetime
    weight: Decimal
    included: bool
    reason: str | None
    deviation: Decimal | None  # from the preliminary median the band is measured against

    @property
    def key(self) -> str:
        return f"{self.source}|{self.market}"


@dataclass(frozen=True, slots=True)
class Partition:
    index: int
    value: Decimal | None  # None: too few inputs
    low: Decimal | None
    high: Decimal | None
    fallback: bool
    inputs: tuple[Input, ...]
    out: frozenset[str]  # keys out of the band (carried to the next partition)


@dataclass(frozen=True, slots=True)
class Rate:
    value: Decimal
    low: Decimal
    high: Decimal
    n_inputs: int  # included inputs, over every partition
    n_partitions: int  # partitions with a value
    fallback: bool
    depeg: bool
    method_version: str
    inputs: tuple[Input, ...]
    out: frozenset[str]


def _published(c: Candidate, partition: int) -> Input:
    price_usd = c.usd(c.price)
    return Input(
        partition=partition,
        source=c.source,
        kind=c.kind,
        market=c.market,
        quote=c.quote,
        price=c.price,
        quote_usd=c.quote_usd,
        conversion=c.conversion,
        price_usd=price_usd,
        bid_usd=c.usd(c.bid),
        ask_usd=c.usd(c.ask),
        volume_usd=c.volume_usd,
        observed_at=c.observed_at,
        weight=Decimal(0),
        included=False,
        reason=None,
        deviation=None,
    )


def _first_exclusion(c: Candidate, i: Input, at: datetime, method: Method) -> str | None:
    if c.alias:
        return ALIAS
    if not c.active or (c.kind != AGGREGATOR and c.volume_usd is not None and c.volume_usd <= 0):
        return HALTED
    if at - c.unchanged_since > method.stale_after:
        return STALE
    if i.price_usd is None or i.price_usd <= 0:
        return NO_CONVERSION
    return None


def _banded(
    pool: list[Input], weights: list[Decimal], out_before: frozenset[str], method: Method
) -> list[Input]:
    """Decide the band: the preliminary median of ``pool`` with ``weights``, each input's
    deviation from it, and ``outside_band`` / ``reentry_pending`` for those too far."""
    if not pool:
        return []
    median = weighted_median(
        [(i.price_usd or Decimal(0), w) for i, w in zip(pool, weights, strict=True)]
    )
    decided = []
    for i in pool:
        deviation = CONTEXT.subtract(CONTEXT.divide(i.price_usd or Decimal(0), median), 1)
        off = abs(deviation)
        reason = None
        if off > method.band:
            reason = OUTSIDE_BAND
        elif i.key in out_before and off > method.reentry:
            reason = REENTRY_PENDING
        decided.append(replace(i, deviation=deviation, reason=reason, included=reason is None))
    return decided


def _capped(inputs: list[Input], method: Method) -> list[Input]:
    """The inputs weighted by USD volume, a venue's weight capped at ``cap / (1 - cap)`` of
    the other venues' together (with one large venue: its share is then exactly ``cap``),
    ``cap`` being 40 %, or 1/n with fewer than three venues; one pass, the listed weights
    are the final ones."""
    total = Decimal(0)
    by_venue: dict[str, Decimal] = defaultdict(Decimal)
    for i in inputs:
        w = i.volume_usd or Decimal(0)
        total = CONTEXT.add(total, w)
        by_venue[i.source] = CONTEXT.add(by_venue[i.source], w)
    # With two venues no share can be under 40 %: the cap is then a half (a venue weighs at
    # most as much as the other), so the larger one never becomes the smaller one.
    if len(by_venue) < 2:  # nothing to cap against
        return [replace(i, weight=_weight(i.volume_usd or Decimal(0))) for i in inputs]
    cap_share = max(method.venue_cap, CONTEXT.divide(Decimal(1), Decimal(len(by_venue))))
    ratio = CONTEXT.divide(cap_share, CONTEXT.subtract(Decimal(1), cap_share))
    out = []
    for i in inputs:
        w = i.volume_usd or Decimal(0)
        mine = by_venue[i.source]
        others = CONTEXT.subtract(total, mine)
        cap = CONTEXT.multiply(others, ratio)
        if others > 0 and mine > cap:
            w = CONTEXT.divide(CONTEXT.multiply(w, cap), mine)
        out.append(replace(i, weight=_weight(w)))
    return out


def _weight(value: Decimal) -> Decimal:
    """A weight in whole hundred-millionths of a USD: the sums of weights are then exact
    (no rounding at 28 digits), so the median at exactly half the total (two capped venues
    weigh the same) is the same in any client's exact arithmetic."""
    return value.quantize(WEIGHT_STEP, context=CONTEXT)


def _band_of(included: list[Input], value: Decimal, method: Method) -> tuple[Decimal, Decimal]:
    """Pyth's confidence: each input votes with bid, price and ask (a third of its weight
    each); the 25th to 75th weighted percentile of the votes, widened to hold the value."""
    votes: list[tuple[Decimal, Decimal]] = []
    for i in included:
        third = CONTEXT.divide(i.weight, 3)
        price = i.price_usd or value
        for v in (i.bid_usd or price, price, i.ask_usd or price):
            votes.append((v, third))
    low = weighted_quantile(votes, method.vote_low)
    high = weighted_quantile(votes, method.vote_high)
    return min(low, value), max(high, value)


def compute_partition(
    candidates: list[Candidate],
    at: datetime,
    *,
    index: int = 0,
    out_before: frozenset[str] = frozenset(),
    method: Method = CURRENT,
) -> Partition:
    """The value as of ``at`` (the partition's end) from ``candidates``; ``out_before``: the
    keys that were out of the band at the previous evaluation."""
    decided: list[Input] = []
    usable: list[Input] = []
    for c in sorted(candidates, key=lambda c: (c.key, c.observed_at)):
        i = _published(c, index)
        reason = _first_exclusion(c, i, at, method)
        if reason:
            decided.append(replace(i, reason=reason))
        else:
            usable.append(i)
    venues = [i for i in usable if i.kind != AGGREGATOR]
    aggregators = [i for i in usable if i.kind == AGGREGATOR]
    total = sum((i.volume_usd or Decimal(0) for i in venues), Decimal(0))
    selected = []
    for i in venues:
        share = CONTEXT.divide(i.volume_usd or Decimal(0), total) if total > 0 else Decimal(1)
        if share < method.min_volume_share:
            decided.append(replace(i, reason=LOW_VOLUME_SHARE))
        else:
            selected.append(i)
    # The preliminary median weighs the venues capped too: uncapped, one venue with most of
    # the volume that is off (a bad venue) would be the median, and the others "outliers".
    primary = _banded(selected, [i.weight for i in _capped(selected, method)], out_before, method)
    included = _capped([i for i in primary if i.included], method)
    if (
        len(included) >= method.min_inputs
        and len({i.source for i in included}) >= method.min_venues
    ):
        value = weighted_median([(i.price_usd or Decimal(0), i.weight) for i in included])
        evidence = [_evidence(i, value, method) for i in aggregators]
        return _finish(index, value, included, primary, evidence, decided, False, method)
    # Fallback: every usable input, venues and aggregators alike, an unweighted median.
    pool = selected + aggregators
    fallback = _banded(pool, [Decimal(1)] * len(pool), out_before, method)
    included = [replace(i, weight=Decimal(1)) for i in fallback if i.included]
    if len(included) < method.min_inputs or len({i.source for i in included}) < method.min_sources:
        # No value: the inputs that would have counted are listed as too few.
        unused = [replace(i, included=False, reason=i.reason or TOO_FEW) for i in fallback]
        inputs = _ordered(decided + unused)
        return Partition(index, None, None, None, True, inputs, _out(fallback))
    value = weighted_median([(i.price_usd or Decimal(0), i.weight) for i in included])
    return _finish(index, value, included, fallback, [], decided, True, method)


def _evidence(i: Input, value: Decimal, method: Method) -> Input:
    """An aggregator while the venues suffice: not an input, but its deviation from the
    value is measured, and one beyond the band says so (a divergence)."""
    deviation = CONTEXT.subtract(CONTEXT.divide(i.price_usd or Decimal(0), value), 1)
    reason = OUTSIDE_BAND if abs(deviation) > method.band else FALLBACK_ONLY
    return replace(i, included=False, reason=reason, deviation=deviation)


def _ordered(inputs: list[Input]) -> tuple[Input, ...]:
    return tuple(sorted(inputs, key=lambda i: (i.partition, i.source, i.market)))


def _out(inputs: list[Input]) -> frozenset[str]:
    return frozenset(i.key for i in inputs if i.reason in (OUTSIDE_BAND, REENTRY_PENDING))


def _finish(
    index: int,
    value: Decimal,
    included: list[Input],
    banded: list[Input],
    evidence: list[Input],
    decided: list[Input],
    fallback: bool,
    method: Method,
) -> Partition:
    low, high = _band_of(included, value, method)
    rejected = [i for i in banded if not i.included]
    inputs = _ordered(included + rejected + evidence + decided)
    return Partition(index, value, low, high, fallback, inputs, _out(rejected))


def compute_bucket(
    partitions: list[tuple[int, datetime, list[Candidate]]],
    *,
    symbol: str = "",
    out_before: frozenset[str] = frozenset(),
    method: Method = CURRENT,
) -> Rate | None:
    """A bucket from its partitions ``(index, end, candidates)`` with data, in time order;
    None when no partition has a value."""
    done: list[Partition] = []
    out = out_before
    for index, at, candidates in sorted(partitions, key=lambda p: p[0]):
        part = compute_partition(candidates, at, index=index, out_before=out, method=method)
        out = part.out
        done.append(part)
    valued = [p for p in done if p.value is not None]
    if not valued:
        return None
    value = mean([p.value for p in valued if p.value is not None])
    inputs = tuple(i for p in done for i in p.inputs)
    return Rate(
        value=value,
        low=mean([p.low for p in valued if p.low is not None]),
        high=mean([p.high for p in valued if p.high is not None]),
        n_inputs=sum(i.included for i in inputs),
        n_partitions=len(valued),
        fallback=any(p.fallback for p in valued),
        # Only a value the venues made: a look-alike token under a stablecoin's symbol is
        # listed by aggregators, not by the venues (which list the real coin), so a fallback
        # value of "USDC" at 0.0001 is another coin, not a depeg.
        depeg=not any(p.fallback for p in valued) and is_depeg(symbol, value, method),
        method_version=method.version,
        inputs=inputs,
        out=out,
    )


def is_depeg(symbol: str, value: Decimal, method: Method = CURRENT) -> bool:
    return symbol.upper() in USD_STABLECOINS and abs(value - 1) > method.depeg


def recompute(inputs: list[Input]) -> Decimal | None:
    """The value from the published inputs alone: the weighted median of each partition's
    included inputs, then their mean (what a client does, ``docs/reference-rate.md``)."""
    by_partition: dict[int, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for i in inputs:
        if i.included and i.price_usd is not None:
            by_partition[i.partition].append((i.price_usd, i.weight))
    if not by_partition:
        return None
    return mean([weighted_median(pairs) for _, pairs in sorted(by_partition.items())])
