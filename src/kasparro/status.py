"""The vocabulary of run outcomes, in one place."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RunStatus(StrEnum):
    """How a run ended (or why none ran). A ``StrEnum``: compares equal to its text, which is
    what the ``runs.status`` column stores and the API shows."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"  # loaded, with rejected records quarantined
    FAILED = "failed"
    CRASHED = "crashed"  # its process died; marked by the next run of the source
    # Never recorded as runs: nothing ran.
    SKIPPED = "skipped"  # another process holds the source's lease
    FRESH = "fresh"  # reference data refreshed recently enough


# A run whose data is in: the source's checkpoint advanced to its end.
OK: Final = frozenset({RunStatus.SUCCESS, RunStatus.PARTIAL})
# What a finished, recorded run can say.
FINISHED: Final = frozenset({*OK, RunStatus.FAILED, RunStatus.CRASHED})
# Nothing went wrong: the run succeeded, or had no work to do.
NOT_FAILED: Final = frozenset({*OK, RunStatus.FRESH})
