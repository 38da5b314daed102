"""The reference rate's methodology, version by version (``docs/reference-rate.md``).

Every number of the method is a field of :class:`Method`: a change of any of them is a new
version, and values keep the version they were computed with. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Context, Decimal
from typing import Final

# One decimal context for every computation of a value, so a recompute on another machine
# or in another thread (whatever its current context) gives the same digits.
CONTEXT: Final = Context(prec=28)

INTERVALS: Final = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1)}

# Stablecoins pegged to 1 USD, by symbol (a depeg is a value more than ``depeg`` from 1).
USD_STABLECOINS: Final = frozenset(
    {"USDT", "USDC", "DAI", "FDUSD", "TUSD", "USDP", "PYUSD", "USDE", "BUSD"}
)

# Reasons an input is excluded, in the order they are checked.
ALIAS: Final = "alias"
HALTED: Final = "halted"
STALE: Final = "stale"
NO_CONVERSION: Final = "no_conversion"
LOW_VOLUME_SHARE: Final = "low_volume_share"
OUTSIDE_BAND: Final = "outside_band"
REENTRY_PENDING: Final = "reentry_pending"
FALLBACK_ONLY: Final = "fallback_only"
TOO_FEW: Final = "too_few_inputs"  # a partition without a value: what was left, unused
REASONS: Final = (
    ALIAS,
    HALTED,
    STALE,
    NO_CONVERSION,
    LOW_VOLUME_SHARE,
    OUTSIDE_BAND,
    REENTRY_PENDING,
    FALLBACK_ONLY,
    TOO_FEW,
)

# Input kinds.
VENUE: Final = "venue"
CROSS: Final = "cross"  # a quote currency's USD value measured from two markets of a venue
AGGREGATOR: Final = "aggregator"


@dataclass(frozen=True, slots=True)
class Method:
    """Version 1; the numbers and why: ``docs/reference-rate.md``."""

    version: str = "1"
    band: Decimal = Decimal("0.02")  # deviation band around the preliminary median
    reentry: Decimal = Decimal("0.01")  # half the band: re-inclusion after an exclusion
    stale_after: timedelta = timedelta(minutes=10)
    lookback: timedelta = timedelta(minutes=30)  # how far back a market's newest quote is read
    min_volume_share: Decimal = Decimal("0.01")
    venue_cap: Decimal = Decimal("0.40")  # a venue's share of the included weight, at most
    min_inputs: int = 2
    min_venues: int = 2  # for a primary (venue) value
    min_sources: int = 2  # for a fallback value
    vote_low: Decimal = Decimal("0.25")  # the confidence band's percentiles
    vote_high: Decimal = Decimal("0.75")
    depeg: Decimal = Decimal("0.005")
    partition_1h: timedelta = timedelta(minutes=5)

    def partitions(self, interval: str) -> timedelta:
        """The length of a partition of a bucket of ``interval``."""
        return self.partition_1h if interval == "1h" else INTERVALS[interval]


CURRENT: Final = Method()


def weighted_quantile(pairs: list[tuple[Decimal, Decimal]], q: Decimal) -> Decimal:
    """The first value (ascending) where the running weight reaches ``q`` of the total; with
    all weights 0, every weight counts 1. ``q = 1/2`` is ``conversion.weighted_median``."""
    ordered = sorted(pairs)
    if not ordered:
        raise ValueError("no values")
    total = Decimal(0)
    for _, w in ordered:
        total = CONTEXT.add(total, w)
    if total <= 0:
        ordered = [(v, Decimal(1)) for v, _ in ordered]
        total = Decimal(len(ordered))
    # The median exactly as docs/reference-rate.md writes it (``running * 2 >= total``).
    half = q == Decimal("0.5")
    threshold = total if half else CONTEXT.multiply(total, q)
    running = Decimal(0)
    for value, weight in ordered:
        running = CONTEXT.add(running, weight)
        if (CONTEXT.multiply(running, 2) if half else running) >= threshold:
            return value
    return ordered[-1][0]


def weighted_median(pairs: list[tuple[Decimal, Decimal]]) -> Decimal:
    return weighted_quantile(pairs, Decimal("0.5"))


def mean(values: list[Decimal]) -> Decimal:
    total = Decimal(0)
    for v in values:
        total = CONTEXT.add(total, v)
    return CONTEXT.divide(total, Decimal(len(values)))
