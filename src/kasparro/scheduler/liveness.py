"""When a scheduler counts as dead: one rule for ``/health`` and ``kasparro check-scheduler``.

Every running scheduler stamps ``scheduler_state.heartbeat_at`` every ``HEARTBEAT_SECONDS``
(see ``Scheduler._loop``), whatever process it runs in. A heartbeat older than three missed
beats means no scheduler is running against the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kasparro.scheduler.core import HEARTBEAT_SECONDS

# A loaded machine (or a long garbage collection) can delay one beat by seconds: never
# call a scheduler dead sooner than this.
MIN_STALE_AFTER_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Liveness:
    heartbeat_at: datetime | None
    age_s: float | None
    stale_after_s: float

    @property
    def stale(self) -> bool:
        """No heartbeat at all, or one older than ``stale_after_s``."""
        return self.age_s is None or self.age_s > self.stale_after_s


def liveness(
    heartbeat_at: datetime | None, now: datetime, heartbeat_seconds: float = HEARTBEAT_SECONDS
) -> Liveness:
    age = (now - heartbeat_at).total_seconds() if heartbeat_at else None
    return Liveness(heartbeat_at, age, max(3 * heartbeat_seconds, MIN_STALE_AFTER_SECONDS))
