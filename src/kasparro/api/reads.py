"""Where the API's reads go: the primary, or PostgreSQL streaming replicas.

With ``KASPARRO_READ_DATABASE_URL`` unset there is one read target, the primary, and nothing
changes. With replicas, market data (``/data``, assets, history, candles, top, search,
identity, drift, quarantine) is read from them; run state (``/runs``, ``/stats``,
``/health``'s runs and heartbeat) and everything a trigger checks (leases, run ids) stay on
the primary, so a client that starts a run can poll it at once (see docs/scaling.md for
what replication lag means for the data).

Each target has its **own page cache**, tagged by that database's own data version (its
MVCC snapshot: a standby's changes when it replays a commit, not when the primary makes it).
A page computed on one database is never filed under another's version, so a lagging
standby's page cannot outlive its replay, and switching targets never serves a page of
another database or of another query (the cache key is the query's inputs, as before).

Failure: a replica that cannot be reached (or that cancels a query to replay WAL) is
skipped for ``KASPARRO_READ_RETRY_SECONDS`` and the request is retried on the next target:
the other replicas, then the primary (``KASPARRO_READ_FALLBACK=primary``, the default), or
with ``fail`` only the replicas, resting ones included, and otherwise a 503. A query that ran
out of time is not retried elsewhere (it would cost the next database the same).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kasparro.api.cache import CachedPage, PageCache
from kasparro.query.fastread import Reader, ReadUnavailable
from kasparro.runtime import ReadDatabase

log = structlog.get_logger(__name__)

T = TypeVar("T")
Policy = Literal["failover", "spread"]
Fallback = Literal["primary", "fail"]


@dataclass(eq=False)
class ReadTarget:
    db: ReadDatabase
    cache: PageCache
    replica: bool
    down_until: float = 0.0  # monotonic time before which it is skipped
    last_error: str | None = None

    @property
    def name(self) -> str:
        return self.db.name

    @property
    def where(self) -> str:
        return self.db.where

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    @property
    def reader(self) -> Reader:
        return self.db.reader


def try_elsewhere(exc: BaseException) -> bool:
    """Another copy of the database may answer what failed with ``exc`` on this one."""
    if isinstance(exc, ReadUnavailable):
        return exc.elsewhere
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        # "canceling statement due to conflict with recovery" (a standby replaying WAL).
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code == "40001":
            return True
        return isinstance(exc, OperationalError) and "timeout" not in str(exc).lower()
    return isinstance(exc, OSError | ConnectionError)


class ReadRouter:
    def __init__(
        self,
        primary: ReadTarget,
        replicas: Sequence[ReadTarget] = (),
        *,
        policy: Policy = "failover",
        fallback: Fallback = "primary",
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.policy = policy
        self.fallback = fallback
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._turn = itertools.count()

    @property
    def targets(self) -> list[ReadTarget]:
        return [*self.replicas, self.primary]

    def order(self) -> list[ReadTarget]:
        """The targets a read tries, in order."""
        if not self.replicas:
            return [self.primary]
        now = self._clock()
        up = [t for t in self.replicas if t.down_until <= now]
        if self.policy == "spread" and len(up) > 1:
            turn = next(self._turn) % len(up)
            up = up[turn:] + up[:turn]
        if self.fallback == "primary":
            return [*up, self.primary]
        # Reads must not reach the primary: a replica resting after a failure is still
        # better than a certain 503.
        return [*up, *(t for t in self.replicas if t.down_until > now)]

    def serving(self) -> ReadTarget:
        """Where the next read goes first (for /health)."""
        return self.order()[0]

    async def run(self, work: Callable[[ReadTarget], Awaitable[T]]) -> T:
        """``work`` on the first target that answers; the last failure if none does."""
        error: BaseException | None = None
        for target in self.order():
            try:
                result = await work(target)
            except Exception as exc:
                if not try_elsewhere(exc):
                    raise
                self._failed(target, exc)
                error = exc
                continue
            if target.last_error is not None:
                log.info("read_database_back", database=target.name, where=target.where)
                target.last_error = None
            return result
        assert error is not None
        raise error

    def _failed(self, target: ReadTarget, exc: BaseException) -> None:
        text = str(exc).strip()
        reason = f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"
        if target.last_error is None:
            log.warning(
                "read_database_failed", database=target.name, where=target.where, error=reason
            )
        target.last_error = reason
        if target.replica:
            target.down_until = self._clock() + self.retry_seconds

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """An engine connection on the first target that accepts one."""

        async def open_on(target: ReadTarget) -> AsyncConnection:
            return await target.engine.connect().start()

        conn = await self.run(open_on)
        try:
            yield conn
        finally:
            await conn.close()

    async def page(
        self, key: Hashable, compute: Callable[[ReadTarget], Awaitable[CachedPage]]
    ) -> tuple[CachedPage, ReadTarget]:
        """The page under ``key``, from the cache of the target that serves it (tagged with
        that database's data version) or computed there."""

        async def on(target: ReadTarget) -> tuple[CachedPage, ReadTarget]:
            cache = target.cache
            version = await target.reader.data_version() if cache.max_entries else None

            async def compute_here() -> CachedPage:
                return await compute(target)

            return await cache.get_or_compute(key, version, compute_here), target

        return await self.run(on)

    async def close(self, *, dispose: bool = True) -> None:
        for target in self.replicas:
            await target.db.close()
        await self.primary.db.close(dispose=dispose)


def build_router(
    primary: ReadDatabase,
    replicas: Sequence[ReadDatabase],
    *,
    cache_entries: int,
    policy: Policy,
    fallback: Fallback,
    retry_seconds: float,
) -> ReadRouter:
    return ReadRouter(
        ReadTarget(primary, PageCache(max_entries=cache_entries), replica=False),
        [ReadTarget(r, PageCache(max_entries=cache_entries), replica=True) for r in replicas],
        policy=policy,
        fallback=fallback,
        retry_seconds=retry_seconds,
    )
