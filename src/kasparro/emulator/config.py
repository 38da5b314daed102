"""Emulator configuration."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from kasparro.emulator.faults import FaultRule
from kasparro.emulator.venues.baddays import BadDay


@dataclass(slots=True)
class EmulatorConfig:
    # Distinct assets in the universe (the union of both APIs: about 88% are on CoinGecko,
    # 84% on CoinPaprika). Quirk showcase coins need >= 20, the recorded page >= 270.
    coins: int = 2500
    seed: int = 1
    # Requests per minute per API (sliding 60 s window); None: unlimited.
    cg_rate_limit_per_minute: float | None = None
    cp_rate_limit_per_minute: float | None = None
    # CoinPaprika's documented 429 carries no Retry-After; turn this on to send one.
    cp_retry_after: bool = False
    # Mimic the free plan: at most this many tickers (by rank) from /v1/tickers.
    cp_tickers_cap: int | None = None
    # Mimic the free plan's /v1/tickers without circulating_supply.
    cp_omit_circulating_supply: bool = False
    # CoinPaprika plan for /v1/tickers/{id}/historical: "free" (daily points for the last
    # year, hourly for the last day, no 5-minute data) or "pro" (everything).
    cp_plan: str = "free"
    # CoinGecko plan for /coins/{id}/market_chart[/range]: "demo" (keyless and Demo keys:
    # the past 365 days) or "paid" (everything).
    cg_plan: str = "demo"
    # The time of tick 0: "recording" (2022-02-23T11:31:45Z, the recorded page's Date: the
    # recorded page is served verbatim), "now" (the wall clock at start: the data is current
    # and the data clock follows the wall clock, a tick every tick_step_seconds), or a fixed
    # timezone-aware datetime or ISO-8601 text. Every timestamp the APIs serve moves with it.
    anchor: str | datetime = "recording"
    # Added before every API response (not control routes).
    latency_seconds: float = 0.0
    faults: list[FaultRule] = field(default_factory=list)
    # Data time advanced per tick (CoinPaprika's free plan refreshes about every 5 min).
    tick_step_seconds: int = 300
    # When set, the tick also advances by one every this many (clock) seconds.
    tick_every_seconds: float | None = None
    # CoinGecko /coins/markets trimmed ", "-separated ids in the 2021 recording
    # (coins-markets__vs-eth_ids-bitcoin-comma-space-ethereum); False: match ids verbatim.
    cg_trim_ids: bool = True
    # Venues (Binance, Coinbase, Kraken, OKX under /<venue>): request weight per minute per
    # venue (Binance publishes 6000; a full ticker/24hr weighs 80); absent: unlimited.
    venue_rate_limits: dict[str, float] | None = None
    # Binance's IP ban (418) after a client ignores a 429's Retry-After.
    binance_ban_seconds: int = 120
    # Bad days on the venues (emulator/venues/baddays.py): specs or BadDay objects.
    venue_bad_days: list[Any] = field(default_factory=list)
    # Upper bound for cached response bodies (per emulator instance).
    cache_max_bytes: int = 256 * 1024 * 1024
    # Monotonic seconds; injectable so tests can move time for rate limits and ticks.
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    # Epoch seconds, read once for anchor "now"; injectable for tests.
    wall_clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.coins < 1:
            raise ValueError("coins must be >= 1")
        for name in ("cg_rate_limit_per_minute", "cp_rate_limit_per_minute"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None")
        if self.cp_tickers_cap is not None and self.cp_tickers_cap < 0:
            raise ValueError("cp_tickers_cap must be >= 0 or None")
        if self.cp_plan not in ("free", "pro"):
            raise ValueError("cp_plan must be 'free' or 'pro'")
        if self.cg_plan not in ("demo", "paid"):
            raise ValueError("cg_plan must be 'demo' or 'paid'")
        self.anchor = _anchor(self.anchor)
        if self.latency_seconds < 0:
            raise ValueError("latency_seconds must be >= 0")
        if self.tick_every_seconds is not None and self.tick_every_seconds <= 0:
            raise ValueError("tick_every_seconds must be > 0 or None")
        if self.tick_step_seconds < 1:
            raise ValueError("tick_step_seconds must be >= 1")
        if self.anchor == "now":
            # The data clock is the wall clock: a tick is as long as the data time it adds.
            every = self.tick_every_seconds
            if every is None:
                self.tick_every_seconds = float(self.tick_step_seconds)
            elif every != int(every):
                raise ValueError("with anchor 'now', tick_every_seconds must be whole seconds")
            else:
                self.tick_step_seconds = int(every)
        self.faults = [FaultRule.coerce(rule) for rule in self.faults]
        self.venue_bad_days = [BadDay.coerce(day) for day in self.venue_bad_days]
        for venue, limit in (self.venue_rate_limits or {}).items():
            if limit <= 0:
                raise ValueError(f"venue_rate_limits[{venue!r}] must be > 0")

    @classmethod
    def from_options(
        cls,
        *,
        coins: int | None = None,
        seed: int | None = None,
        cg_rate_limit: float | str | None = None,
        cp_rate_limit: float | str | None = None,
        cp_tickers_cap: int | str | None = None,
        latency: float | None = None,
        faults: Iterable[str | Mapping[str, Any] | FaultRule] = (),
        tick_every: float | str | None = None,
        anchor: str | None = None,
        **extra: Any,
    ) -> EmulatorConfig:
        """Build from CLI-style options: None keeps the default, ``"none"``/``"0"`` disables
        a limit or cap, faults may be spec strings (see ``FaultRule.parse``)."""
        values: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown emulator options: {sorted(unknown)}")
        if coins is not None:
            values["coins"] = coins
        if seed is not None:
            values["seed"] = seed
        if latency is not None:
            values["latency_seconds"] = latency
        if anchor is not None:
            values["anchor"] = anchor
        values["cg_rate_limit_per_minute"] = _optional_float(cg_rate_limit)
        values["cp_rate_limit_per_minute"] = _optional_float(cp_rate_limit)
        values["tick_every_seconds"] = _optional_float(tick_every)
        cap = _optional_float(cp_tickers_cap)
        values["cp_tickers_cap"] = None if cap is None else int(cap)
        values["faults"] = [FaultRule.coerce(f) for f in faults]
        return cls(**values)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly view (for the control API and logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("clock", "wall_clock"):
                continue
            value = getattr(self, f.name)
            if f.name == "faults":
                value = [r.to_dict() for r in value]
            elif f.name == "venue_bad_days":
                value = [d.describe() for d in value]
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[f.name] = value
        return out


def _anchor(value: str | datetime) -> str | datetime:
    """ "recording", "now", or a timezone-aware datetime (ISO-8601 text is parsed)."""
    if isinstance(value, str):
        if value in ("recording", "now"):
            return value
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"anchor must be 'recording', 'now' or an ISO-8601 time, not {value!r}"
            ) from None
    if value.tzinfo is None:
        raise ValueError("an anchor time needs a timezone (e.g. 2025-01-01T00:00:00Z)")
    return value


def _optional_float(value: float | int | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in ("", "none", "off", "0"):
            return None
        value = float(value)
    return None if value == 0 else float(value)
