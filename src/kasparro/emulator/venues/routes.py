"""The venues' HTTP surface: routing under ``/<venue>``, request weights, rate limits with
each venue's own signals, and statistics.

Rate limits are sliding windows of request *weight* per venue (``EmulatorConfig.
venue_rate_limits``: weight per minute; Binance's published limit is 6,000, a full
``ticker/24hr`` weighs 80). Over the limit each venue answers as it documents:

* Binance: 429 ``{"code":-1003,...}`` with ``Retry-After``; a client that comes back before
  that Retry-After is banned: 418 with ``Retry-After`` for ``binance_ban_seconds`` ("failing
  to back off after receiving 429s will result in an automated IP ban", the Binance docs);
* Kraken: **status 200** with ``{"error":["EAPI:Rate limit exceeded"]}``;
* OKX: 429 ``{"msg":"Too Many Requests","code":"50011"}`` (no Retry-After);
* Coinbase: 429 ``{"errors":[{"id":"rate_limit_exceeded",...}]}``.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from kasparro.emulator.venues.baddays import BadDays
from kasparro.emulator.venues.model import VENUES, VenueModel
from kasparro.emulator.venues.shapes import ROUTES

JSON: Final = [(b"content-type", b"application/json;charset=UTF-8")]
_BINANCE_429: Final = (
    b'{"code":-1003,"msg":"Too much request weight used; current limit is %d request weight '
    b'per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."}'
)
_BINANCE_418: Final = (
    b'{"code":-1003,"msg":"Way too much request weight used; IP banned until %d. Please use '
    b'WebSocket Streams for live updates to avoid bans."}'
)
_KRAKEN_LIMIT: Final = b'{"error":["EAPI:Rate limit exceeded"]}'
_OKX_429: Final = b'{"msg":"Too Many Requests","code":"50011"}'
_COINBASE_429: Final = b'{"errors":[{"id":"rate_limit_exceeded","message":"Too many requests"}]}'
NOT_FOUND: Final = {
    "binance": (404, b'{"code":-1000,"msg":"Not found."}'),
    "kraken": (404, b'{"error":["EGeneral:Unknown method"]}'),
    "okx": (404, b'{"msg":"Not Found","code":"404"}'),
    "coinbase": (404, b'{"errors":[{"id":"not_found","message":"Not found"}]}'),
}


class WeightWindow:
    """At most ``capacity`` weight in any 60 s (rejected requests cost nothing)."""

    def __init__(self, capacity: float, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self._clock = clock
        self._used: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def acquire(self, weight: int) -> int | None:
        """None when admitted, else the whole seconds until enough weight frees up."""
        with self._lock:
            now = self._clock()
            while self._used and self._used[0][0] <= now - 60.0:
                self._used.popleft()
            total = sum(w for _, w in self._used)
            if total + weight <= self.capacity:
                self._used.append((now, weight))
                return None
            freed, wait = total, 0.0
            for at, w in self._used:
                freed -= w
                wait = at + 60.0 - now
                if freed + weight <= self.capacity:
                    break
            return max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._used.clear()


@dataclass
class Reply:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class VenueState:
    """The venues of one emulator: model, limits, Binance's ban and statistics."""

    def __init__(
        self,
        model: VenueModel,
        *,
        limits: dict[str, float] | None,
        clock: Callable[[], float],
        ban_seconds: int = 120,
    ) -> None:
        self.model = model
        self.clock = clock
        self.ban_seconds = ban_seconds
        self._windows = {v: WeightWindow(c, clock) for v, c in (limits or {}).items()}
        self._retry_until: dict[str, float] = {}
        self._banned_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stats: dict[str, Counter[str]] = {v: Counter() for v in VENUES}

    @property
    def bad_days(self) -> BadDays:
        return self.model.bad_days

    def handle(self, venue: str, path: str, params: dict[str, str], tick: int) -> Reply:
        route = ROUTES[venue].get(path.rstrip("/") or "/")
        self._count(venue, "requests")
        if route is None:
            status, body = NOT_FOUND[venue]
            return self._done(venue, Reply(status, body, list(JSON)))
        limited = self._limit(venue, route[1])
        if limited is not None:
            return self._done(venue, limited, rate_limited=True)
        status, body = route[0](self.model, tick, params)
        headers = list(JSON)
        if venue == "binance":
            headers.append((b"x-mbx-used-weight-1m", str(route[1]).encode()))
        return self._done(venue, Reply(status, body, headers))

    def _limit(self, venue: str, weight: int) -> Reply | None:
        now = self.clock()
        with self._lock:
            banned = self._banned_until.get(venue, 0.0)
        if banned > now:
            return _binance_ban(banned, now)
        window = self._windows.get(venue)
        retry = None if window is None else window.acquire(weight)
        if retry is None:
            return None
        if venue == "binance":
            with self._lock:
                if self._retry_until.get(venue, 0.0) > now:  # did not back off: banned
                    self._banned_until[venue] = now + self.ban_seconds
                    return _binance_ban(now + self.ban_seconds, now)
                self._retry_until[venue] = now + retry
            body = _BINANCE_429 % int(window.capacity if window else 0)
            return Reply(429, body, [*JSON, (b"retry-after", str(retry).encode())])
        if venue == "kraken":
            return Reply(200, _KRAKEN_LIMIT, list(JSON))
        if venue == "okx":
            return Reply(429, _OKX_429, list(JSON))
        return Reply(429, _COINBASE_429, [*JSON, (b"retry-after", str(retry).encode())])

    def _done(self, venue: str, reply: Reply, *, rate_limited: bool = False) -> Reply:
        self._count(venue, str(reply.status))
        if rate_limited:
            self._count(venue, "rate_limited")
        return reply

    def _count(self, venue: str, key: str) -> None:
        with self._lock:
            self._stats[venue][key] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {v: dict(sorted(c.items())) for v, c in self._stats.items()}

    def reset(self) -> None:
        with self._lock:
            self._stats = {v: Counter() for v in VENUES}
            self._retry_until.clear()
            self._banned_until.clear()
        for window in self._windows.values():
            window.reset()


def _binance_ban(until: float, now: float) -> Reply:
    wait = max(1, math.ceil(until - now))
    body = _BINANCE_418 % int(until * 1000)
    return Reply(418, body, [*JSON, (b"retry-after", str(wait).encode())])
