"""Pause the cyclic garbage collector around bulk work."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Big builds allocate millions of small acyclic objects; the collections they trigger
    walk the whole (100k-coin) heap again and again and cost more than the work itself.
    Nothing here creates reference cycles, so nothing is lost by collecting later."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
