"""HTTP fetching shared by the API sources: a proactive request budget plus bounded retries.

- Budget: one ``RequestPacer`` per upstream, shared by every task of that source in the
  process: one request in flight at a time and at least 60/R seconds from the *answer* to one
  request to the start of the next, so no sliding window of 60 s at the upstream ever sees
  more than R requests (a burst-capable bucket would trip such windows; see RequestPacer for
  why spacing the *starts* is not enough either).
- Retries: ``stamina`` with a backoff hook that honours ``Retry-After`` and otherwise uses
  exponential backoff with jitter; bounded by attempts and total time. Retried: 429, 5xx,
  timeouts, connection errors, unparseable 200 bodies and what a source's parser calls
  transient (``TransientSourceError``: an error reported inside a 200 body); never other 4xx
  nor what the parser calls terminal (``TerminalSourceError``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import stamina
import structlog

from kasparro import metrics
from kasparro.settings import Settings
from kasparro.sources.base import (
    RawResponse,
    SourceError,
    TerminalSourceError,
    TransientSourceError,
)

log = structlog.get_logger(__name__)


class RequestPacer:
    """Paces the requests to one upstream: one in flight at a time, and at least ``interval``
    seconds from the end of one request (its answer, or its failure) to the start of the next.

    This replaced an ``aiolimiter.AsyncLimiter(1, 60/R)``, which spaces request *starts* by
    exactly 60/R s. The upstream counts requests when they *arrive*, and arrival delays vary
    (the first request of a run also pays for the connection handshake): when the first of
    eleven evenly started requests was delayed more than the eleventh, all eleven arrive
    inside one 60 s window, so a run paced at exactly the upstream's limit got a 429 about a
    minute in (tests/resilience/test_rate_limits.py reproduces it). Spacing from the answer
    makes the guarantee causal: the upstream admitted request n before it answered it, so
    request n+1 arrives at least ``interval`` after request n was counted, whatever the
    network does.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = PriorityLock()
        self._next_start = 0.0  # event-loop time (monotonic) before which nothing is sent

    def defer(self, seconds: float) -> None:
        """Start nothing before ``seconds`` from now: an upstream's Retry-After (a 429, a
        Binance ban) holds for every request of that upstream in this process, later runs'
        included, not only for the retried one."""
        until = asyncio.get_running_loop().time() + seconds
        self._next_start = max(self._next_start, until)

    def deferred_for(self) -> float:
        """Seconds until the next request may start (0: now)."""
        return max(0.0, self._next_start - asyncio.get_running_loop().time())

    def slot(self, priority: int = 0) -> _Slot:
        """``async with pacer.slot(priority)``: the next request slot; when several wait, the
        lowest ``priority`` goes first (scheduled runs 0, backfills 1), FIFO within one."""
        return _Slot(self, priority)

    async def _enter(self, priority: int) -> None:
        await self._lock.acquire(priority)
        try:
            delay = self._next_start - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
        except BaseException:
            self._lock.release()
            raise

    def _exit(self) -> None:
        now = asyncio.get_running_loop().time()
        self._next_start = max(self._next_start, now + self.interval)
        self._lock.release()


class _Slot:
    __slots__ = ("_pacer", "_priority")

    def __init__(self, pacer: RequestPacer, priority: int) -> None:
        self._pacer = pacer
        self._priority = priority

    async def __aenter__(self) -> None:
        await self._pacer._enter(self._priority)

    async def __aexit__(self, *exc: object) -> None:
        self._pacer._exit()


class PriorityLock:
    """A lock handed over by priority (lowest first), first come first served within one.

    asyncio.Lock is FIFO only: a backfill queueing hundreds of requests would make a
    scheduled run wait behind all of them. Hand-over is direct (the releaser gives the lock
    to the best waiter), so a newcomer can never barge in ahead of a waiter."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = 0

    async def acquire(self, priority: int = 0) -> None:
        if not self._locked and not self._waiters:
            self._locked = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiters, (priority, self._seq, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # still locked: ownership moves to that waiter
                return
        self._locked = False


@dataclass
class Limiters:
    """Per-provider request budgets (``Runtime.limiters``: once per process)."""

    per_minute: dict[str, float]
    _limiters: dict[str, RequestPacer] = field(default_factory=dict)

    def get(self, api: str) -> RequestPacer:
        limiter = self._limiters.get(api)
        if limiter is None:
            if api not in self.per_minute:
                # Every provider declares its budget: a silent default would let an
                # undeclared upstream be hammered.
                raise KeyError(f"no request budget for {api!r}; known: {sorted(self.per_minute)}")
            limiter = RequestPacer(60.0 / self.per_minute[api])
            self._limiters[api] = limiter
        return limiter


class UpstreamError(SourceError):
    """An upstream answered with an error (or not at all)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        raw: RawResponse | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.raw = raw  # the last response received, kept for forensics


class RetryableUpstreamError(UpstreamError):
    pass


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _one_line(body: bytes, limit: int = 160) -> str:
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
    return text + ("…" if len(body) > limit else "")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"connection error ({type(exc).__name__}: {exc or 'no detail'})"
    return str(exc)


