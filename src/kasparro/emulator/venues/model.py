"""Four spot exchanges quoting the emulator's one market (``truth.Market``).

Every venue market ``BASE/QUOTE`` is priced from the base coin's one true USD path (the same
path both aggregators quote) divided by the quote currency's own true USD rate, times the
venue's dispersion:

* a static bias per venue and coin (its own order flow: +-5 bp for the top 20, +-25 bp
  below) and +-2 bp of noise per tick;
* a bid/ask spread that widens down the ranks (1 bp for BTC-like coins, up to 40 bp);
* each venue's own share of the coin's volume.

The quote currencies have true USD rates too: USD is 1; USDT and USDC wobble a few basis
points around 1 (+-5 bp and +-2 bp per 5-minute slot) and leave their peg in a *depeg*
episode; EUR walks around 1.08 (+-0.3 % a day). So a BTC/USDT price is never a BTC/USD
price, and the ratio of the two measures USDT (what ``kasparro.venues.conversion`` does).

**Bad days** (``baddays.BadDay``) switch on deterministically by tick: a stale venue (serves
one tick's data, timestamps included, forever), an outlier venue (5-20 % off), a halted
market (frozen, no volume, reported halted in the market list), a thin market (1/10,000 of
its volume, 5 % spread), a depeg (a stablecoin off its peg) and a renamed ticker (the venue
lists the coin under a new ticker from that tick on).

**Listings** are deterministic per seed: each venue lists the universe's top live coins
(its own depth, the top 20 always, 85 % of the rest), one coin per ticker: when two coins
share a ticker, a venue lists the first it meets in its own order, so two venues can list
two different coins under one ticker (the linker's hardest case; ``truth()`` says which).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from kasparro.emulator.market import cg_base
from kasparro.emulator.numbers import to_decimal
from kasparro.emulator.rng import hash_ints
from kasparro.emulator.truth import Market
from kasparro.emulator.universe import BASE_TIME_MS, Asset
from kasparro.emulator.venues.baddays import BadDay, BadDays

VENUES: Final = ("binance", "coinbase", "kraken", "okx")
STABLES: Final = ("USDT", "USDC")
FIAT: Final = ("USD", "EUR")

SALT_LIST: Final = 40
SALT_BIAS: Final = 41
SALT_NOISE: Final = 42
SALT_STABLE: Final = 43
SALT_EUR: Final = 44
SALT_VOLUME: Final = 45

_TICKER: Final = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
_BP: Final = Decimal("0.0001")
_DAY_MS: Final = 86_400_000
_SLOT_MS: Final = 300_000


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """How deep a venue lists and which quote currencies it offers by the coin's rank."""

    depth: int  # the top live coins it considers
    quotes: tuple[tuple[str, int], ...]  # (quote, listed for ranks <= this)
    # Markets between quote currencies (stablecoins and fiat), as (base, quote).
    cross: tuple[tuple[str, str], ...]
    volume_share: Decimal  # of the coin's total 24 h volume


SPECS: Final[dict[str, VenueSpec]] = {
    # binance.com has no USD markets; EUR for the top coins, USDC widely.
    "binance": VenueSpec(
        150,
        (("USDT", 10**9), ("USDC", 60), ("BTC", 40), ("EUR", 10)),
        (("USDC", "USDT"), ("EUR", "USDT")),
        Decimal("0.30"),
    ),
    # Coinbase: USD books; USDC products are aliases of the USD books (one order book).
    "coinbase": VenueSpec(
        100,
        (("USD", 10**9), ("USDC", 30), ("EUR", 20), ("USDT", 15), ("BTC", 10)),
        (("USDT", "USD"), ("USDT", "EUR")),
        Decimal("0.08"),
    ),
    # Kraken: USD and EUR books, some stablecoin and XBT quotes, FX and stablecoin pairs.
    "kraken": VenueSpec(
        100,
        (("USD", 10**9), ("EUR", 50), ("USDT", 20), ("USDC", 15), ("BTC", 20)),
        (("USDT", "USD"), ("USDC", "USD"), ("EUR", "USD"), ("USDT", "EUR"), ("USDC", "EUR")),
        Decimal("0.04"),
    ),
    "okx": VenueSpec(
        120,
        (("USDT", 10**9), ("USDC", 50), ("BTC", 25), ("EUR", 8)),
        (("USDC", "USDT"),),
        Decimal("0.12"),
    ),
}


@dataclass(frozen=True, slots=True)
class Listing:
    """One venue market: ``base``/``quote`` in the venue's unified tickers (before any
    rename); ``asset`` is the universe coin behind ``base`` (None for a currency pair)."""

    venue: str
    base: str
    quote: str
    asset: Asset | None
    rank: int  # the coin's rank among the venue's candidates (0 for a currency pair)
    alias_of: str | None = None  # Coinbase: the USD book this USDC product mirrors


