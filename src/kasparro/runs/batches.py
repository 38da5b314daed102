"""A page in batches: decoded, normalized, de-duplicated and checked for drift, ready to commit.

A page larger than ``load_batch_rows`` items is cut into several batches: only its last
batch carries the checkpoint, so a crash in between re-reads the page and finds the earlier
batches unchanged. In-page duplicates of a key count as unchanged when identical, and are
rejected otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import operator
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from kasparro.load.raw import compress_body, fingerprint
from kasparro.models import MarketRecord, Rejection
from kasparro.normalize.drift import TYPE_SAMPLE, DriftFinding, detect_drift
from kasparro.sources.base import Page, Source


def split_page(
    normalize: Callable[[Any], Any],
    key_of: Callable[[Any], Hashable],
    items: list[Any],
    earlier: dict[Hashable, int] | None = None,
) -> tuple[list[Any], list[Rejection], int]:
    """Normalize a page; in-page duplicates of a key are unchanged if identical, else rejected.

    Returns (records, rejections, duplicate_count) where duplicates are identical repeats.
    ``earlier`` carries the keys of the page's earlier batches with a hash of their record
    and receives this batch's: records of one batch are compared exactly, a repeat of an
    earlier batch's key by hash (keeping every record of a 50k-item page alive to compare
    exactly would undo the batching's memory bound).
    """
    records: list[Any] = []  # MarketRecord, or a reference source's records
    rejections: list[Rejection] = []
    seen: dict[Hashable, Any] = {}
    duplicates = 0
    for item in items:
        out = normalize(item)
        if isinstance(out, Rejection):
            rejections.append(out)
            continue
        key = key_of(out)
        prior = seen.get(key)
        if prior is None and earlier is not None and key in earlier:
            same = earlier[key] == _record_hash(out)
        elif prior is None:
            seen[key] = out
            records.append(out)
            continue
        else:
            same = prior == out
        if same:
            duplicates += 1
        else:
            rejections.append(
                Rejection(
                    "duplicate key in one response with different values "
                    f"({_describe_key(out, key)})",
                    item,
                    getattr(out, "source_asset_id", None),
                )
            )
    if earlier is not None:
        earlier.update((key, _record_hash(rec)) for key, rec in seen.items())
    return records, rejections, duplicates


def _describe_key(rec: Any, key: Hashable) -> str:
    if isinstance(rec, MarketRecord):
        return f"id={rec.source_asset_id!r}, last_updated={rec.observed_at.isoformat()}"
    return f"key={key!r}"


# Every field of a record, in order, per record type (read once: dataclasses.fields per
# record was half the cost of hashing a 48k-item page's records).
_FIELDS: Final[dict[type, Callable[[Any], tuple[Any, ...]]]] = {}


def _fields(rec: Any) -> tuple[Any, ...]:
    getter = _FIELDS.get(type(rec))
    if getter is None:
        getter = operator.attrgetter(*(f.name for f in dataclasses.fields(rec)))
        _FIELDS[type(rec)] = getter
    return getter(rec)


def _record_hash(rec: Any) -> int:
    # Numbers hashed with their text: hash(Decimal(-1)) == hash(Decimal(-2)) in CPython.
    return hash(tuple(str(v) if isinstance(v, Decimal) else v for v in _fields(rec)))


@dataclass(slots=True)
class PageLoad:
    """What the batches of one page share while they are committed."""

    fingerprint: str  # see load.raw.fingerprint
    raw_id: int | None = None
    rejected: int = 0
    # Drift findings: a drifting payload is never skipped, so its drift events keep counting.
    drifted: int = 0
    # Records loaded from the page so far (a reference page replaces its scope only if >0).
    stored: int = 0


@dataclass(slots=True)
class Batch:
    """A page, or a slice of a big one, normalized and ready to commit."""

    page: Page
    load: PageLoad
    first: bool  # carries the page's raw payload
    last: bool  # carries the page's checkpoint
    fetched: int
    records: list[Any]
    rejections: list[Rejection]
    # Items counted unchanged without being loaded: identical in-page repeats, or every item
    # of a payload loaded before.
    known_unchanged: int
    findings: list[DriftFinding]
    raw_body: bytes | None  # the compressed payload, on the first batch

    @property
    def held_bytes(self) -> int:
        """The payload bytes this batch brings along (a page's later batches share them)."""
        if not self.first:
            return 0
        return len(self.page.raw.body) + len(self.raw_body or b"")


async def page_batches(
    source: Source, page: Page, *, size: int, first_of_run: bool, known: set[str]
) -> AsyncIterator[Batch]:
    """``page`` in batches of at most ``size`` items, each decoded, normalized and checked
    for drift. A schema change shows in every record, so only the run's first batch gets the
    full type-check sample and later ones a few records each (key sets are checked on every
    record, and the normalizers reject any single bad value anyway)."""
    contract = source.contract_for(page.raw.endpoint)
    # zlib and hashlib release the GIL: a 36 MB body is compressed and hashed on worker
    # threads while the event loop goes on with the database.
    raw_body, fp = await asyncio.gather(
        asyncio.to_thread(compress_body, page.raw.body),
        asyncio.to_thread(fingerprint, source.name, page),
    )
    load = PageLoad(fp)
    total = len(page.items)
    if fp in known:
        # Byte for byte a payload whose every item is already stored: archive it and
        # count its items unchanged, without decoding, normalizing or looking them up.
        yield Batch(page, load, True, True, total, [], [], total, [], raw_body)
        return
    normalize = page.normalize or source.normalize
    earlier: dict[Hashable, int] | None = {} if total > size else None
    for start in range(0, max(total, 1), size):
        items = list(page.items[start : start + size])  # decodes this slice only
        records, rejections, duplicates = split_page(normalize, source.record_key, items, earlier)
        yield Batch(
            page=page,
            load=load,
            first=start == 0,
            last=start + size >= total,
            fetched=len(items),
            records=records,
            rejections=rejections,
            known_unchanged=duplicates,
            findings=(
                detect_drift(
                    contract,
                    items,
                    type_sample=TYPE_SAMPLE if first_of_run and start == 0 else 4,
                )
                if contract is not None
                else []
            ),
            raw_body=raw_body if start == 0 else None,
        )
        del items, records, rejections
