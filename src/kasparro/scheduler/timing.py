"""Pure scheduling arithmetic: the slot grid and the failure backoff (no I/O, no clock reads)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime; injected so tests never sleep."""

# 2**30 * any sane base is far beyond any interval; capping the exponent avoids float overflow
# after a source has been failing for a very long time.
_MAX_EXPONENT = 30


def system_clock() -> datetime:
    return datetime.now(UTC)


def next_slot(previous: datetime | None, now: datetime, interval_s: float) -> datetime:
    """The next run time after a run claimed at ``now`` for the slot ``previous``.

    Fixed-rate: slots stay on the grid ``previous + k * interval`` so a late wake-up does not
    drift the cadence, and only the first slot strictly after ``now`` is kept, so a scheduler
    that was down for hours runs once on return instead of bursting through missed slots
    (free API tiers have monthly call budgets).
    """
    step = timedelta(seconds=interval_s)
    if previous is None or previous > now:
        return now + step
    missed = (now - previous) // step
    return previous + (missed + 1) * step


def retry_delay_s(failures: int, base_s: float, interval_s: float) -> float:
    """Backoff before retrying a failed source: base, 2*base, 4*base, ... capped at the interval.

    Capped at the interval because a failing source should never be polled *less* often than
    a healthy one; ``failures`` counts consecutive failures including the one just recorded.
    """
    exponent = min(max(failures - 1, 0), _MAX_EXPONENT)
    return min(interval_s, base_s * 2.0**exponent)