@dataclass(slots=True)
class Quote:
    """A venue market at a tick, in the quote currency (exact decimals)."""

    last: Decimal
    bid: Decimal
    ask: Decimal
    base_volume: Decimal
    time_ms: int  # when the venue last updated it (the data clock)
    halted: bool = False
    trades: int = 0


@dataclass
class VenueModel:
    market: Market
    bad_days: BadDays = field(default_factory=BadDays)
    shift_ms: int = 0  # the served clock's offset from the universe's (EmulatorConfig.anchor)
    step_ms: int = 300_000
    _listings: dict[str, list[Listing]] = field(default_factory=dict)

    # --- listings -----------------------------------------------------------------------

    def candidates(self) -> list[Asset]:
        """Live CoinGecko coins with an exchange-style ticker, most traded first (exchanges
        list what trades: the recording's "TICOEX Token", #1 by a $3.3 T cap on $5 of
        volume, is listed nowhere)."""
        assets = [
            a
            for a in self.market.universe.assets
            if a.cg_id and not a.stale and a.lookalike_of is None and a.volume >= 100_000
            and _TICKER.match(a.symbol.upper())
        ]  # fmt: skip
        return sorted(assets, key=lambda a: (-a.volume, a.index))

    def listings(self, venue: str) -> list[Listing]:
        cached = self._listings.get(venue)
        if cached is not None:
            return cached
        spec = SPECS[venue]
        seed = self.market.seed
        venue_no = VENUES.index(venue)
        out: list[Listing] = []
        taken: set[str] = set()
        pool = self.candidates()[: spec.depth]
        # Venues meet coins in their own order (the listing date): a ticker two coins
        # share goes to whichever the venue listed first.
        order = sorted(
            range(len(pool)),
            key=lambda i: i if i < 20 else 20 + hash_ints(seed, SALT_LIST, venue_no, i) % 1000,
        )
        for i in order:
            asset = pool[i]
            rank = i + 1
            ticker = asset.symbol.upper()
            if ticker in taken or ticker in STABLES or ticker in FIAT:
                continue
            if rank > 20 and hash_ints(seed, SALT_LIST, venue_no, asset.index, 1) % 100 >= 85:
                continue
            taken.add(ticker)
            price0 = to_decimal(cg_base(asset, seed).price or (0, 0))
            if price0 < Decimal("0.000001"):  # dust: Binance's eight decimals read 0
                continue
            cheap = price0 < Decimal("0.01")
            for quote, upto in spec.quotes:
                # A BTC quote of a sub-cent coin would be a few satoshis: nobody lists it.
                if rank <= upto and quote != ticker and not (quote == "BTC" and cheap):
                    alias = f"{ticker}-USD" if venue == "coinbase" and quote == "USDC" else None
                    out.append(Listing(venue, ticker, quote, asset, rank, alias))
        out += [Listing(venue, b, q, None, 0) for b, q in spec.cross]
        out.sort(key=lambda m: (m.rank == 0, m.rank, m.base, m.quote))
        self._listings[venue] = out
        return out

    def truth(self) -> dict[str, dict[str, str | None]]:
        """Per venue: served base ticker -> the CoinGecko id of the coin behind it (None for
        currencies): the ground truth a market linker is measured against."""
        out: dict[str, dict[str, str | None]] = {}
        for venue in VENUES:
            bases: dict[str, str | None] = {}
            for m in self.listings(venue):
                served = self.bad_days.renamed(venue, m.base, None)
                bases[served] = m.asset.cg_id if m.asset else None
            out[venue] = bases
        return out

    # --- true rates ---------------------------------------------------------------------

    def usd_rate(self, currency: str, t_ms: int, tick: int) -> Decimal:
        """The true USD value of one unit of a quote currency at internal time ``t_ms``."""
        seed = self.market.seed
        slot = t_ms // _SLOT_MS
        if currency == "USD":
            return Decimal(1)
        if currency in STABLES:
            wobble = 5 if currency == "USDT" else 2
            h = hash_ints(seed, SALT_STABLE, STABLES.index(currency), slot)
            rate = 1 + Decimal(h % (2 * wobble + 1) - wobble) * _BP
            depeg = self.bad_days.depeg(currency, tick)
            return rate * (1 - depeg) if depeg is not None else rate
        if currency == "EUR":
            day, into = divmod(t_ms, _DAY_MS)
            a = 10_000 + hash_ints(seed, SALT_EUR, day) % 61 - 30
            b = 10_000 + hash_ints(seed, SALT_EUR, day + 1) % 61 - 30
            level = (Decimal(a) + Decimal(b - a) * Decimal(into) / _DAY_MS) / 10_000
            return (Decimal("1.0850") * level).quantize(Decimal("0.000001"))
        btc = self.btc()
        if currency == "BTC" and btc is not None:
            return self.usd_price(btc, t_ms)
        raise KeyError(f"no USD rate for {currency}")

    def btc(self) -> Asset | None:
        return self.market.universe.by_cg_id.get("bitcoin")

    def usd_price(self, asset: Asset, t_ms: int) -> Decimal:
        """The coin's true USD price (the path both aggregators quote)."""
        price0 = to_decimal(cg_base(asset, self.market.seed).price or (1, -6))
        return price0 * Decimal(repr(self.market.ratio(asset, t_ms)))

    # --- quotes -------------------------------------------------------------------------

    def internal_ms(self, tick: int) -> int:
        return BASE_TIME_MS + tick * self.step_ms

    def quote(self, listing: Listing, tick: int) -> Quote:
        """The market at ``tick`` as the venue serves it (bad days applied)."""
        venue = listing.venue
        day = self.bad_days.stale_since(venue, tick)
        at = day if day is not None else tick
        halted_at = self.bad_days.halted_since(venue, listing.base, listing.quote, at)
        if halted_at is not None:
            at = halted_at
        t = self.internal_ms(at)
        mid = self._mid(listing, t, at)
        bad = self.bad_days.outlier(venue, at)
        if bad is not None:
            mid *= 1 + bad
        thin = self.bad_days.thin(venue, listing.base, listing.quote, at)
        spread = Decimal("0.05") if thin else self._spread(listing)
        volume = self._volume(listing, t, mid)
        if thin:
            volume /= 10_000
        half = mid * spread / 2
        lean = Decimal(hash_ints(self.market.seed, SALT_NOISE, at, 7) % 3 - 1) / 2
        last = mid + half * lean
        return Quote(
            last=last,
            bid=mid - half,
            ask=mid + half,
            base_volume=Decimal(0) if halted_at is not None else volume,
            time_ms=t + self.shift_ms,
            halted=halted_at is not None,
            trades=0 if halted_at is not None else max(1, int(volume) % 90_000 + 17),
        )

    def _mid(self, listing: Listing, t_ms: int, tick: int) -> Decimal:
        quote_rate = self.usd_rate(listing.quote, t_ms, tick)
        if listing.asset is None:  # a currency pair: its two true rates
            base_rate = self.usd_rate(listing.base, t_ms, tick)
            return base_rate / quote_rate
        if listing.alias_of is not None:  # Coinbase's USDC book is its USD book, 1:1
            quote_rate = Decimal(1)
        seed = self.market.seed
        venue_no = VENUES.index(listing.venue)
        index = listing.asset.index
        bound = 5 if listing.rank <= 20 else 25
        bias = hash_ints(seed, SALT_BIAS, venue_no, index) % (2 * bound + 1) - bound
        noise = hash_ints(seed, SALT_NOISE, venue_no, index, tick) % 5 - 2
        factor = 1 + Decimal(bias + noise) * _BP
        return self.usd_price(listing.asset, t_ms) * factor / quote_rate

    def _spread(self, listing: Listing) -> Decimal:
        if listing.asset is None:
            return Decimal("0.0001")
        return Decimal(min(40, max(1, listing.rank // 3))) * _BP

    def _volume(self, listing: Listing, t_ms: int, mid: Decimal) -> Decimal:
        """Base-currency 24 h volume: the venue's share of the coin's volume, split over
        its quote currencies (the first quote carries most)."""
        spec = SPECS[listing.venue]
        seed = self.market.seed
        if listing.asset is None:
            usd = Decimal(50_000_000)
            rate = self.usd_rate(listing.base, t_ms, 0)
        else:
            usd = Decimal(listing.asset.volume or 1_000) * spec.volume_share
            rate = self.usd_price(listing.asset, t_ms)
        first = spec.quotes[0][0]
        if listing.asset is not None and listing.quote != first:
            usd /= 6
        day = t_ms // _DAY_MS
        wobble = hash_ints(seed, SALT_VOLUME, VENUES.index(listing.venue), day) % 401 - 200
        usd *= 1 + Decimal(wobble) / 1000
        return usd / rate if rate else Decimal(0)


def quantize_sig(value: Decimal, digits: int = 6) -> Decimal:
    """``value`` to ``digits`` significant digits (a venue's tick size)."""
    if not value:
        return Decimal(0)
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN)


__all__ = [
    "SPECS",
    "STABLES",
    "VENUES",
    "BadDay",
    "Listing",
    "Quote",
    "VenueModel",
    "quantize_sig",
]
