"""Bad days on the emulated exchanges, switched on deterministically by tick.

A bad day is ``kind:target[:key=value,...]`` (or a :class:`BadDay`), active for ticks
``from <= tick < to`` (``to`` omitted: for good):

| spec | what the venue serves |
|---|---|
| ``stale:binance`` | the data of tick ``from`` forever after, timestamps included |
| ``outlier:kraken:pct=8`` | every price ``pct`` % off the market (5-20 %: a bad venue) |
| ``halt:okx:market=SOL/USDT`` | that market frozen at tick ``from``, no volume, listed as halted |
| ``thin:coinbase:market=ADA/USD`` | 1/10,000 of its volume and a 5 % spread |
| ``depeg:USDT:pct=3`` | the stablecoin ``pct`` % under a dollar, on every venue |
| ``rename:binance:market=MATIC,new=POL`` | the venue lists that ticker as ``new`` |

``market`` takes ``BASE/QUOTE`` in the emulator's unified tickers (``BTC/USD``, not
``XXBTZUSD``), or ``BASE`` for every market of that coin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Final

KINDS: Final = ("stale", "outlier", "halt", "thin", "depeg", "rename")


@dataclass(frozen=True, slots=True)
class BadDay:
    kind: str
    target: str  # a venue, or a stablecoin for ``depeg``
    start: int = 0  # first tick (the spec's ``from``)
    end: int | None = None  # first tick after (``to``)
    pct: str | None = None
    market: str | None = None
    new: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"bad day kind {self.kind!r}: one of {', '.join(KINDS)}")
        if self.kind in ("outlier", "depeg") and self.pct is None:
            raise ValueError(f"{self.kind} needs pct=")
        if self.kind in ("halt", "thin", "rename") and not self.market:
            raise ValueError(f"{self.kind} needs market=")
        if self.kind == "rename" and not self.new:
            raise ValueError("rename needs new=")
        if self.end is not None and self.end <= self.start:
            raise ValueError("to must be after from")

    @classmethod
    def parse(cls, spec: str) -> BadDay:
        parts = spec.split(":", 2)
        if len(parts) < 2:
            raise ValueError(f"bad day {spec!r}: expected kind:target[:key=value,...]")
        options: dict[str, Any] = {}
        if len(parts) == 3 and parts[2]:
            for pair in parts[2].split(","):
                key, sep, value = pair.partition("=")
                if not sep:
                    raise ValueError(f"bad day {spec!r}: {pair!r} is not key=value")
                options[key.strip()] = value.strip()
        start = int(options.pop("from", 0))
        end = options.pop("to", None)
        unknown = set(options) - {"pct", "market", "new"}
        if unknown:
            raise ValueError(f"bad day {spec!r}: unknown option(s) {sorted(unknown)}")
        return cls(parts[0], parts[1], start, None if end is None else int(end), **options)

    @classmethod
    def coerce(cls, value: BadDay | str | Mapping[str, Any]) -> BadDay:
        if isinstance(value, BadDay):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls(**dict(value))

    def active(self, tick: int) -> bool:
        return tick >= self.start and (self.end is None or tick < self.end)

    def matches(self, base: str, quote: str) -> bool:
        return self.market in (base, f"{base}/{quote}")

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class BadDays:
    """The active set (thread-safe: tests switch days while the server thread serves)."""

    def __init__(self, days: Iterable[BadDay | str | Mapping[str, Any]] = ()) -> None:
        self._lock = threading.Lock()
        self._days = [BadDay.coerce(d) for d in days]

    def replace(self, days: Iterable[BadDay | str | Mapping[str, Any]]) -> None:
        parsed = [BadDay.coerce(d) for d in days]
        with self._lock:
            self._days = parsed

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.describe() for d in self._days]

    def _active(self, kind: str, target: str, tick: int) -> list[BadDay]:
        with self._lock:
            days = list(self._days)
        return [d for d in days if d.kind == kind and d.target == target and d.active(tick)]

    def stale_since(self, venue: str, tick: int) -> int | None:
        days = self._active("stale", venue, tick)
        return min(d.start for d in days) if days else None

    def outlier(self, venue: str, tick: int) -> Decimal | None:
        days = self._active("outlier", venue, tick)
        return Decimal(days[0].pct or 0) / 100 if days else None

    def halted_since(self, venue: str, base: str, quote: str, tick: int) -> int | None:
        days = [d for d in self._active("halt", venue, tick) if d.matches(base, quote)]
        return min(d.start for d in days) if days else None

    def thin(self, venue: str, base: str, quote: str, tick: int) -> bool:
        return any(d.matches(base, quote) for d in self._active("thin", venue, tick))

    def depeg(self, currency: str, tick: int) -> Decimal | None:
        days = self._active("depeg", currency, tick)
        return Decimal(days[0].pct or 0) / 100 if days else None

    def renamed(self, venue: str, base: str, tick: int | None) -> str:
        """The ticker the venue shows for ``base`` at ``tick`` (None: the latest rename)."""
        with self._lock:
            days = [d for d in self._days if d.kind == "rename" and d.target == venue]
        for d in days:
            if d.market == base and (tick is None or d.active(tick)):
                return d.new or base
        return base
