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
from collections.abc import Iterable, Iterator
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


def _observed_at(o: ObservationRow) -> datetime:
    return o.observed_at


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
        # Each asset's aggregator rows by time (its series in the order they first appear),
        # and every row by time: a partition finds the assets observed in it by one range of
        # the latter, then reads those assets' rows in range only (a large universe's newest
        # rows are mostly of assets not observed in it). Lists of references per asset:
        # indexes per series (a list of rows, one of times, a key) held as much memory as
        # the rows themselves.
        by_asset: dict[int, list[ObservationRow]] = defaultdict(list)
        for o in observations:
            by_asset[o.asset_id].append(o)
        self._by_asset: dict[int, tuple[list[ObservationRow], tuple[tuple[str, str], ...]]] = {
            asset_id: (
                sorted(rows, key=_observed_at),  # stable: ties keep the order given
                tuple(dict.fromkeys((o.source, o.source_asset_id) for o in rows)),
            )
            for asset_id, rows in by_asset.items()
        }
        self._by_time = sorted(
            (o for rows, _ in self._by_asset.values() for o in rows), key=_observed_at
        )

    def observed_times(self) -> list[datetime]:
        """Every moment something was observed (the buckets with data)."""
        times = {t for ts in self._times.values() for t in ts}
        times.update(o.observed_at for o in self._by_time)
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

    def aggregator_rows(
        self, asset_id: int, at: datetime, lookback: timedelta
    ) -> Iterator[ObservationRow]:
        """Each of the asset's aggregator series' newest row in ``[at - lookback, at)``."""
        if asset_id not in self._by_asset:
            return
        rows, series = self._by_asset[asset_id]
        low = at - lookback
        newest: dict[tuple[str, str], ObservationRow] = {}
        # Back from the newest row before ``at``: each series' first row met is its newest
        # (of equal times, the last given), until every series is found or rows get too old.
        for i in range(bisect.bisect_left(rows, at, key=_observed_at) - 1, -1, -1):
            o = rows[i]
            if o.observed_at < low:
                break
            newest.setdefault((o.source, o.source_asset_id), o)
            if len(newest) == len(series):
                break
        yield from (newest[key] for key in series if key in newest)

    def candidates(
        self, start: datetime, at: datetime, lookback: timedelta
    ) -> dict[int, list[Candidate]]:
        """As of ``at``, the candidates of every asset with something observed in
        ``[start, at)`` (and within the lookback)."""
        view = self.partition(start, at, lookback)
        return view.candidates(view.observed)

    def partition(self, start: datetime, at: datetime, lookback: timedelta) -> PartitionView:
        """The partition ``[start, at)`` as of ``at``: the markets' newest quotes, the quote
        currencies' measured rates and the assets observed in it, from which any subset of
        those assets' candidates is built (a bucket's assets a few thousand at a time)."""
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
        lo = bisect.bisect_left(self._by_time, max(start, at - lookback), key=_observed_at)
        hi = bisect.bisect_left(self._by_time, at, key=_observed_at)
        observed.update(self._by_time[i].asset_id for i in range(lo, hi))
        return PartitionView(self, at, lookback, newest, rates, currency_asset, aliases, observed)


@dataclass(frozen=True, slots=True)
class PartitionView:
    window: Window
    at: datetime
    lookback: timedelta
    newest: list[tuple[QuoteRow, datetime]]
    rates: dict[str, Rate]
    currency_asset: dict[str, int]
    aliases: frozenset[tuple[str, str]]
    observed: set[int]  # the assets with something observed in the partition

    def candidates(self, assets: Iterable[int]) -> dict[int, list[Candidate]]:
        """The candidates of ``assets`` (those not observed in the partition have none)."""
        wanted = self.observed.intersection(assets)
        out: dict[int, list[Candidate]] = defaultdict(list)
        for q, since in self.newest:
            if q.asset_id in wanted:
                out[q.asset_id].append(_venue_candidate(q, since, self.rates, self.aliases))
        by_market = {(q.venue, q.market_id): (q, since) for q, since in self.newest}
        for currency, asset_id in self.currency_asset.items():
            rate = self.rates.get(currency)
            if rate is not None and asset_id in wanted:
                out[asset_id] += _cross_candidates(rate, by_market)
        for asset_id in wanted:
            for row in self.window.aggregator_rows(asset_id, self.at, self.lookback):
                out[asset_id].append(_aggregator_candidate(row))
        return {a: out[a] for a in sorted(wanted) if out.get(a)}


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
