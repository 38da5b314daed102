"""GC settings of the long-lived processes."""

from __future__ import annotations

import gc

from kasparro.heap import GC_GEN0_THRESHOLD, settle_heap


def test_settle_heap_freezes_startup_objects_and_raises_gen0() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