class Fetcher:
    """GETs one upstream URL within the budget and retry policy; returns the raw response."""

    def __init__(
        self,
        api: str,
        http: httpx.AsyncClient,
        limiters: Limiters,
        settings: Settings,
        *,
        priority: int = 0,
        retry_statuses: frozenset[int] = frozenset({429}),
    ):
        self.api = api
        # Statuses that mean "back off and retry" besides 5xx: 429, and e.g. Binance's 418
        # (an IP ban, with Retry-After): a Retry-After beyond the setting fails the run.
        self.retry_statuses = retry_statuses
        self.http = http
        self.limiter = limiters.get(api)
        self.settings = settings
        self.priority = priority  # 0: scheduled and triggered runs; 1: backfills (yield)

    def _backoff_hook(self, exc: BaseException) -> bool | float:
        if isinstance(exc, RetryableUpstreamError):
            if exc.retry_after is not None:
                if exc.retry_after > self.settings.http_max_retry_after_seconds:
                    return False  # waiting that long would blow the run's time budget
                return exc.retry_after
            return True
        return isinstance(exc, httpx.TimeoutException | httpx.TransportError)

    async def get(
        self,
        url: str,
        *,
        endpoint: str,
        params: dict[str, Any],
        parse: Callable[[bytes], Any],
        headers: dict[str, str] | None = None,
    ) -> tuple[RawResponse, Any]:
        """Fetch and parse; a body that ``parse`` rejects (ValueError) is retried like a 5xx,
        since truncated bodies and HTML error pages with status 200 are usually transient."""
        s = self.settings
        try:
            async for attempt in stamina.retry_context(
                on=self._backoff_hook,
                attempts=s.http_max_attempts,
                timeout=s.http_max_retry_seconds,
                wait_initial=s.http_backoff_initial_seconds,
                wait_max=s.http_backoff_max_seconds,
                wait_jitter=s.http_backoff_initial_seconds,
            ):
                with attempt:
                    raw = await self._attempt(url, endpoint, params, headers or {})
                    try:
                        return raw, parse(raw.body)
                    except TransientSourceError as exc:
                        log.warning(
                            "upstream_error_in_body",
                            api=self.api,
                            endpoint=endpoint,
                            error=str(exc),
                        )
                        raise RetryableUpstreamError(
                            f"{self.api} {endpoint}: {exc}",
                            status=raw.status,
                            retry_after=exc.retry_after,
                            raw=raw,
                        ) from exc
                    except TerminalSourceError as exc:
                        raise UpstreamError(
                            f"{self.api} {endpoint}: {exc}", status=raw.status, raw=raw
                        ) from exc
                    except ValueError as exc:
                        log.warning(
                            "upstream_bad_body",
                            api=self.api,
                            endpoint=endpoint,
                            error=str(exc),
                            body_start=_one_line(raw.body, 80),
                        )
                        raise RetryableUpstreamError(
                            f"{self.api} {endpoint}: unusable body ({exc}); "
                            f"starts with {_one_line(raw.body, 60)!r}",
                            status=raw.status,
                            raw=raw,
                        ) from exc
        except UpstreamError:
            raise
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise UpstreamError(f"{self.api} {endpoint}: {_describe(exc)}") from exc
        raise AssertionError("unreachable: stamina either returns or raises")

    async def _attempt(
        self, url: str, endpoint: str, params: dict[str, Any], headers: dict[str, str]
    ) -> RawResponse:
        held = self.limiter.deferred_for()
        if held > self.settings.http_max_retry_after_seconds:
            # Still inside an earlier Retry-After (e.g. a ban): waiting would blow the run's
            # time budget and asking again would prolong a ban.
            raise UpstreamError(
                f"{self.api} {endpoint}: the upstream asked to wait {held:.0f} s more "
                "(Retry-After of an earlier answer; KASPARRO_HTTP_MAX_RETRY_AFTER_SECONDS)"
            )
        async with self.limiter.slot(self.priority):
            fetched_at = dt.datetime.now(dt.UTC)
            try:
                resp = await self.http.get(url, params=params, headers=headers)
                body = resp.content
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                metrics.UPSTREAM_REQUESTS.labels(self.api, "error").inc()
                log.warning(
                    "upstream_request_failed", api=self.api, endpoint=endpoint, error=_describe(exc)
                )
                raise
        status = resp.status_code
        metrics.UPSTREAM_REQUESTS.labels(self.api, str(status)).inc()
        if status in self.retry_statuses:
            metrics.UPSTREAM_RATE_LIMITED.labels(self.api).inc()
        raw = RawResponse(
            endpoint=endpoint,
            params=params,
            status=status,
            content_type=resp.headers.get("content-type"),
            body=body,
            fetched_at=fetched_at,
        )
        if status in self.retry_statuses or status >= 500:
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
            if retry_after is not None and status in self.retry_statuses:
                self.limiter.defer(retry_after)
            log.warning(
                "upstream_retryable_status",
                api=self.api,
                endpoint=endpoint,
                status=status,
                retry_after=retry_after,
            )
            raise RetryableUpstreamError(
                f"{self.api} {endpoint}: HTTP {status} {_one_line(body)}",
                status=status,
                retry_after=retry_after,
                raw=raw,
            )
        if status >= 400:
            raise UpstreamError(
                f"{self.api} {endpoint}: HTTP {status} {_one_line(body)}", status=status, raw=raw
            )
        return raw
