"""Per-API request-rate limiting with the upstreams' 429 semantics."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most ``capacity`` accepted requests in any ``window`` seconds.

    ``per_minute >= 1`` gives ``floor(per_minute)`` requests per 60 s; a fractional rate
    below 1 gives one request per ``60 / per_minute`` s. Rejected requests do not consume
    capacity (a client hammering through 429s still gets in once the window frees up).
    """

    def __init__(self, per_minute: float, clock: Callable[[], float]) -> None:
        if per_minute <= 0:
            raise ValueError("rate limit must be > 0 requests per minute")
        if per_minute >= 1:
            self.capacity, self.window = int(per_minute), 60.0
        else:
            self.capacity, self.window = 1, 60.0 / per_minute
        self._clock = clock
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> int | None:
        """None when the request is admitted, else the Retry-After in whole seconds (>= 1)."""
        with self._lock:
            now = self._clock()
            horizon = now - self.window
            while self._accepted and self._accepted[0] <= horizon:
                self._accepted.popleft()
            if len(self._accepted) < self.capacity:
                self._accepted.append(now)
                return None
            frees_at = self._accepted[0] + self.window
            return max(1, math.ceil(frees_at - now))

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()
