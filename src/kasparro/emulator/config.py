"""Emulator configuration."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from kasparro.emulator.faults import FaultRule


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
    # Upper bound for cached response bodies (per emulator instance).
    cache_max_bytes: int = 256 * 1024 * 1024
    # Monotonic seconds; injectable so tests can move time for rate limits and ticks.
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

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
        if self.latency_seconds < 0:
            raise ValueError("latency_seconds must be >= 0")
        if self.tick_every_seconds is not None and self.tick_every_seconds <= 0:
            raise ValueError("tick_every_seconds must be > 0 or None")
        self.faults = [FaultRule.coerce(rule) for rule in self.faults]

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
            if f.name == "clock":
                continue
            value = getattr(self, f.name)
            out[f.name] = [r.to_dict() for r in value] if f.name == "faults" else value
        return out


def _optional_float(value: float | int | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in ("", "none", "off", "0"):
            return None
        value = float(value)
    return None if value == 0 else float(value)
