"""Engine construction (called at entry points only, never at import time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from kasparro.dburl import normalize_url as normalize_url


def create_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, reader: bool = False
) -> AsyncEngine:
    """Create the async engine: for writers (the pipeline, the scheduler) by default, or for
    ``reader`` connections (the API's queries).

    SQLite: writers start every transaction with ``BEGIN IMMEDIATE``, so read-then-write
    batches never fail with a lock upgrade conflict; readers use a plain ``BEGIN``, so they
    never queue behind the write lock under WAL.
    """
    url = normalize_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        # One file, many short transactions: WAL lets readers (the API) run during loads.
        kwargs["connect_args"] = {"timeout": 30}
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            raise ValueError("in-memory SQLite is not supported: use a file path")
        if pool_size == 0:
            kwargs["poolclass"] = NullPool
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        kwargs["pool_pre_ping"] = True
        if reader:
            # Read queries are planned for their actual parameters: asyncpg prepares
            # statements, and after five runs PostgreSQL may switch to a generic plan, whose
            # default selectivity guesses for range and keyset predicates can pick another
            # index than the parameters call for. Planning one costs well under a millisecond.
            kwargs["connect_args"] = {"server_settings": {"plan_cache_mode": "force_custom_plan"}}
        # Writers keep PostgreSQL's default. Every statement of a load has one sensible plan
        # whatever the statistics: inserts, and identity lookups written as one index probe
        # per key (store.dialect.key_table; their generic plans on empty tables are the same
        # probes, checked with force_generic_plan). Forcing custom plans there (done before)
        # also re-planned the foreign-key check of every inserted row (the RI triggers' SPI
        # plans follow plan_cache_mode): 2 s of PostgreSQL's 7 s of CPU on benchmark 1.
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _install_sqlite_pragmas(engine, "BEGIN" if reader else "BEGIN IMMEDIATE")
    return engine


def _install_sqlite_pragmas(engine: AsyncEngine, begin_sql: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's implicit BEGIN breaks SAVEPOINT and makes write-locking lazy; take
        # control so every transaction starts with BEGIN IMMEDIATE (no lock-upgrade deadlocks).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # kasparro_read_only: a read that must neither wait for nor hold the write lock.
        read_only = conn.get_execution_options().get("kasparro_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else begin_sql)
