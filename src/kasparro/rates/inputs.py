"""From stored quotes and observations to each asset's candidate inputs as of a moment. Pure.

:class:`Window` indexes the quotes of a time range per market (with since when each market's
values have not moved) and the aggregators' observations per source id, and answers, as of a
partition's end: each market's newest quote within the lookback, the quote currencies' USD
rates measured from those quotes (``kasparro.venues.conversion``: USDT is never 1), and the
candidates of every asset observed in the partition.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from kasparro.rates.compute import Candidate
from kasparro.rates.method import AGGREGATOR, CONTEXT, CROSS, VENUE
from kasparro.venues.conversion import USD, Rate, measure_rates


@dataclass(frozen=True, slots=True)
class QuoteRow:
    """A venue quote with its market's state and the asset its base is linked to."""

    venue: str
    market_id: str
    base: str
    quote: str
    observed_at: datetime
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    base_volume: Decimal | None
    quote_volume: Decimal | None
    active: bool | None
    alias: str | None
    asset_id: int | None


@dataclass(frozen=True, slots=True)
class ObservationRow:
    asset_id: int
    source: str
    source_asset_id: str
    observed_at: datetime
    price_usd: Decimal
    volume_24h_usd: Decimal | None


def _signature(q: QuoteRow) -> tuple[Decimal | None, ...]:
    return (q.last, q.bid, q.ask, q.base_volume)


class Window:
    def __init__(self, quotes: Iterable[QuoteRow], observations: Iterable[ObservationRow]):
        by_market: dict[tuple[str, str], list[QuoteRow]] = defaultdict(list)
        for q in quotes:
            by_market[(q.venue, q.market_id)].append(q)
        # Per market, oldest first: (observed_at, quote, unchanged since).
        self._markets: dict[tuple[str, str], list[tuple[datetime, QuoteRow, datetime]]] = {}
        for key, qs in by_market.items():
            qs.sort(key=lambda q: q.observed_at)
            chain: list[tuple[datetime, QuoteRow, datetime]] = []
            for q in qs:
                same = chain and _signature(chain[-1][1]) == _signature(q)
                chain.append((q.observed_at, q, chain[-1][2] if same else q.observed_at))
            self._markets[key] = chain
        self._times = {k: [t for t, _, _ in v] for k, v in self._markets.items()}
        by_id: dict[tuple[str, str, int], list[ObservationRow]] = defaultdict(list)
        for o in observations:
            by_id[(o.source, o.source_asset_id, o.asset_id)].append(o)
        self._obs = {k: sorted(v, key=lambda o: o.observed_at) for k, v in by_id.items()}
        self._obs_times = {k: [o.observed_at for o in v] for k, v in self._obs.items()}
        # An asset's aggregator series, and every observation by time: a partition finds the
        # assets observed in it by one range of the latter, then reads those assets' series
        # only (a large universe's newest rows are mostly of assets not observed in it).
        self._asset_keys: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for series in self._obs:
            self._asset_keys[series[2]].append(series)
        by_time = sorted((o.observed_at, o.asset_id) for v in self._obs.values() for o in v)
        self._seen_times = [t for t, _ in by_time]
        self._seen_assets = [a for _, a in by_time]

    def observed_times(self) -> list[datetime]:
        """Every moment something was observed (the buckets with data)."""
        times = {t for ts in self._times.values() for t in ts}
        times |= {t for ts in self._obs_times.values() for t in ts}
        return sorted(times)

    def newest(self, at: datetime, lookback: timedelta) -> list[tuple[QuoteRow, datetime]]:
        """Each market's newest quote observed in ``[at - lookback, at)``, with since when
        its values have not moved."""
        out = []
        for key, times in sorted(self._times.items()):
            i = bisect.bisect_left(times, at) - 1
            if i >= 0 and times[i] >= at - lookback:
                _, q, since = self._markets[key][i]
                out.append((q, since))
        return out

    def candidates(
        self, start: datetime, at: datetime, lookback: timedelta
    ) -> dict[int, list[Candidate]]:
        """As of ``at``, the candidates of every asset with something observed in
        ``[start, at)`` (and within the lookback)."""
        newest = self.newest(at, lookback)
        quotes = [q for q, _ in newest]
        aliases = frozenset((q.venue, q.alias) for q in quotes if q.alias)
        rates = measure_rates(quotes, excluded=aliases)
        currency_asset = _currency_assets(quotes)
        observed: set[int] = set()
        moved_quotes: set[str] = set()
        for q, _ in newest:
            if q.observed_at >= start:
                moved_quotes.add(q.quote)
                if q.asset_id is not None:
                    observed.add(q.asset_id)
        for currency in moved_quotes:
            if currency in currency_asset:
                observed.add(currency_asset[currency])
        # An aggregator's newest row before ``at`` is in [start, at) iff one of its rows is.
        lo = bisect.bisect_left(self._seen_times, max(start, at - lookback))
        hi = bisect.bisect_left(self._seen_times, at)
        observed.update(self._seen_assets[lo:hi])
        out: dict[int, list[Candidate]] = defaultdict(list)
        for q, since in newest:
            if q.asset_id in observed:
                out[q.asset_id].append(_venue_candidate(q, since, rates, aliases))
        by_market = {(q.venue, q.market_id): (q, since) for q, since in newest}
        for currency, asset_id in currency_asset.items():
            rate = rates.get(currency)
            if rate is not None and asset_id in observed:
                out[asset_id] += _cross_candidates(rate, by_market)
        for asset_id in observed:
            for key in self._asset_keys.get(asset_id, ()):
                times = self._obs_times[key]
                i = bisect.bisect_left(times, at) - 1
                if i >= 0 and times[i] >= at - lookback:
                    out[asset_id].append(_aggregator_candidate(self._obs[key][i]))
        return {a: out[a] for a in sorted(observed) if out.get(a)}


