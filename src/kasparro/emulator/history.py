"""Price history of the universe's coins, as the history endpoints serve it.

A coin's past is a deterministic walk backwards from its tick-0 market data: one daily
factor in [0.95, 1.05] per day, keyed by ``(seed, asset, day)``, with intraday points
interpolated between days plus a small per-slot wobble. Market cap follows the price
(constant supply), volume gets its own daily noise. History starts at the coin's listing
(its ``atl_date``, else 2017-01-01) and ends at the universe's *now* (tick 0 plus the ticks),
or earlier for a dead coin (its last update: it was delisted). About one point in 120 is
missing (upstream outages), and the points are floats, as both APIs send them.

Granularity follows the real APIs (QUIRKS.md, OpenAPI specs):
- CoinGecko ``/coins/{id}/market_chart/range``: 5-minutely for a range up to 1 day, hourly
  up to 90 days, daily (00:00 UTC) beyond; a range reaching *now* ends with a point at
  *now*, unaligned (the recorded 90-day chart's last point).
- CoinPaprika ``/tickers/{id}/historical``: points aligned to the requested interval, at
  most ``limit`` of them from ``start``; the free plan serves daily points for the last
  year and hourly ones for the last day only (see ``PlanError``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

from kasparro.emulator.market import cg_base
from kasparro.emulator.numbers import Num
from kasparro.emulator.rng import draw_table, hash_ints
from kasparro.emulator.universe import BASE_TIME_MS, Asset

SALT_HISTORY: Final = 11
DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
FIVE_MIN_MS: Final = 300_000
_EPOCH_2017_MS: Final = 1_483_228_800_000
_GAP_PER_MILLE: Final = 8


def as_float(value: Num | None) -> float:
    """A Num as the float an upstream's JSON would carry."""
    if value is None:
        return 0.0
    mantissa, exponent = value
    return mantissa * 10.0**exponent if exponent < 0 else float(mantissa * 10**exponent)


@dataclass(slots=True)
class _Path:
    listed_ms: int
    end_ms: int  # last moment with data (exclusive of nothing: a point at end_ms exists)
    price0: float
    cap0: float
    volume0: float
    day0: int  # the day index of tick 0
    daily: dict[int, float]  # day index -> price at 00:00 UTC, for days low..high
    low: int = 0
    high: int = 0
    back: tuple[int, ...] = ()  # draws of day0, day0-1, ...
    ahead: tuple[int, ...] = ()  # draws of day0+1, day0+2, ...


