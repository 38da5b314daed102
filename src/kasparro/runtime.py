"""The composition root: the one place that builds what the processes share.

The CLI, the scheduler process, the API and the demo each build one :class:`Runtime` at their
entry point and pass it (or what it built) down: the settings, the source catalog (the
registry with every provider's settings resolved), database engines, the upstream HTTP client,
the per-provider request budgets and the lease ledger. Nothing else constructs those, so a
test or an embedding application swaps any of them in one place. Nothing here runs at import.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kasparro import __version__
from kasparro.runs.leases import LeaseLedger
from kasparro.settings import Settings
from kasparro.sources.catalog import Catalog
from kasparro.sources.http import Limiters
from kasparro.sources.registry import Registry
from kasparro.store.engine import create_engine, normalize_url

if TYPE_CHECKING:
    from kasparro.query.fastread import Reader


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    # One per process: what this process knows about leases it could not release.
    ledger: LeaseLedger = field(default_factory=LeaseLedger)

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        registry: Registry | None = None,
        env_file: str | None = ".env",
    ) -> Runtime:
        """From the environment (``KASPARRO_*``, ``.env``), unless ``settings`` is given;
        ``env_file=None`` keeps a ``.env`` out (tests)."""
        if settings is None:
            settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
        return cls(settings, Catalog.build(settings, registry, env_file=env_file))

    def with_settings(self, **update: object) -> Runtime:
        """The same process wiring with some core settings changed (``--port``, the demo)."""
        settings = self.settings.model_copy(update=update)
        catalog = Catalog(settings, self.catalog.registry, self.catalog.configs)
        return Runtime(settings, catalog, self.ledger)

    def with_sources(self, **overrides: dict[str, object]) -> Runtime:
        """The same wiring with some providers' settings changed (the demo's emulator URLs)."""
        merged = {**self.settings.sources}
        for name, values in overrides.items():
            merged[name] = {**merged.get(name, {}), **values}
        settings = self.settings.model_copy(update={"sources": merged})
        return Runtime(
            settings, Catalog.build(settings, self.catalog.registry, env_file=None), self.ledger
        )

    @property
    def registry(self) -> Registry:
        return self.catalog.registry

    def engine(self, *, reader: bool = False, pool_size: int = 10) -> AsyncEngine:
        return create_engine(self.settings.database_url, reader=reader, pool_size=pool_size)

    def read_database(self, name: str, engine: AsyncEngine) -> ReadDatabase:
        """A database the API reads from: ``engine`` and the fast reader on the same URL."""
        from kasparro.query.fastread import open_reader  # asyncpg: only where reads happen

        reader = open_reader(engine.url.render_as_string(hide_password=False))
        return ReadDatabase(name, _where(engine.url.render_as_string()), engine, reader)

    def read_replicas(self) -> list[ReadDatabase]:
        """One per ``KASPARRO_READ_DATABASE_URL`` entry (none: reads go to the primary).
        Nothing connects here: a replica that is down at start-up is simply skipped."""
        return [
            self.read_database(f"replica {i}", create_engine(normalize_url(url), reader=True))
            for i, url in enumerate(self.settings.read_urls, start=1)
        ]

    def http_client(self) -> httpx.AsyncClient:
        s = self.settings
        return httpx.AsyncClient(
            timeout=httpx.Timeout(s.http_timeout_seconds),
            headers={"accept": "application/json", "user-agent": f"kasparro-etl/{__version__}"},
            follow_redirects=True,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    def limiters(self) -> Limiters:
        """Request budgets, one per provider, shared by every task of this process."""
        return Limiters(self.catalog.budgets())

    @contextlib.asynccontextmanager
    async def etl(self) -> AsyncIterator[EtlResources]:
        """A writer engine, an HTTP client and the request budgets, closed on exit."""
        engine = self.engine()
        http = self.http_client()
        try:
            yield EtlResources(engine, http, self.limiters())
        finally:
            await http.aclose()
            await engine.dispose()


@dataclass(frozen=True, slots=True)
class ReadDatabase:
    name: str  # "primary", "replica 1", ...
    where: str  # host:port/database, for /health and logs (never the password)
    engine: AsyncEngine
    reader: Reader

    async def close(self, *, dispose: bool = True) -> None:
        await self.reader.close()
        if dispose:
            await self.engine.dispose()


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.database or ""
    return f"{u.host}:{u.port or 5432}/{u.database}"


@dataclass(frozen=True, slots=True)
class EtlResources:
    engine: AsyncEngine
    http: httpx.AsyncClient
    limiters: Limiters
