"""Single round-trip reads for the hot endpoints (``/data``, asset history).

Statements are still built with SQLAlchemy Core and compiled once per shape, but executed
on a dedicated driver connection, because the generic async engine costs several round
trips per query that a 100-row page cannot afford:

- aiosqlite runs each cursor operation as a separate hop to its thread (cursor, execute,
  fetchall, close), plus the engine's ``BEGIN`` and the pool's reset ``ROLLBACK``: about
  nine hops per query. Here one hop runs ``execute().fetchall()`` on a stdlib ``sqlite3``
  connection owned by a small reader thread pool (``query_only``, autocommit: every SELECT
  is its own consistent read snapshot under WAL, never blocking or blocked by writers).
- SQLAlchemy's asyncpg pool pings on checkout and wraps every query in BEGIN/ROLLBACK:
  four round trips. Here an asyncpg pool in autocommit runs one prepared statement.

``data_version()`` is a cheap token that changes whenever committed data may have changed,
so callers can cache results safely (no TTL, no staleness): SQLite's ``PRAGMA
data_version`` (microseconds, any other connection's commit bumps it) and PostgreSQL's
``pg_current_snapshot()`` (identical snapshots see identical data; one tiny query, shared by
concurrent requests).

Query results need no type processing: hot statements render every output column as
JSON-ready text/int in SQL (see ``sqltext``); only the trailing sort value is typed here.
Driver errors are re-raised as ``ReadUnavailable``/``ReadFailed`` so the API maps them to
503/500 like SQLAlchemy's.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import asyncpg
import orjson
from sqlalchemy import ARRAY, BigInteger, String, any_, cast, func, literal_column, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import BindParameter
from sqlalchemy.sql.selectable import Select


class ReadUnavailable(Exception):
    """The database could not be reached (connection refused, timeout, locked).

    ``elsewhere``: another copy of the database may well answer (the connection failed, or
    a standby cancelled the query to replay WAL); false for a query that ran out of time,
    which would only cost another database the same."""

    def __init__(self, message: str, *, elsewhere: bool = True) -> None:
        super().__init__(message)
        self.elsewhere = elsewhere


class ReadFailed(Exception):
    """The database rejected the statement (a bug or a missing schema)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    sql: str
    names: tuple[str, ...]  # parameter name per placeholder, in order
    defaults: dict[str, Any]  # values SQLAlchemy bound itself (e.g. SQLite's OFFSET 0)
    # PostgreSQL: planned for each run's values (the reader's sessions use generic plans).
    # For shapes whose best plan depends on the values: with ``= ANY($n)`` over two rare
    # assets a generic plan walks the whole time index filtering (1 s on 4M rows) where
    # the values' plan reads each asset's rows (2 ms).
    custom_plan: bool = False


async def _custom_plan_fetch(conn: Any, sql: str, args: list[Any]) -> list[Any]:
    async with conn.transaction():  # SET LOCAL ends with it
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return list(await conn.fetch(sql, *args))


def prepare(stmt: Select[Any], dialect: Dialect, *, custom_plan: bool = False) -> Prepared:
    compiled = stmt.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    defaults = {key: bind.value for key, bind in compiled.binds.items() if not bind.required}
    return Prepared(compiled.string, names, defaults, custom_plan)


def in_list(
    col: ColumnElement[Any], param: BindParameter[Any], dialect: str, integer: bool = False
) -> ColumnElement[bool]:
    """``col IN (values)`` with ONE bind parameter whatever the number of values, so the
    statement text (and the driver's prepared-statement cache) does not vary per request:
    a JSON array through ``json_each`` on SQLite, ``= ANY($n::type[])`` on PostgreSQL."""
    if dialect == "sqlite":
        return col.in_(select(literal_column("value")).select_from(func.json_each(param)))
    return col == any_(cast(param, ARRAY(BigInteger() if integer else String())))


