"""Shared flow of the observation endpoints (``/data``, asset history and its OHLC buckets).

parse -> data version -> cached page or one-round-trip query -> splice the page bytes with a
fresh ``meta`` (request id and latency are per request, so they are never cached).

``on_empty`` runs only when the page has no rows: checks such as "does this asset exist"
(404) cost a round trip that a non-empty page already answers (its rows reference the asset),
so they stay off the hot path. It runs on the reader that served the page (a replica's
empty page is checked against that replica, not against a primary that is ahead of it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kasparro.api import params as p
from kasparro.api.cache import CachedPage
from kasparro.api.reads import ReadTarget
from kasparro.api.render import JSON, dumps, meta, observation_dicts, page_meta
from kasparro.api.state import AppState
from kasparro.query.cursor import scope_digest
from kasparro.query.fastread import Reader
from kasparro.query.observations import ObservationFilter, list_observations, sort_key


async def observation_page(
    request: Request,
    state: AppState,
    *,
    endpoint: str,
    flt: ObservationFilter,
    sort: str,
    descending: bool,
    limit: int,
    cursor: str | None,
    on_empty: Callable[[Reader], Awaitable[None]] | None = None,
    **meta_fields: Any,
) -> Response:
    parts = (
        endpoint,
        sort,
        descending,
        flt.latest,
        tuple(sorted({s.upper() for s in flt.symbols})),
        tuple(sorted(set(flt.asset_ids))),
        tuple(sorted(set(flt.sources))),
        flt.since,
        flt.until,
    )
    scope = scope_digest(*parts)
    after = p.decode_cursor(cursor, scope=scope, key=sort_key(sort, state.dialect, flt.latest))

    async def compute(reader: Reader) -> CachedPage:
        result = await list_observations(
            reader, flt, sort=sort, descending=descending, limit=limit, after=after
        )
        return CachedPage(
            dumps(observation_dicts(result.rows)),
            len(result.rows),
            p.encode_cursor(scope, result.next),
        )

    return await cached_page(
        request,
        state,
        # The inputs themselves, not their 48-bit digest: a collision must not serve
        # another query's page.
        (*parts, limit, after),
        compute,
        limit=limit,
        sort=sort,
        descending=descending,
        on_empty=on_empty,
        **meta_fields,
    )


async def cached_page(
    request: Request,
    state: AppState,
    key: Hashable,
    compute: Callable[[Reader], Awaitable[CachedPage]],
    *,
    limit: int,
    sort: str,
    descending: bool,
    on_empty: Callable[[Reader], Awaitable[None]] | None = None,
    **meta_fields: Any,
) -> Response:
    """The page under ``key`` from the serving database's cache (or ``compute`` on its
    reader), spliced with a fresh meta."""

    async def on(target: ReadTarget) -> CachedPage:
        return await compute(target.reader)

    return await cached_target_page(
        request,
        state,
        key,
        on,
        limit=limit,
        sort=sort,
        descending=descending,
        on_empty=on_empty,
        **meta_fields,
    )


async def cached_target_page(
    request: Request,
    state: AppState,
    key: Hashable,
    compute: Callable[[ReadTarget], Awaitable[CachedPage]],
    *,
    limit: int,
    sort: str,
    descending: bool,
    on_empty: Callable[[Reader], Awaitable[None]] | None = None,
    **meta_fields: Any,
) -> Response:
    """:func:`cached_page` for a ``compute`` that needs the serving target itself (its
    SQLAlchemy engine, for queries not on the fast reader)."""
    page, target = await state.reads.page(key, compute)
    if page.count == 0 and on_empty is not None:
        await on_empty(target.reader)
    tail = dumps(
        page_meta(
            request,
            count=page.count,
            limit=limit,
            next_cursor=page.next_cursor,
            sort=sort,
            descending=descending,
            **meta_fields,
        )
    )
    return spliced(page.data, tail)


async def cached_object(
    request: Request,
    state: AppState,
    key: Hashable,
    compute: Callable[[ReadTarget], Awaitable[bytes]],
) -> Response:
    """One object's JSON bytes (no paging) under ``key``, reused while the serving database
    has not changed, spliced with a fresh meta; ``compute`` gets the serving target."""

    async def page(target: ReadTarget) -> CachedPage:
        return CachedPage(await compute(target), 0, None)

    cached, _ = await state.reads.page(key, page)
    return spliced(cached.data, dumps(meta(request)))


def spliced(data: bytes, tail: bytes) -> Response:
    """The response body from cached ``data`` bytes and a per-request ``meta``."""
    return Response(b'{"data":' + data + b',"meta":' + tail + b"}", media_type=JSON)
