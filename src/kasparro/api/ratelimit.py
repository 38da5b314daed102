"""Token buckets per client for the run-trigger endpoints.

A trigger starts real upstream traffic against rate-limited, quota-metered APIs, so a loop
in a caller's cron must not become a loop of runs. Each client address gets ``burst``
triggers at once, refilled at ``per_minute``; beyond that the answer is 429 with an exact
``Retry-After``. Memory is bounded: the least recently seen clients are forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float | None:
        """Consume one token; None when allowed, else seconds until one is available."""
        now = self.clock()
        tokens, stamp = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = None
        else:
            self._buckets[client] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
