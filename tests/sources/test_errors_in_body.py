"""Errors an upstream reports inside a 200 answer are the source's to classify: transient ones
are retried within the budget like a 429, terminal ones fail at once (no HTTP-status rule)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from kasparro.sources import TerminalSourceError, TransientSourceError
from kasparro.sources.http import Fetcher, Limiters, UpstreamError
from tests.fixtures.settings import settings_for


def parse(body: bytes) -> Any:
    """An exchange's envelope: ``{"error": [...], "result": ...}`` with status 200."""
    data = orjson.loads(body)
    if data["error"]:
        text = "; ".join(data["error"])
        if "Rate limit" in text:
            raise TransientSourceError(text, retry_after=0.01)
        raise TerminalSourceError(text)
    return data["result"]


def _fetcher(answers: list[dict[str, Any]], seen: list[str]) -> Fetcher:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=answers[min(len(seen), len(answers)) - 1])

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    settings = settings_for(database_url="sqlite+aiosqlite://", http_backoff_initial_seconds=0.01)
    return Fetcher("venue", http, Limiters({"venue": 60_000.0}), settings)


async def test_a_transient_error_in_a_200_body_is_retried() -> None:
    seen: list[str] = []
    fetcher = _fetcher(
        [{"error": ["EAPI:Rate limit exceeded"], "result": {}}, {"error": [], "result": [1]}],
        seen,
    )
    raw, items = await fetcher.get(
        "https://venue.test/tickers", endpoint="/t", params={}, parse=parse
    )
    assert items == [1] and len(seen) == 2 and raw.status == 200


async def test_a_terminal_error_in_a_200_body_fails_at_once_with_its_reason() -> None:
    seen: list[str] = []
    fetcher = _fetcher([{"error": ["EQuery:Unknown asset pair"], "result": {}}], seen)
    with pytest.raises(UpstreamError, match="Unknown asset pair") as info:
        await fetcher.get("https://venue.test/tickers", endpoint="/t", params={}, parse=parse)
    assert len(seen) == 1  # not retried
    assert info.value.raw is not None and info.value.status == 200  # kept for forensics
