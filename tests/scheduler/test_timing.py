"""Slot grid and backoff arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kasparro.scheduler.timing import next_slot, retry_delay_s

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_first_run_schedules_one_interval_ahead() -> None:
    assert next_slot(None, T0, 600) == at(600)


def test_late_wake_up_stays_on_the_grid() -> None:
    # Woken 3 s late for the slot at t=0: the next slot is still t=600, not t=603.
    assert next_slot(T0, at(3), 600) == at(600)


def test_missed_slots_are_skipped_not_replayed() -> None:
    # Down for 5.5 intervals: one run now, next on the grid after now.
    assert next_slot(T0, at(3300), 600) == at(3600)


def test_exactly_on_a_slot_moves_to_the_following_one() -> None:
    assert next_slot(T0, at(600), 600) == at(1200)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 600), (50, 600), (10_000, 600)],
)
def test_retry_delay_doubles_and_caps_at_interval(failures: int, expected: float) -> None:
    assert retry_delay_s(failures, 30, 600) == expected
