"""Everything the lifespan creates, in one object on ``app.state.kasparro``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro.api.cache import PageCache
from kasparro.api.config import ApiConfig
from kasparro.api.reads import ReadRouter
from kasparro.api.runner import RunManager
from kasparro.identity.service import IdentityService
from kasparro.query.fastread import Reader
from kasparro.runtime import Runtime
from kasparro.settings import Settings
from kasparro.sources.http import Limiters
from kasparro.sources.registry import Registry


@dataclass(slots=True)
class AppState:
    runtime: Runtime
    config: ApiConfig
    # Readers never take SQLite's write lock (plain BEGIN); writers use BEGIN IMMEDIATE.
    # Both on the primary: run state, leases and anything read right after a write.
    read_engine: AsyncEngine
    write_engine: AsyncEngine
    # Market data: the primary or read replicas, each with its fast reader (one round trip
    # per hot query, see kasparro.query.fastread) and its page cache (see api.reads).
    reads: ReadRouter
    http: httpx.AsyncClient
    limiters: Limiters
    runs: RunManager
    identity: IdentityService  # relinks and decisions, on the write engine
    scheduler: Any | None  # kasparro.scheduler.Scheduler when with_scheduler

    @property
    def reader(self) -> Reader:
        """The primary's fast reader."""
        return self.reads.primary.reader

    @property
    def cache(self) -> PageCache:
        """The primary's page cache."""
        return self.reads.primary.cache

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def registry(self) -> Registry:
        return self.runtime.registry

    @property
    def dialect(self) -> str:
        return self.read_engine.dialect.name

    def scheduler_status(self) -> dict[str, Any] | None:
        if self.scheduler is None:
            return None
        try:
            status = self.scheduler.status()
        except Exception as exc:  # a status() bug must not break /health or /stats
            return {"error": f"{type(exc).__name__}: {exc}"}
        return status if isinstance(status, dict) else {"status": status}