def _currency_assets(quotes: list[QuoteRow]) -> dict[str, int]:
    """The asset a quote currency is (USDT -> its asset), where its venues link it."""
    votes: dict[str, Counter[int]] = defaultdict(Counter)
    currencies = {q.quote for q in quotes} - {USD}
    for q in quotes:
        if q.base in currencies and q.asset_id is not None:
            votes[q.base][q.asset_id] += 1
    return {c: min(v.items(), key=lambda kv: (-kv[1], kv[0]))[0] for c, v in votes.items()}


def _conversion(rate: Rate) -> str:
    return rate.method if rate.method != "measured" else f"measured:{len(rate.estimates)}"


def _venue_candidate(
    q: QuoteRow, since: datetime, rates: dict[str, Rate], aliases: frozenset[tuple[str, str]]
) -> Candidate:
    rate = rates.get(q.quote)
    quote_usd = rate.usd if rate is not None else None
    volume: Decimal | None = None
    if quote_usd is not None:
        if q.base_volume is not None:
            volume = CONTEXT.multiply(CONTEXT.multiply(q.base_volume, q.last), quote_usd)
        elif q.quote_volume is not None:
            volume = CONTEXT.multiply(q.quote_volume, quote_usd)
    return Candidate(
        source=q.venue,
        kind=VENUE,
        market=q.market_id,
        quote=q.quote,
        price=q.last,
        quote_usd=quote_usd,
        conversion=_conversion(rate) if rate is not None else "none",
        bid=q.bid,
        ask=q.ask,
        volume_usd=volume,
        observed_at=q.observed_at,
        unchanged_since=since,
        active=q.active is not False,
        alias=(q.venue, q.market_id) in aliases,
    )


def _cross_candidates(
    rate: Rate, by_market: dict[tuple[str, str], tuple[QuoteRow, datetime]]
) -> list[Candidate]:
    """A quote currency's own USD value measured across two markets of one venue
    (``BTC/USD`` and ``BTC/USDT``): an input of that currency's rate."""
    out = []
    for e in rate.estimates:
        if not e.method.startswith("cross") or len(e.markets) != 2:
            continue
        legs = [by_market.get((e.venue, m)) for m in e.markets]
        if any(leg is None for leg in legs):
            continue
        observed = min(leg[0].observed_at for leg in legs if leg is not None)
        since = min(leg[1] for leg in legs if leg is not None)
        out.append(
            Candidate(
                source=e.venue,
                kind=CROSS,
                market="+".join(e.markets),
                quote=USD,
                price=e.usd,
                quote_usd=Decimal(1),
                conversion=e.method,
                bid=None,
                ask=None,
                volume_usd=e.weight,
                observed_at=observed,
                unchanged_since=since,
            )
        )
    return out


def _aggregator_candidate(o: ObservationRow) -> Candidate:
    return Candidate(
        source=o.source,
        kind=AGGREGATOR,
        market=o.source_asset_id,
        quote=USD,
        price=o.price_usd,
        quote_usd=Decimal(1),
        conversion="definition",
        bid=None,
        ask=None,
        volume_usd=o.volume_24h_usd,
        observed_at=o.observed_at,
        unchanged_since=o.observed_at,
    )
