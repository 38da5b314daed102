"""Fixtures for the resilience suite."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.store.engine import create_engine

ReferenceStore = Callable[[], Awaitable[AsyncEngine]]


@pytest.fixture
async def reference_store(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[ReferenceStore]:
    """Factory of extra, empty, migrated SQLite stores (e.g. for an uninterrupted reference
    run to compare against; values are compared as typed Python values, so a reference on
    SQLite is valid for a PostgreSQL store too)."""
    engines: list[AsyncEngine] = []
    counter = itertools.count()

    async def make() -> AsyncEngine:
        path = tmp_path / f"reference-{next(counter)}.db"
        shutil.copy(sqlite_template, path)
        eng = create_engine(f"sqlite+aiosqlite:///{path}", pool_size=2)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        await eng.dispose()