class Reader(ABC):
    dialect: str

    @abstractmethod
    async def fetch(
        self, prepared: Prepared, params: dict[str, Any]
    ) -> Sequence[Sequence[Any]]: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def parse_timestamp(self, value: Any) -> datetime:
        """A raw timestamp column value (the sort value) as an aware UTC datetime."""

    @abstractmethod
    async def data_version(self) -> str | int | None:
        """A token equal between two calls only if no data was committed in between;
        None when it cannot be determined (callers then must not use cached results)."""


def _sqlite_bind(value: Any) -> Any:
    if isinstance(value, datetime):
        # The exact text SQLAlchemy stores for UTCDateTime on SQLite (fixed width, so
        # text comparison is chronological).
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, list | tuple):
        return orjson.dumps(list(value)).decode()
    return value


class SqliteReader(Reader):
    dialect = "sqlite"

    def __init__(self, path: str, *, threads: int = 4, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        # mode=rw: reading must never create a missing database file.
        self._uri = f"file:{urllib.parse.quote(path)}?mode=rw"
        self.busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kasparro-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._version_conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._uri,
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout_ms / 1000,
            )
            conn.execute("PRAGMA query_only=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _run(self, sql: str, args: list[Any]) -> list[Any]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "no such" in text or "syntax" in text:
                raise ReadFailed(f"OperationalError: {text}") from exc
            raise ReadUnavailable(f"OperationalError: {text}") from exc
        except sqlite3.DatabaseError as exc:
            raise ReadFailed(f"{type(exc).__name__}: {exc}") from exc

    async def fetch(self, prepared: Prepared, params: dict[str, Any]) -> list[Any]:
        args = [
            _sqlite_bind(params[n] if n in params else prepared.defaults.get(n))
            for n in prepared.names
        ]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, prepared.sql, args)

    def parse_timestamp(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    async def data_version(self) -> int | None:
        # Runs on the event loop on purpose: it reads the WAL index only (~4 us), far
        # cheaper than a thread hop. A dedicated connection that never writes, so every
        # commit (any process, any connection) changes the value.
        try:
            if self._version_conn is None:
                self._version_conn = sqlite3.connect(
                    self._uri,
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=0.05,
                )
                self._version_conn.execute("PRAGMA query_only=ON")
            row = self._version_conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        # Tie the token to this connection: a reconnect restarts the counter.
        return (id(self._version_conn) << 32) ^ int(row[0])

    async def close(self) -> None:
        if self._version_conn is not None:
            self._version_conn.close()
            self._version_conn = None
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to undo. By default asyncpg sends ``RESET ALL;
    CLOSE ALL; UNLISTEN *; ...`` on every release, one more round trip per query; these
    connections only ever run single autocommit SELECTs (asyncpg still rolls back any
    transaction left open before calling this)."""


class PostgresReader(Reader):
    dialect = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        statement_timeout_ms: int = 15000,
    ) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        # Queries queue here, first come first served, for all connections but one; the
        # last one is left for data_version() (at most one in flight), so the cache check
        # never waits behind page queries. asyncpg's own pool queue lets a newcomer take a
        # connection that was just handed to a waiter, which sends the waiter to the back:
        # under 32 concurrent requests half waited 0 ms and 1% waited over 200 ms.
        self._slots = asyncio.Semaphore(max(1, max_size - 1))
        self._next_check: asyncio.Future[str | None] | None = None
        self._checking = False

    async def _get_pool(self) -> asyncpg.Pool:
        # Created on first use, not at startup: the API must start (and report 503 from
        # /health) while the database is down.
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=0,
                        max_size=self.max_size,
                        timeout=self.connect_timeout,
                        server_settings={
                            "statement_timeout": str(self.statement_timeout_ms),
                            "application_name": "kasparro-api",
                            # These are index lookups of at most 1001 rows. A generic plan
                            # estimates ``LIMIT $n`` as 10% of the table, which at 10M rows
                            # crosses jit_above_cost: 250 ms of JIT compilation for a 1 ms
                            # query (measured with EXPLAIN ANALYZE).
                            "jit": "off",
                            # Every statement here is prepared once per shape and run many
                            # times. On a partitioned store a custom plan is planned anew for
                            # each run, with every month's partition and index considered:
                            # 1-2 ms of planning for a 0.2 ms asset history page with 17
                            # months, which PostgreSQL's own choice (custom, after five runs,
                            # once an asset's history is long) paid on every request. Generic
                            # plans prune partitions at run time; the shapes' plans are the
                            # same index walks (checked endpoint by endpoint on a 1M-row
                            # store, BENCHMARKS.md 5), except where ``Prepared.custom_plan``
                            # says the values decide. No parallel workers: a page is a few
                            # index probes, and a generic plan's "10% of the table" guess for
                            # LIMIT $n otherwise buys a Gather (4 ms of worker start-up).
                            "plan_cache_mode": "force_generic_plan",
                            "max_parallel_workers_per_gather": "0",
                        },
                        reset=_keep_session,
                    )
        return self._pool

    async def fetch(self, prepared: Prepared, params: dict[str, Any]) -> list[Any]:
        args = [params[n] if n in params else prepared.defaults.get(n) for n in prepared.names]
        try:
            if self._slots.locked():
                async with asyncio.timeout(self.connect_timeout):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()
            try:
                pool = await self._get_pool()
                async with pool.acquire(timeout=self.connect_timeout) as conn:
                    if not prepared.custom_plan:
                        return list(await conn.fetch(prepared.sql, *args))
                    try:
                        return await _custom_plan_fetch(conn, prepared.sql, args)
                    except asyncpg.InvalidCachedStatementError:
                        # Outside a transaction asyncpg re-prepares such a statement (a
                        # migration changed its result) by itself; inside one it cannot,
                        # having dropped it from its cache: once more, prepared anew.
                        return await _custom_plan_fetch(conn, prepared.sql, args)
            finally:
                self._slots.release()
        except asyncpg.QueryCanceledError as exc:  # statement_timeout
            raise ReadUnavailable(f"{type(exc).__name__}: {exc}", elsewhere=False) from exc
        except (
            OSError,
            TimeoutError,
            asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
            asyncpg.InterfaceError,
            # A hot standby cancels a query that conflicts with WAL replay (SQLSTATE 40001,
            # "conflict with recovery"): not a bug of the statement, worth another copy.
            asyncpg.SerializationError,
        ) as exc:
            raise ReadUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise ReadFailed(f"{type(exc).__name__}: {exc}") from exc

    def parse_timestamp(self, value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    async def data_version(self) -> str | None:
        """The current MVCC snapshot (``xmin:xmax:xip``) as text.

        Two identical snapshots see identical data, so an unchanged snapshot proves no
        write committed in between (any write in the cluster changes it: coarse, never
        stale). Coalescing: a caller never reuses a check that started before it arrived
        (that could miss a commit it already observed); it waits for the next check, and
        all callers waiting for that one share it: at most one query in flight.
        """
        if self._next_check is None:
            self._next_check = asyncio.get_running_loop().create_future()
            if not self._checking:
                asyncio.get_running_loop().create_task(self._run_checks())
        return await asyncio.shield(self._next_check)

    async def _run_checks(self) -> None:
        self._checking = True
        try:
            while self._next_check is not None:
                waiting, self._next_check = self._next_check, None
                try:
                    pool = await self._get_pool()
                    async with pool.acquire(timeout=self.connect_timeout) as conn:
                        value = await conn.fetchval("SELECT pg_current_snapshot()::text")
                except Exception:  # unknown version: callers simply bypass the cache
                    value = None
                if not waiting.done():
                    waiting.set_result(value)
        finally:
            self._checking = False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def open_reader(url: str, *, threads: int = 4, pool_size: int = 10) -> Reader:
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if not u.database or u.database == ":memory:":
            raise ValueError("in-memory SQLite is not supported: use a file path")
        return SqliteReader(u.database, threads=threads)
    if backend == "postgresql":
        dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresReader(dsn, max_size=pool_size)
    raise ValueError(f"unsupported database {backend!r}")


@lru_cache(maxsize=8)
def dialect_for(name: str) -> Dialect:
    """The SQLAlchemy dialect whose compiler matches the reader's driver."""
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

        return SQLiteDialect_pysqlite()
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    return PGDialect_asyncpg()
