"""Deterministic failure and crash injection for demos and the crash-test matrix."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable

from kasparro.sources.base import SourceError


class InjectedFailure(SourceError):
    """Deterministic failure requested by KASPARRO_FAIL_AT (demos and tests)."""


class FailPoints:
    """``KASPARRO_FAIL_AT=source:page`` fails a source at a page as if the upstream failed
    there; ``KASPARRO_CRASH_AT=phase:source:page`` SIGKILLs the process at a named point."""

    def __init__(self, fail_at: str | None, crash_at: str | None) -> None:
        self.fail_at = fail_at
        self.crash_at = crash_at

    def crash(self, phase: str, name: str, pages: Iterable[int] = (0,)) -> None:
        """A real kill -9, not an exception: nothing in this process gets to clean up,
        exactly like an OOM kill or a power cut."""
        if not self.crash_at:
            return
        for number in pages:
            if self.crash_at == f"{phase}:{name}:{number}":
                os.kill(os.getpid(), signal.SIGKILL)

    def failure(self, name: str, page_number: int) -> InjectedFailure | None:
        if self.fail_at and self.fail_at == f"{name}:{page_number}":
            return InjectedFailure(
                f"injected failure at {name} page {page_number} (KASPARRO_FAIL_AT)"
            )
        return None
