"""Pure units of the API layer: config, token buckets, page cache, query specs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kasparro.api.cache import CachedPage, PageCache
from kasparro.api.config import ApiConfig
from kasparro.api.errors import InvalidParameter
from kasparro.api.queryspec import Param, QuerySpec
from kasparro.api.ratelimit import TokenBuckets, retry_after_header
from tests.fixtures.api import make_settings


def test_config_comes_from_settings_and_their_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/k.db", tmp_path)
    assert ApiConfig.from_settings(settings) == ApiConfig()
    monkeypatch.setenv("KASPARRO_BENCH_ENDPOINTS", "true")
    monkeypatch.setenv("KASPARRO_BENCH_CONSTANT_BYTES", "50000")
    monkeypatch.setenv("KASPARRO_API_TRIGGER_RATE_PER_MINUTE", "2.5")
    monkeypatch.setenv("KASPARRO_API_TRIGGER_BURST", "4")
    monkeypatch.setenv("KASPARRO_API_HEALTH_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("KASPARRO_API_PAGE_CACHE_ENTRIES", "0")
    cfg = ApiConfig.from_settings(make_settings(f"sqlite+aiosqlite:///{tmp_path}/k.db", tmp_path))
    assert (cfg.bench_endpoints, cfg.bench_constant_bytes) == (True, 50000)
    assert (cfg.trigger_rate_per_minute, cfg.trigger_burst) == (2.5, 4)
    assert (cfg.health_timeout_seconds, cfg.page_cache_entries) == (0.5, 0)
    monkeypatch.setenv("KASPARRO_API_TRIGGER_BURST", "lots")
    with pytest.raises(ValueError, match="api_trigger_burst"):
        make_settings(f"sqlite+aiosqlite:///{tmp_path}/k.db", tmp_path)
    monkeypatch.setenv("KASPARRO_API_TRIGGER_BURST", "0")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        make_settings(f"sqlite+aiosqlite:///{tmp_path}/k.db", tmp_path)


def test_token_bucket_burst_refill_and_exact_retry_after() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute=6, burst=2, clock=lambda: now[0])
    assert buckets.take("a") is None and buckets.take("a") is None
    wait = buckets.take("a")
    assert wait == pytest.approx(10.0)  # one token per 10 s
    assert retry_after_header(wait) == "10"
    assert buckets.take("b") is None  # per client
    now[0] = 9.9
    assert buckets.take("a") == pytest.approx(0.1)
    now[0] = 10.0
    assert buckets.take("a") is None


def test_token_bucket_memory_is_bounded() -> None:
    buckets = TokenBuckets(per_minute=1, burst=1, max_clients=3)
    for client in "abcde":
        buckets.take(client)
    assert len(buckets._buckets) == 3


def test_page_cache_is_tied_to_the_data_version() -> None:
    cache = PageCache(max_entries=2, max_bytes=1000)
    page = CachedPage(b"[1]", 1, None)
    assert cache.get("k", 1) is None
    cache.put("k", 1, page)
    assert cache.get("k", 1) is page
    assert cache.get("k", 2) is None  # any commit invalidates everything
    cache.put("k", 1, page)  # computed under an older version: never stored
    assert cache.get("k", 2) is None
    assert cache.get("k", None) is None  # unknown version: no caching at all
    cache.put("a", 2, page)
    cache.put("b", 2, page)
    cache.put("c", 2, page)
    assert cache.get("a", 2) is None and cache.get("c", 2) is page  # LRU bound
    cache.put("big", 2, CachedPage(b"x" * 600, 1, None))
    assert cache.get("big", 2) is None  # larger than a quarter of the budget


def test_query_spec_parsing_and_docs() -> None:
    spec = QuerySpec(
        Param("limit", "int", "Page size.", default=10, ge=1, le=50),
        Param("tag", "str", "Tags.", repeatable=True, max_items=2, max_length=3),
        Param("on", "bool", "Flag.", default=False),
        Param("at", "datetime", "When."),
        Param("dir", "enum", "Direction.", choices=("asc", "desc")),
    )
    assert spec.parse(b"") == {"limit": 10, "tag": [], "on": False, "at": None, "dir": None}
    got = spec.parse(b"limit=5&tag=a&tag=bb&on=YES&at=2024-05-01T14:00:00%2B02:00&dir=asc")
    assert got["limit"] == 5 and got["tag"] == ["a", "bb"] and got["on"] is True
    assert got["at"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert spec.parse(b"at=1714564800")["at"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert spec.parse(b"at=2024-05-01")["at"] == datetime(2024, 5, 1, tzinfo=UTC)
    for bad in (
        b"limit=51",
        b"tag=a&tag=b&tag=c",
        b"tag=abcd",
        b"dir=up",
        b"x=1",
        b"on=2",
        b"limit=1&limit=2",
        b"at=1e999",
    ):
        with pytest.raises(InvalidParameter):
            spec.parse(bad)
    docs = {p["name"]: p for p in spec.openapi()}
    assert docs["tag"]["schema"] == {
        "type": "array",
        "maxItems": 2,
        "items": {"type": "string", "minLength": 1, "maxLength": 3},  # never empty
    }
    assert docs["at"]["schema"]["pattern"].startswith("^(")  # the forms parsed, no more
    for outside in (
        b"at=2024-05-01T24",
        b"at=%201714564800",
        b"at=2024-05-01T12:00:00.1234567",
        b"at=2024-13-01",
    ):
        with pytest.raises(InvalidParameter):
            spec.parse(outside)
    assert docs["dir"]["schema"]["enum"] == ["asc", "desc"]


async def test_page_cache_misses_are_single_flight() -> None:
    cache = PageCache(max_entries=8)
    calls = 0
    release = asyncio.Event()

    async def compute() -> CachedPage:
        nonlocal calls
        calls += 1
        await release.wait()
        return CachedPage(b"[]", 0, None)

    # Concurrent misses of one key under one version: one query, one shared page.
    tasks = [asyncio.create_task(cache.get_or_compute("k", 1, compute)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    pages = await asyncio.gather(*tasks)
    assert calls == 1 and all(p is pages[0] for p in pages) and cache.shared == 4
    assert cache.get("k", 1) is pages[0]
    # Another version is another flight; a disabled cache computes every time.
    await cache.get_or_compute("k", 2, compute)
    assert calls == 2
    off = PageCache(max_entries=0)
    await off.get_or_compute("k", 1, compute)
    await off.get_or_compute("k", 1, compute)
    assert calls == 4


async def test_page_cache_failed_flight_lets_waiters_retry() -> None:
    cache = PageCache(max_entries=8)
    gate = asyncio.Event()
    attempts = 0

    async def compute() -> CachedPage:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await gate.wait()
            raise RuntimeError("database went away")
        return CachedPage(b"[1]", 1, None)

    leader = asyncio.create_task(cache.get_or_compute("k", 1, compute))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get_or_compute("k", 1, compute))
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(RuntimeError):
        await leader  # the error goes to the request that hit it only
    assert (await waiter).count == 1 and attempts == 2
