"""Per-coin pages for identity: a reference source's last pages, one coin's page each.

The identity linker names the pairs that names and markets leave undecided
(``LinkPlan.detail_wanted``); the pipeline hands the wanted ids of a source's namespace to
its reference source before the run (:meth:`ReferenceSource.want_detail`, at most the
provider's ``detail_per_run``), and the source fetches their pages after its lists, in its
API's request budget at the priority of a backfill (scheduled runs go first). Each page is
kept as a raw response and loaded as a ``ReferenceDetail`` (scope ``detail``); the relink
after the run weighs them.

Failures never fail the run: a 404 is a page with no links (the coin has none to give), any
other error (a 429 after the fetcher's retries, a timeout, a bad body) ends the detail pages
for this run, and the rest stay wanted for the next one: their pairs stay undecided, as
before.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import structlog

from kasparro.models import ReferenceDetail, Rejection
from kasparro.normalize.reference import SCOPE_DETAIL, normalize_detail
from kasparro.sources.base import Page, ReferenceSource
from kasparro.sources.http import Fetcher, UpstreamError

log = structlog.get_logger(__name__)


def _parse_object(body: bytes) -> Any:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _normalize(namespace: str, item: dict[str, Any]) -> ReferenceDetail | Rejection:
    return normalize_detail(namespace, item["id"], item["page"])


async def detail_pages(
    source: ReferenceSource,
    fetcher: Fetcher,
    *,
    url_of: Callable[[str], str],
    endpoint: str,
    params: dict[str, Any],
    headers: dict[str, str],
    first_number: int,
) -> AsyncIterator[Page]:
    """The pages of the coins ``source`` was handed (:meth:`ReferenceSource.want_detail`)."""
    ids = source.detail_ids
    checkpoint: dict[str, Any] = {"in_progress": False, "next_page": 1}
    if source.detail_only and source.listed_at is not None:
        # A run of detail pages alone must not make the coin list look freshly fetched.
        checkpoint["listed_at"] = source.listed_at.isoformat()
    normalize = functools.partial(_normalize, source.namespace)
    for i, sid in enumerate(ids):
        try:
            raw, body = await fetcher.get(
                url_of(sid), endpoint=endpoint, params=params, parse=_parse_object, headers=headers
            )
        except UpstreamError as exc:
            if exc.status != 404 or exc.raw is None:
                log.warning(
                    "coin_detail_stopped",
                    source=source.name,
                    fetched=i,
                    wanted=len(ids),
                    error=str(exc),
                )
                return
            raw, body = exc.raw, None  # no page for this coin: nothing to weigh, ever
        yield Page(
            number=first_number + i,
            raw=raw,
            items=[{"id": sid, "page": body}],
            checkpoint=checkpoint,
            total_pages=first_number - 1 + len(ids),
            scope=SCOPE_DETAIL,
            normalize=normalize,
        )
