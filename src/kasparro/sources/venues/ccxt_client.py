"""ccxt's exchange models behind Kasparro's own HTTP: the library parses, Kasparro fetches.

ccxt (https://github.com/ccxt/ccxt) knows each exchange's routes, its market-list and ticker
formats, and its currency aliases (Kraken's XBT/XXBT -> BTC, XDG -> DOGE); Kasparro keeps
what it needs for an ETL, which ccxt does not do: every request goes through
:class:`~kasparro.sources.http.Fetcher` (the provider's request budget, Kasparro's retries
honouring Retry-After, the same transient/terminal classification as the aggregators), and
every body is captured as a :class:`RawResponse` so a run can be archived and normalized
again. This is done by overriding ccxt's one HTTP method, ``Exchange.fetch(url, method,
headers, body)``, in a subclass: ccxt's own aiohttp session and throttler are never used
(``enableRateLimit`` off, no session opened).

Numbers stay exact: ``exchange.number = str`` makes ccxt hand over the venue's own decimal
text (a 1e-10 price is not rounded through a float). The venue's URL is a setting: every
REST URL of ``urls['api']`` keeps its path and takes the configured base (an emulator's).

Errors inside bodies are classified by ccxt's own per-exchange vocabulary
(``handle_errors``: Kraken's ``{"error":["EAPI:Rate limit exceeded"]}`` is a
``DDoSProtection``): network-class errors (rate limits, maintenance) are transient, every
other exchange error terminal.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from kasparro.sources.base import RawResponse, TerminalSourceError, TransientSourceError
from kasparro.sources.http import Fetcher

FetchHook = Callable[[Any, str, str], Awaitable[Any]]


def exchange_class(exchange_id: str) -> type[Any]:
    """ccxt's async exchange class (imported on demand: one exchange module, not 100+)."""
    try:
        module = importlib.import_module(f"ccxt.async_support.{exchange_id}")
        cls: type[Any] = getattr(module, exchange_id)
    except (ImportError, AttributeError):
        raise ValueError(f"ccxt has no exchange {exchange_id!r}") from None
    return cls


def rebase(urls: Any, base_url: str) -> Any:
    """``urls['api']`` with every REST URL's scheme and host replaced by ``base_url``
    (``https://api.binance.com/api/v3`` -> ``<base>/api/v3``; OKX's ``https://{hostname}``
    too)."""
    if isinstance(urls, str):
        if not urls.startswith(("http://", "https://")):
            return urls  # websockets and the like: never requested here
        path = urlsplit(urls.replace("{hostname}", "host")).path
        return base_url.rstrip("/") + path
    if isinstance(urls, Mapping):
        return {k: rebase(v, base_url) for k, v in urls.items()}
    return urls


def build(
    exchange_id: str, options: Mapping[str, Any], fetch: FetchHook, base_url: str | None
) -> Any:
    """A ccxt exchange whose every HTTP request is ``fetch(exchange, url, method)``."""
    cls = exchange_class(exchange_id)

    class Hooked(cls):  # type: ignore[misc,valid-type]
        async def fetch(
            self, url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            if method != "GET":
                raise TerminalSourceError(f"{exchange_id}: only public GET requests are made")
            return await fetch(self, url, method)

    exchange = Hooked({"enableRateLimit": False, "options": copy.deepcopy(dict(options))})
    exchange.number = str
    if base_url is not None:
        exchange.urls["api"] = rebase(exchange.urls["api"], base_url)
    return exchange


def classify(exchange: Any, url: str, body: bytes) -> Any:
    """The decoded body, or the error it reports as a transient or terminal source error;
    a body that is not JSON raises ``ValueError`` (retried like a truncated body)."""
    from ccxt.base.errors import BaseError, NetworkError

    text = body.decode("utf-8", "replace")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    try:
        exchange.handle_errors(200, "OK", url, "GET", {}, text, data, {}, None)
    except NetworkError as exc:  # DDoSProtection, RateLimitExceeded, OnMaintenance...
        raise TransientSourceError(f"{type(exc).__name__}: {exc}") from None
    except BaseError as exc:
        raise TerminalSourceError(f"{type(exc).__name__}: {exc}") from None
    return data


class Session:
    """One ccxt exchange for one run, its requests through ``fetcher``; ``captured`` holds
    every response received, in order (archived by the source)."""

    def __init__(
        self,
        exchange_id: str,
        options: Mapping[str, Any],
        fetcher: Fetcher,
        base_url: str | None,
    ) -> None:
        self.fetcher = fetcher
        self.captured: list[RawResponse] = []
        self._base_path = urlsplit(base_url).path.rstrip("/") if base_url else ""
        self.exchange = build(exchange_id, options, self._fetch, base_url)

    async def _fetch(self, exchange: Any, url: str, method: str) -> Any:
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        bare = parts._replace(query="").geturl()
        endpoint = parts.path.removeprefix(self._base_path) or "/"
        raw, data = await self.fetcher.get(
            bare,
            endpoint=endpoint,
            params=params,
            parse=lambda body: classify(exchange, url, body),
        )
        self.captured.append(raw)
        return data


def _key(endpoint: str, params: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return endpoint, tuple(sorted((str(k), str(v)) for k, v in params.items()))


def replay(
    exchange_id: str,
    options: Mapping[str, Any],
    responses: list[RawResponse],
    markets: list[dict[str, Any]] | None = None,
) -> Any:
    """A ccxt exchange that answers from archived responses (matched by endpoint and
    parameters) instead of the network (no I/O): ``await ex.fetch_tickers()`` re-parses an
    archived ticker payload with the market list it was read with, ``await
    ex.load_markets()`` an archived market list."""
    base = "http://archive.invalid"
    answers = {_key(r.endpoint, r.params): r.body for r in responses}

    async def fetch(exchange: Any, url: str, method: str) -> Any:
        parts = urlsplit(url)
        key = _key(parts.path, dict(parse_qsl(parts.query)))
        body = answers.get(key)
        if body is None:
            raise TerminalSourceError(f"{exchange_id}: no archived answer for {key}")
        return classify(exchange, url, body)

    exchange = build(exchange_id, options, fetch, base)
    if markets is not None:
        exchange.set_markets(copy.deepcopy(markets))
    return exchange