class History:
    """Per-asset price paths, built lazily and cached (deterministic: races are harmless)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._paths: dict[int, _Path] = {}
        self._lock = threading.Lock()

    def _path(self, asset: Asset, now_ms: int) -> _Path:
        with self._lock:
            path = self._paths.get(asset.index)
        if path is not None:
            return self._with_end(path, asset, now_ms)
        base = cg_base(asset, self.seed)
        listed = base.atl_date_ms or _EPOCH_2017_MS
        path = _Path(
            listed_ms=min(listed, BASE_TIME_MS - 30 * DAY_MS),
            end_ms=now_ms,
            price0=as_float(base.price) or 1e-6,
            cap0=as_float(base.market_cap),
            volume0=as_float(base.volume),
            day0=BASE_TIME_MS // DAY_MS,
            daily={},
        )
        with self._lock:
            self._paths.setdefault(asset.index, path)
        return self._with_end(path, asset, now_ms)

    def _with_end(self, path: _Path, asset: Asset, now_ms: int) -> _Path:
        # A dead coin's history stops where it stopped updating: it was delisted then.
        end = cg_base(asset, self.seed).last_updated_ms if asset.stale else now_ms
        path.end_ms = min(end, now_ms)
        return path

    def _draw(self, asset: Asset, path: _Path, day: int) -> int:
        """The day's 64-bit draw: one SHAKE table per asset and direction (prefix-stable, so
        a longer history never changes a shorter one), not one hash per day."""
        offset = path.day0 - day
        table, sign = (path.back, 0) if offset >= 0 else (path.ahead, 1)
        index = abs(offset) - sign
        if index >= len(table):
            size = max(2 * len(table), index + 64)
            table = draw_table(size, self.seed, SALT_HISTORY, asset.index, sign)
            if sign:
                path.ahead = table
            else:
                path.back = table
        return table[index]

    def _factor(self, asset: Asset, path: _Path, day: int) -> float:
        return 1.0 + (self._draw(asset, path, day) % 10_001 - 5_000) / 100_000.0

    def _daily(self, asset: Asset, path: _Path, day: int) -> float:
        """The price at 00:00 UTC of ``day``: the days between tick 0 and it are computed
        once, outwards from the exact tick-0 anchor (a contiguous cached range)."""
        daily = path.daily
        if not daily:
            daily[path.day0] = path.price0
            path.low = path.high = path.day0
        while path.low > day:
            daily[path.low - 1] = daily[path.low] / self._factor(asset, path, path.low)
            path.low -= 1
        while path.high < day:
            daily[path.high + 1] = daily[path.high] * self._factor(asset, path, path.high + 1)
            path.high += 1
        return daily[day]

    def _point(self, asset: Asset, path: _Path, t_ms: int) -> tuple[float, float, float]:
        day, into = divmod(t_ms, DAY_MS)
        start = self._daily(asset, path, day)
        price = start
        if into:
            end = self._daily(asset, path, day + 1)
            wobble = hash_ints(self.seed, SALT_HISTORY, asset.index, t_ms // FIVE_MIN_MS)
            price = (start + (end - start) * (into / DAY_MS)) * (
                1.0 + (wobble % 2_001 - 1_000) / 1_000_000.0
            )
        noise = (self._draw(asset, path, day) >> 20) % 1_001
        volume = path.volume0 * (0.5 + noise / 1_000.0)
        return price, path.cap0 * (price / path.price0), volume

    def _missing(self, asset: Asset, path: _Path, t_ms: int) -> bool:
        day, into = divmod(t_ms, DAY_MS)
        h = (
            hash_ints(self.seed, SALT_HISTORY + 2, asset.index, t_ms)
            if into
            else (self._draw(asset, path, day) >> 40)
        )
        return h % 1000 < _GAP_PER_MILLE

    def points(
        self, asset: Asset, from_ms: int, to_ms: int, step_ms: int, now_ms: int
    ) -> list[tuple[int, float, float, float]]:
        """(t, price, market cap, volume) every ``step_ms`` in [from, to], within the coin's
        life, gaps left out."""
        path = self._path(asset, now_ms)
        lo = max(from_ms, path.listed_ms)
        hi = min(to_ms, path.end_ms)
        if hi < lo:
            return []
        first = -(-lo // step_ms) * step_ms
        out = []
        for t in range(first, hi + 1, step_ms):
            if not self._missing(asset, path, t):
                out.append((t, *self._point(asset, path, t)))
        return out

    def end_ms(self, asset: Asset, now_ms: int) -> int:
        return self._path(asset, now_ms).end_ms

    def point_at(self, asset: Asset, t_ms: int, now_ms: int) -> tuple[int, float, float, float]:
        path = self._path(asset, now_ms)
        return (t_ms, *self._point(asset, path, t_ms))


def coingecko_step(from_ms: int, to_ms: int) -> int:
    """CoinGecko's automatic granularity for a range."""
    span = to_ms - from_ms
    if span <= DAY_MS:
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
    """The request asks for more history than the emulated CoinPaprika plan serves."""


def coinpaprika_plan_check(interval_ms: int, start_ms: int, now_ms: int, plan: str) -> None:
    """The OpenAPI table of history per plan (free: daily for a year, hourly for a day, no
    5-minute data); ``plan`` "pro" lifts it."""
    if plan != "free":
        return
    if interval_ms < HOUR_MS:
        raise PlanError("5-minute historical data is not available on the free plan")
    if interval_ms < DAY_MS and start_ms < now_ms - DAY_MS:
        raise PlanError("hourly historical data is available for the last day on the free plan")
    if start_ms < now_ms - 365 * DAY_MS:
        raise PlanError("historical data is available for the last year on the free plan")
