"""Periodic, replica-safe ingestion: each due source tick is claimed once in the database.

Modules: ``timing`` (slot and backoff arithmetic), ``state`` (SQL on ``scheduler_state``),
``core`` (the ``Scheduler``), ``runner``
(the signal-handling standalone process, also ``python -m kasparro.scheduler``).
"""

from __future__ import annotations

from kasparro.scheduler.core import (
    HEARTBEAT_SECONDS,
    Scheduler,
    SourceStatus,
)
from kasparro.scheduler.runner import run_scheduler

__all__ = [
    "HEARTBEAT_SECONDS",
    "Scheduler",
    "SourceStatus",
    "run_scheduler",
]
