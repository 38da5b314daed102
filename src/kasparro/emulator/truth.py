"""The one market both emulated APIs quote.

Every asset has one true price path ``W(t)``: a daily walk (one factor in [0.95, 1.05] per
day, keyed by ``(seed, asset, day)``) interpolated linearly within the day, times a small
wobble per 5-minute slot (+-0.1 %). Prices are quoted relative to the coin's tick-0
CoinGecko price: the truth at time ``t`` is ``price0 * W(t) / W(anchor)``, the anchor being
the moment CoinGecko's tick-0 record was last updated, so the recorded page stays verbatim
at tick 0 (its prices *are* the truth at their own ``last_updated``).

Each API is a view of that path, with what distinguishes real aggregators:

* **freshness**: CoinGecko quotes a coin as of its ``last_updated`` (each coin a little
  behind the tick, as in the recording); CoinPaprika refreshes every 5 minutes, so within a
  5-minute window it keeps quoting the truth as of its last refresh;
* **noise**: CoinGecko +-3 bp per tick (none at tick 0); CoinPaprika a static per-coin bias
  (its own exchange mix: +-8 bp for its top 100, +-40 bp below) plus +-3 bp per refresh, a
  +-0.3 % circulating-supply difference in its market cap, and a +-20 % volume difference
  (aggregators count different exchanges' volume);
* **rounding**: applied where the numbers are rendered (``market.py``, ``numbers.py``).

At a tick every quote is an exact factor ``(UNIT + k) / UNIT`` of the coin's tick-0 numbers,
so the rendered numbers stay exact decimals; history points are floats, as both APIs send
them. Values are pure functions of ``(seed, asset, time)``: any tick or point is computed
directly, in any order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final, TypeVar

from kasparro.emulator.market import cg_base
from kasparro.emulator.numbers import as_float
from kasparro.emulator.rng import draw_table, hash_ints
from kasparro.emulator.universe import BASE_TIME_MS, SALT_TICK, Asset, Universe

UNIT: Final = 10**9  # tick factors are (UNIT + k) / UNIT
DAY_MS: Final = 86_400_000
FIVE_MIN_MS: Final = 300_000
CP_REFRESH_MS: Final = 300_000  # "Update interval: every 5 minutes" (OpenAPI spec)
_DAY0: Final = BASE_TIME_MS // DAY_MS

SALT_DAY: Final = 20
SALT_WOBBLE: Final = 21
SALT_CG_NOISE: Final = 22
SALT_CP_NOISE: Final = 23
SALT_CP_BIAS: Final = 24
SALT_VOLUME: Final = 25
SALT_CG_HISTORY: Final = 26
SALT_CP_HISTORY: Final = 27

_BP: Final = UNIT // 10_000  # one basis point in factor units
_TICK_NOISE: Final = 3 * _BP
_CP_BIAS_TOP: Final = 8 * _BP
_CP_BIAS_TAIL: Final = 40 * _BP
_CP_SUPPLY: Final = 30 * _BP
_CP_VOLUME: Final = 2000 * _BP
_HISTORY_NOISE: Final = 4 * _BP

_T = TypeVar("_T")


def _signed(h: int, bound: int) -> int:
    """An integer in [-bound, bound] from a 64-bit draw."""
    return h % (2 * bound + 1) - bound


def _k(factor: float) -> int:
    return round((factor - 1.0) * UNIT)


@dataclass(frozen=True, slots=True)
class CpTick:
    """CoinPaprika's view of one coin at a tick: factors of the coin's tick-0 CoinGecko
    numbers (price, market cap, volume), the truth's own move since tick 0 (for the
    percent changes) and how far its ``last_updated`` moved (seconds)."""

    k: int
    k_cap: int
    kv: int
    k_move: int
    offset_s: int


@dataclass(frozen=True, slots=True)
class _Bias:
    price: float
    supply: float
    volume: float


class Market:
    """True price paths and each API's view of them (caches are filled lazily and are
    deterministic; extending a path is locked because it appends)."""

    def __init__(self, universe: Universe, step_ms: int = 300_000) -> None:
        self.universe = universe
        self.seed = universe.seed
        self.step_ms = step_ms
        self._ahead: dict[int, list[float]] = {}  # level at 00:00 of day0, day0+1, ...
        self._back: dict[int, list[float]] = {}  # level at 00:00 of day0, day0-1, ...
        self._anchors: dict[int, float] = {}
        self._biases: dict[int, _Bias] = {}
        self._cg: dict[int, list[tuple[int, int]]] = {}
        self._cp: dict[int, list[CpTick]] = {}
        self._lock = threading.Lock()

    # --- the path -----------------------------------------------------------------------

    def _factor(self, index: int, day: int) -> float:
        return 1.0 + (hash_ints(self.seed, SALT_DAY, index, day) % 10_001 - 5_000) / 100_000.0

    def _day_level(self, index: int, day: int) -> float:
        """The level at 00:00 UTC of ``day`` (internal time), walked outwards from tick 0's
        day one day at a time (so every caller gets the very same float)."""
        offset = day - _DAY0
        table = self._ahead if offset >= 0 else self._back
        levels = table.get(index)
        position = abs(offset)
        if levels is not None and position < len(levels):
            return levels[position]
        with self._lock:
            levels = table.setdefault(index, [1.0])
            while len(levels) <= position:
                n = len(levels)
                if offset >= 0:
                    levels.append(levels[-1] * self._factor(index, _DAY0 + n))
                else:
                    levels.append(levels[-1] / self._factor(index, _DAY0 - n + 1))
            return levels[position]

    def level(self, index: int, t_ms: int) -> float:
        """``W(t)`` of asset ``index`` at internal time ``t_ms``."""
        day, into = divmod(t_ms, DAY_MS)
        value = self._day_level(index, day)
        if into:
            value += (self._day_level(index, day + 1) - value) * (into / DAY_MS)
        wobble = hash_ints(self.seed, SALT_WOBBLE, index, t_ms // FIVE_MIN_MS) % 2_001 - 1_000
        return value * (1.0 + wobble / 1_000_000.0)

    def anchor_ms(self, asset: Asset) -> int:
        """When CoinGecko's tick-0 record was last updated (internal time)."""
        if asset.stale:
            return int(cg_base(asset, self.seed).last_updated_ms)
        return BASE_TIME_MS - asset.cg_lag_ms

    def ratio(self, asset: Asset, t_ms: int) -> float:
        """The truth at internal time ``t_ms`` relative to the coin's tick-0 CoinGecko price."""
        anchor = self._anchors.get(asset.index)
        if anchor is None:
            anchor = self._anchors.setdefault(
                asset.index, self.level(asset.index, self.anchor_ms(asset))
            )
        return self.level(asset.index, t_ms) / anchor

    def _bias(self, asset: Asset) -> _Bias:
        bias = self._biases.get(asset.index)
        if bias is None:
            price, supply, volume = draw_table(3, self.seed, SALT_CP_BIAS, asset.index)
            bound = _CP_BIAS_TOP if 0 < asset.cp_rank <= 100 else _CP_BIAS_TAIL
            bias = _Bias(
                price=1.0 + _signed(price, bound) / UNIT,
                supply=1.0 + _signed(supply, _CP_SUPPLY) / UNIT,
                volume=1.0 + _signed(volume, _CP_VOLUME) / UNIT,
            )
            self._biases[asset.index] = bias
        return bias

    # --- ticks ------------------------------------------------------------------------

    def _volume_factors(self, tick: int) -> list[int]:
        """The market's 24 h volume at a tick: +-10 % of tick 0, drawn per tick."""
        count = len(self.universe.assets)
        if tick == 0:
            return [0] * count
        return [
            ((h >> 20) % 20_001 - 10_000) * 10_000
            for h in draw_table(count, self.seed, SALT_TICK, tick)
        ]

    def cg_factors(self, tick: int) -> list[tuple[int, int]]:
        """Per asset index: CoinGecko's (price and market cap, volume) factors ``k`` at a
        tick, as of each coin's ``last_updated``; all zero at tick 0 and for dead coins."""
        cached = self._cg.get(tick)
        if cached is not None:
            return cached
        assets = self.universe.assets
        volumes = self._volume_factors(tick)
        noises = draw_table(len(assets), self.seed, SALT_CG_NOISE, tick)
        out: list[tuple[int, int]] = []
        for asset in assets:
            if tick == 0 or asset.stale:
                out.append((0, 0))
                continue
            t = BASE_TIME_MS + tick * self.step_ms - asset.cg_lag_ms
            noise = _signed(noises[asset.index], _TICK_NOISE)
            out.append((_k(self.ratio(asset, t) * (1.0 + noise / UNIT)), volumes[asset.index]))
        return self._keep(self._cg, tick, out)

    def cp_factors(self, tick: int) -> list[CpTick]:
        """Per asset index: CoinPaprika's view at a tick (as of its last 5-minute refresh)."""
        cached = self._cp.get(tick)
        if cached is not None:
            return cached
        assets = self.universe.assets
        volumes = self._volume_factors(tick)
        noises: dict[int, tuple[int, ...]] = {}  # per refresh: one draw per asset
        out: list[CpTick] = []
        for asset in assets:
            bias = self._bias(asset)
            if asset.stale:  # a dead coin: the same numbers at every tick
                price = bias.price
                out.append(CpTick(_k(price), _k(price * bias.supply), _k(bias.volume), 0, 0))
                continue
            lag_ms = asset.cp_lag_s * 1000
            refreshes = (tick * self.step_ms + lag_ms) // CP_REFRESH_MS
            t = BASE_TIME_MS - lag_ms + refreshes * CP_REFRESH_MS
            move = self.ratio(asset, t)
            table = noises.get(refreshes)
            if table is None:
                table = noises[refreshes] = draw_table(
                    len(assets), self.seed, SALT_CP_NOISE, refreshes
                )
            noise = _signed(table[asset.index], _TICK_NOISE)
            price = move * bias.price * (1.0 + noise / UNIT)
            volume = bias.volume * (1.0 + volumes[asset.index] / UNIT)
            out.append(
                CpTick(
                    k=_k(price),
                    k_cap=_k(price * bias.supply),
                    kv=_k(volume),
                    k_move=_k(move),
                    offset_s=refreshes * CP_REFRESH_MS // 1000,
                )
            )
        return self._keep(self._cp, tick, out)

    def _keep(self, cache: dict[int, list[_T]], tick: int, value: list[_T]) -> list[_T]:
        with self._lock:
            if len(cache) >= 4:
                cache.pop(min(cache))
            cache[tick] = value
        return value

    # --- history ------------------------------------------------------------------------

    def _volume_level(self, index: int, t_ms: int) -> float:
        return 0.5 + (hash_ints(self.seed, SALT_VOLUME, index, t_ms // DAY_MS) % 1_001) / 1_000.0

    def cg_point(self, asset: Asset, t_ms: int) -> tuple[float, float, float]:
        """CoinGecko's chart point (price, market cap, 24 h volume) at internal time ``t_ms``."""
        base = cg_base(asset, self.seed)
        noise = _signed(
            hash_ints(self.seed, SALT_CG_HISTORY, asset.index, t_ms // FIVE_MIN_MS),
            _HISTORY_NOISE,
        )
        move = self.ratio(asset, t_ms) * (1.0 + noise / UNIT)
        price0 = as_float(base.price) or 1e-6
        volume = as_float(base.volume) * self._volume_level(asset.index, t_ms)
        return price0 * move, as_float(base.market_cap) * move, volume

    def cp_point(self, asset: Asset, t_ms: int) -> tuple[float, float, float]:
        """CoinPaprika's historical tick (price, market cap, 24 h volume) at ``t_ms``."""
        base = cg_base(asset, self.seed)
        bias = self._bias(asset)
        noise = _signed(
            hash_ints(self.seed, SALT_CP_HISTORY, asset.index, t_ms // FIVE_MIN_MS),
            _HISTORY_NOISE,
        )
        move = self.ratio(asset, t_ms) * bias.price * (1.0 + noise / UNIT)
        price0 = as_float(base.price) or 1e-6
        volume = as_float(base.volume) * self._volume_level(asset.index, t_ms) * bias.volume
        return price0 * move, as_float(base.market_cap) * move * bias.supply, volume
