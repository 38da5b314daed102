"""The in-process control object behind ``app.state.emulator``.

Thread-safe: the server runs on its own event-loop thread while tests and benchmarks call
``tick()``, ``stats()`` and ``set_faults()`` from theirs.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kasparro.emulator.config import EmulatorConfig
from kasparro.emulator.faults import APIS, FaultRule, FaultSet
from kasparro.emulator.gcpause import gc_paused
from kasparro.emulator.ratelimit import SlidingWindowLimiter
from kasparro.emulator.universe import BASE_TIME_MS, Universe, build_universe
from kasparro.emulator.venues import BadDays, VenueModel, VenueState
from kasparro.emulator.views import MarketsQuery, MarketViews


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    rate_limited: int = 0
    faults_injected: int = 0
    bytes_sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "status_429": self.statuses.get("429", 0),
            "faults_injected": self.faults_injected,
            "bytes_sent": self.bytes_sent,
            "statuses": dict(sorted(self.statuses.items())),
        }


class Emulator:
    """Tick clock, statistics, rate limiters and fault rules of one emulator instance."""

    def __init__(self, config: EmulatorConfig, universe: Universe | None = None) -> None:
        self.config = config
        self.universe = universe or build_universe(config.coins, config.seed)
        # The output clock's tick 0 (whole seconds); the data is generated on the universe's
        # own clock (tick 0 = BASE_TIME) and every timestamp served is moved by the shift.
        self.anchor_ms = _anchor_ms(config)
        self.views = MarketViews(
            self.universe,
            tick_step_seconds=config.tick_step_seconds,
            cp_tickers_cap=config.cp_tickers_cap,
            cp_omit_circulating_supply=config.cp_omit_circulating_supply,
            cache_max_bytes=config.cache_max_bytes,
            shift_seconds=(self.anchor_ms - BASE_TIME_MS) // 1000,
        )
        self.faults = FaultSet(config.faults)
        # The exchanges quote the aggregators' one market (views.market), under /<venue>.
        self.venues = VenueState(
            VenueModel(
                self.views.market,
                BadDays(config.venue_bad_days),
                shift_ms=self.anchor_ms - BASE_TIME_MS,
                step_ms=config.tick_step_seconds * 1000,
            ),
            limits=config.venue_rate_limits,
            clock=config.clock,
            ban_seconds=config.binance_ban_seconds,
        )
        # Set on shutdown so deliberately slow (timeout-fault) responses give up at once.
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._clock = config.clock
        self._epoch = config.clock()
        self._manual_tick = 0
        self._limiters: dict[str, SlidingWindowLimiter | None] = {
            "coingecko": _limiter(config.cg_rate_limit_per_minute, config),
            "coinpaprika": _limiter(config.cp_rate_limit_per_minute, config),
        }
        self._totals: dict[str, _Tally] = {}
        self._routes: dict[str, dict[str, _Tally]] = {}
        self.reset_stats()

    # --- time -------------------------------------------------------------------------

    @property
    def current_tick(self) -> int:
        with self._lock:
            tick = self._manual_tick
        every = self.config.tick_every_seconds
        if every is not None:
            tick += int((self._clock() - self._epoch) // every)
        return tick

    def now_ms(self, tick: int | None = None) -> int:
        """The data clock: tick 0 is the anchor (the recording's Date by default, the wall
        clock at start with anchor "now"), each tick one step later."""
        t = self.current_tick if tick is None else tick
        return self.anchor_ms + t * self.config.tick_step_seconds * 1000

    def tick(self, n: int = 1) -> int:
        """Advance the data clock by ``n`` ticks; returns the new current tick."""
        if n < 0:
            raise ValueError("ticks only move forward")
        with self._lock:
            self._manual_tick += n
        return self.current_tick

    def prewarm(self, per_page: int = 250) -> None:
        """Build every asset's data and the default responses for the current tick, so the
        first client of a large universe does not pay for lazy generation (about 1 s per
        25k coins)."""
        tick = self.current_tick
        views = self.views
        with gc_paused():
            views.cg_coins_list_body()
            page = 1
            while True:
                _, total = views.cg_markets_body(tick, MarketsQuery(per_page=per_page, page=page))
                if page * per_page >= total:
                    break
                page += 1
            views.cp_tickers_body(tick, ("USD",))

    # --- faults -----------------------------------------------------------------------

    def set_faults(self, rules: Iterable[FaultRule | Mapping[str, Any] | str]) -> None:
        """Replace all fault rules (and their occurrence counters)."""
        self.faults.replace(rules)

    def add_fault(self, rule: FaultRule | Mapping[str, Any] | str) -> None:
        self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- rate limits ------------------------------------------------------------------

    def admit(self, api: str) -> int | None:
        """None if ``api`` may serve a request now, else the Retry-After seconds."""
        limiter = self._limiters.get(api)
        return None if limiter is None else limiter.acquire()

    def reset_rate_limits(self) -> None:
        for limiter in self._limiters.values():
            if limiter is not None:
                limiter.reset()
        self.venues.reset()

    # --- statistics -------------------------------------------------------------------

    def count_request(self, api: str, route: str) -> None:
        with self._lock:
            for tally in self._tallies(api, route):
                tally.requests += 1

    def count_response(
        self,
        api: str,
        route: str,
        status: str,
        *,
        nbytes: int = 0,
        rate_limited: bool = False,
        fault: bool = False,
    ) -> None:
        with self._lock:
            for tally in self._tallies(api, route):
                tally.statuses[status] += 1
                tally.bytes_sent += nbytes
                tally.rate_limited += rate_limited
                tally.faults_injected += fault

    def _tallies(self, api: str, route: str) -> tuple[_Tally, _Tally]:
        routes = self._routes.setdefault(api, {})
        return self._totals.setdefault(api, _Tally()), routes.setdefault(route, _Tally())

    def stats(self) -> dict[str, Any]:
        """``{"tick": n, "coingecko": {...}, "coinpaprika": {...}}``; per API and per route:
        requests, rate_limited (429s from the limiter), status_429 (all 429s, injected
        included), faults_injected, bytes_sent, statuses (status code or "reset"/"abandoned"
        -> count); per API also routes (route template -> the same fields)."""
        tick = self.current_tick
        with self._lock:
            out: dict[str, Any] = {"tick": tick}
            for api in APIS:
                entry = self._totals[api].snapshot()
                entry["routes"] = {
                    route: tally.snapshot() for route, tally in sorted(self._routes[api].items())
                }
                out[api] = entry
        out["venues"] = self.venues.stats()
        return out

    def reset_stats(self) -> None:
        with self._lock:
            self._totals = {api: _Tally() for api in APIS}
            self._routes = {api: {} for api in APIS}

    def reset(self, *, stats: bool = True, faults: bool = True, rate_limits: bool = True) -> None:
        """Back to a clean slate for a new scenario (the tick is kept: time never rewinds)."""
        if stats:
            self.reset_stats()
        if faults:
            self.clear_faults()
        if rate_limits:
            self.reset_rate_limits()

    def quirks(self) -> dict[str, Any]:
        """Where the data quirks are, for tests and demos."""
        universe = self.universe
        collisions = universe.symbol_collisions()
        return {
            "showcase": universe.showcase(),
            "name_overrides": {k: list(v) for k, v in universe.name_overrides().items()},
            "symbol_collisions_sample": dict(list(collisions.items())[:25]),
            "symbol_collision_count": len(collisions),
            "coingecko_only_sample": universe.coingecko_only()[:25],
            "coinpaprika_only_sample": universe.coinpaprika_only()[:25],
            "cross_listed_sample": [list(p) for p in universe.cross_listed()[:25]],
            "counts": {
                "assets": len(universe),
                "coingecko": len(universe.coingecko),
                "coinpaprika": len(universe.coinpaprika),
                "cross_listed": len(universe.cross_listed()),
            },
        }


def _anchor_ms(config: EmulatorConfig) -> int:
    anchor = config.anchor
    if isinstance(anchor, datetime):
        return int(anchor.timestamp()) * 1000
    return int(config.wall_clock()) * 1000 if anchor == "now" else BASE_TIME_MS


def _limiter(per_minute: float | None, config: EmulatorConfig) -> SlidingWindowLimiter | None:
    return None if per_minute is None else SlidingWindowLimiter(per_minute, config.clock)
