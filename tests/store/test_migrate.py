"""`kasparro migrate` run by several processes at once on a fresh database (compose's api and
scheduler used to): every one succeeds and the schema is the one a single migration makes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from kasparro.store.migrate import MIGRATIONS_DIR
from kasparro.store.partitions import is_partition
from tests.fixtures.db import DIALECTS, _asyncpg_dsn, _pg_exec, _pg_skip_reason, pg_admin_url

PROCESSES = 4


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head
    return head


def migrate_concurrently(url: str, cwd: Path, n: int = PROCESSES) -> list[tuple[int, str]]:
    """Start ``n`` `kasparro migrate` processes together; their exit codes and stderr."""
    env = {**os.environ, "KASPARRO_DATABASE_URL": url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kasparro", "migrate"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    results = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=180)
        results.append((proc.returncode, stderr))
    return results


@pytest.fixture
def fresh_pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty PostgreSQL database (not migrated)."""
    if request.getfixturevalue("pg_database_url") is None:
        pytest.skip(_pg_skip_reason[0] if _pg_skip_reason else "PostgreSQL unavailable")
    admin = pg_admin_url()
    name = f"kasparro_migrate_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_exec(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_schema(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY 1, 2"
        )
        indexes = await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = 'public' ORDER BY 1, 2"
        )
        constraints = await conn.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        )
        invalid = await conn.fetch(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid"
        )
        version = await conn.fetch("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()

    # The months' partitions come and go at run time (other tests of the session's
    # database create some); the parent and its own indexes and constraints compare.
    def schema_of(rows: list[Any]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in rows if not is_partition(r[0])]

    return {
        "columns": schema_of(columns),
        "indexes": schema_of(indexes),
        "constraints": schema_of(constraints),
        "invalid_indexes": [tuple(r) for r in invalid],
        "version": [tuple(r) for r in version],
    }


def _sqlite_schema(path: Path) -> list[tuple[object, ...]]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return [*rows, ("version", *version)]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_concurrent_migrations_of_a_fresh_database_all_succeed(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest, sqlite_template: Path
) -> None:
    if dialect == "sqlite":
        path = tmp_path / "fresh.db"
        results = migrate_concurrently(f"sqlite+aiosqlite:///{path}", tmp_path)
        assert [code for code, _ in results] == [0] * PROCESSES, results
        # The same schema as one migration alone makes (the session's template).
        assert _sqlite_schema(path) == _sqlite_schema(sqlite_template)
        return
    url = request.getfixturevalue("fresh_pg_url")
    results = migrate_concurrently(url, tmp_path)
    # Unserialised, all but one failed: duplicate key ... "pg_type_typname_nsp_index".
    assert [code for code, _ in results] == [0] * PROCESSES, results
    schema = asyncio.run(_pg_schema(url))
    assert schema["version"] == [(_head(),)]
    assert schema["invalid_indexes"] == []  # no half-built concurrent index
    reference = asyncio.run(_pg_schema(request.getfixturevalue("pg_database_url")))
    assert schema == reference
