"""Price history of the universe's coins, as the history endpoints serve it.

Both APIs' history is their view of the coin's one true price path (``truth.py``): the
same market as their ``/coins/markets`` and ``/tickers`` data, each with its own noise
(CoinGecko's chart and CoinPaprika's historical ticks are never identical copies). History
starts at the coin's listing (its ``atl_date``, else 2017-01-01) and ends at the emulator's
*now*, or earlier for a dead coin (its last update: it was delisted). About one point in
120 is missing (upstream outages), and the points are floats, as both APIs send them.

Times here are the emulator's *output* clock: the universe's internal clock (tick 0 at the
recording's 2022-02-23T11:31:45Z) moved by the anchor's shift (``EmulatorConfig.anchor``).
Grids are aligned in the output clock (daily points at 00:00 UTC of the days served).

Granularity and depth follow the real APIs (their docs and OpenAPI specs, QUIRKS.md):
- CoinGecko ``/coins/{id}/market_chart/range``: 5-minutely for a range within the last day
  from *now*, hourly for any other range up to 90 days, daily (00:00 UTC) beyond; a range
  reaching *now* ends with a point at *now*, unaligned (the recorded 90-day chart's last
  point). The keyless/Demo plan serves the past 365 days from *now* only (401, error 10012).
- CoinPaprika ``/tickers/{id}/historical``: points aligned to the requested interval, at
  most ``limit`` of them from ``start``; the free plan serves daily points for the last
  year and hourly ones for the last day only, counted from *now* (see ``PlanError``).
"""

from __future__ import annotations

from typing import Final, Literal

from kasparro.emulator.market import cg_base
from kasparro.emulator.rng import hash_ints
from kasparro.emulator.truth import Market
from kasparro.emulator.universe import BASE_TIME_MS, Asset

SALT_GAPS: Final = 13
DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
FIVE_MIN_MS: Final = 300_000
_EPOCH_2017_MS: Final = 1_483_228_800_000
_GAP_PER_MILLE: Final = 8

Api = Literal["coingecko", "coinpaprika"]


class History:
    """Each API's history points, from the shared market's paths."""

    def __init__(self, market: Market, shift_ms: int = 0) -> None:
        self.market = market
        self.seed = market.seed
        self.shift_ms = shift_ms

    def span(self, asset: Asset, now_ms: int) -> tuple[int, int]:
        """(listed, end) of the coin's history in the output clock."""
        base = cg_base(asset, self.seed)
        anchor = BASE_TIME_MS + self.shift_ms
        listed = min(base.atl_date_ms or _EPOCH_2017_MS, anchor - 30 * DAY_MS)
        # A dead coin's history stops where it stopped updating: it was delisted then.
        end = base.last_updated_ms + self.shift_ms if asset.stale else now_ms
        return listed, min(end, now_ms)

    def end_ms(self, asset: Asset, now_ms: int) -> int:
        return self.span(asset, now_ms)[1]

    def point_at(self, asset: Asset, api: Api, t_ms: int) -> tuple[int, float, float, float]:
        """(t, price, market cap, volume) of one API at output time ``t_ms``."""
        internal = t_ms - self.shift_ms
        if api == "coingecko":
            return (t_ms, *self.market.cg_point(asset, internal))
        return (t_ms, *self.market.cp_point(asset, internal))

    def _missing(self, asset: Asset, t_ms: int) -> bool:
        return hash_ints(self.seed, SALT_GAPS, asset.index, t_ms) % 1000 < _GAP_PER_MILLE

    def points(
        self, asset: Asset, api: Api, from_ms: int, to_ms: int, step_ms: int, now_ms: int
    ) -> list[tuple[int, float, float, float]]:
        """(t, price, market cap, volume) every ``step_ms`` in [from, to] (output clock),
        within the coin's life, gaps left out."""
        listed, end = self.span(asset, now_ms)
        lo = max(from_ms, listed)
        hi = min(to_ms, end)
        if hi < lo:
            return []
        first = -(-lo // step_ms) * step_ms
        return [
            self.point_at(asset, api, t)
            for t in range(first, hi + 1, step_ms)
            if not self._missing(asset, t)
        ]


def coingecko_step(from_ms: int, to_ms: int, now_ms: int) -> int:
    """CoinGecko's automatic granularity for a range: "1 day from current time = 5-minutely
    data; 1 day from any time (except current time) = hourly; 2 - 90 days = hourly; above
    90 days = daily (00:00 UTC)" (CoinGecko's changelog, 2025-01-09)."""
    span = to_ms - from_ms
    if span <= DAY_MS and from_ms >= now_ms - DAY_MS:
        return FIVE_MIN_MS
    if span <= 90 * DAY_MS:
        return HOUR_MS
    return DAY_MS


CP_INTERVALS: Final[dict[str, int]] = {
    "5m": 5 * 60_000,
    "10m": 10 * 60_000,
    "15m": 15 * 60_000,
    "30m": 30 * 60_000,
    "45m": 45 * 60_000,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "3h": 3 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "24h": DAY_MS,
    "1d": DAY_MS,
    "7d": 7 * DAY_MS,
    "14d": 14 * DAY_MS,
    "30d": 30 * DAY_MS,
    "90d": 90 * DAY_MS,
    "365d": 365 * DAY_MS,
}


class PlanError(ValueError):
    """The request asks for more history than the emulated plan serves."""


def coinpaprika_plan_check(interval_ms: int, start_ms: int, now_ms: int, plan: str) -> None:
    """The OpenAPI table of history per plan (free: daily for a year, hourly for a day, no
    5-minute data), counted back from the API's own *now*; ``plan`` "pro" lifts it."""
    if plan != "free":
        return
    if interval_ms < HOUR_MS:
        raise PlanError("5-minute historical data is not available on the free plan")
    if interval_ms < DAY_MS and start_ms < now_ms - DAY_MS:
        raise PlanError("hourly historical data is available for the last day on the free plan")
    if start_ms < now_ms - 365 * DAY_MS:
        raise PlanError("historical data is available for the last year on the free plan")


def coingecko_plan_check(from_ms: int, now_ms: int, plan: str) -> None:
    """Keyless and Demo users get the past 365 days from *now* (since 2024); ``plan``
    "paid" lifts it."""
    if plan == "demo" and from_ms < now_ms - 365 * DAY_MS:
        raise PlanError(
            "Your request exceeds the allowed time range. Public API users are limited to "
            "querying historical data within the past 365 days. Upgrade to a paid plan to "
            "enjoy full historical data access: https://www.coingecko.com/en/api/pricing. "
        )
