"""History backfill planning (pure): what to ask each API for, given what earlier backfills
fetched.

A backfill is a run of a history source (``coingecko_history``, ``coinpaprika_history``)
through the ordinary pipeline: leases, run rows, raw archive, quarantine, one transaction per
page (or pages committed together) with the page's **watermark** (``backfill_watermarks``:
the range fetched for that coin and interval). So a killed backfill resumes where its
committed pages end, and a second identical one plans nothing. Its requests yield to
scheduled runs in the per-API request budget (``RequestPacer`` priority).

:func:`plan_chunks` (pure) cuts each coin's missing range into requests the API serves at
the wanted granularity; :func:`within_depth` cuts a backfill to what the API's plan serves,
counted back from the current time (``BackfillSpec.now``) as the APIs count it, never from
``until``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kasparro import timetext

INTERVALS: Final[dict[str, timedelta]] = {
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
# What ``parse_when`` reads, as a JSON Schema pattern for the API (calendar validity and
# the range are checked by parsing).
WHEN_PATTERN: Final = timetext.WHEN_PATTERN
# What a text ``parse_when`` refuses is told, by the CLI and the API alike (the pattern is
# for the schema, not for people).
NOT_WHEN: Final = timetext.WHEN_MESSAGE


@dataclass(frozen=True, slots=True)
class Target:
    source_asset_id: str
    symbol: str
    name: str
    covered: tuple[datetime, datetime] | None  # what earlier backfills fetched


class BackfillError(ValueError):
    """A backfill that cannot be planned (bad dates, an interval the plan does not serve,
    assets that do not exist or that no chosen source lists): the caller's mistake.

    ``kind`` names the problem for an API error's details: ``datetime_parsing`` (not a
    date, timestamp or duration), ``datetime_range`` (outside the years 1..9999),
    ``range`` (since not before until), ``unknown_asset`` (an id that names no asset),
    ``not_listed`` (no chosen source lists the assets), ``value`` (anything else);
    ``field`` the request field at fault, if one is; ``detail`` what else the API's error
    detail carries (the input, the ids)."""

    def __init__(
        self,
        message: str,
        kind: str = "value",
        *,
        field: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.field = field
        self.detail = dict(detail or {})


@dataclass(frozen=True, slots=True)
class BackfillSpec:
    interval: str
    since: datetime
    until: datetime
    asset_ids: tuple[int, ...] = ()
    top: int | None = None  # with no asset_ids: the top N by rank (default 100)
    # The current time, from which the APIs count how far back a plan reaches (whatever
    # ``until`` says). Defaults to the wall clock when the spec is made.
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise BackfillError(f"interval must be one of {', '.join(INTERVALS)}")
        if self.since.tzinfo is None or self.until.tzinfo is None or self.now.tzinfo is None:
            raise BackfillError("since, until and now must be timezone-aware")
        if self.since >= self.until:
            raise BackfillError("since must be before until", "range")
        if self.top is not None and not 1 <= self.top <= 10_000:
            raise BackfillError("top must be between 1 and 10000")

    def describe(self) -> dict[str, object]:
        return {
            "interval": self.interval,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "asset_ids": list(self.asset_ids),
            "top": self.top,
        }


def parse_when(text: str, *, relative_to: datetime, name: str | None = None) -> datetime:
    """:func:`kasparro.timetext.parse_when`, its errors as ``BackfillError``: one sentence,
    prefixed by ``name`` (the field it is), the input in the error's details."""
    try:
        return timetext.parse_when(text, relative_to=relative_to)
    except timetext.WhenError as exc:
        prefix = f"{name}: " if name else ""
        message = NOT_WHEN if exc.kind == "datetime_parsing" else str(exc)
        raise BackfillError(
            prefix + message, exc.kind, field=name, detail={"input": text[:100]}
        ) from None


def depth_floor(spec: BackfillSpec, depth: timedelta | None) -> datetime | None:
    """The oldest time a plan serving the last ``depth`` (None: unlimited) still serves when
    the backfill's requests arrive: ``spec.now - depth`` plus a margin (1/24 of the depth,
    at most a day) for the time the requests take, since the API counts from the moment it
    answers."""
    if depth is None:
        return None
    return spec.now - depth + min(depth / 24, timedelta(days=1))


def within_depth(spec: BackfillSpec, depth: timedelta | None, what: str) -> BackfillSpec:
    """``spec`` cut to what a plan serving the last ``depth`` serves (``depth_floor``);
    ``what`` names the plan in the error raised when nothing of the range is left."""
    floor = depth_floor(spec, depth)
    if floor is None or depth is None:
        return spec
    if spec.until <= floor:
        raise BackfillError(
            f"{what} serves {spec.interval} history for the last {_span(depth)} only "
            f"(from {floor:%Y-%m-%d %H:%M} UTC on): nothing of {spec.since:%Y-%m-%d %H:%M}"
            f" .. {spec.until:%Y-%m-%d %H:%M} is served"
        )
    return dataclasses.replace(spec, since=floor) if spec.since < floor else spec


def _span(depth: timedelta) -> str:
    if depth.days >= 1:
        return f"{depth.days} day{'s' if depth.days > 1 else ''}"
    return f"{depth.seconds // 3600} hours"


def build_spec(
    *,
    interval: str,
    since: str,
    until: str,
    asset_ids: Sequence[int] = (),
    top: int | None = None,
    now: datetime,
) -> BackfillSpec:
    """What ``kasparro backfill`` and ``POST /api/v1/backfills`` ask for, as one spec:
    ``until`` relative to ``now``, ``since`` relative to ``until``; named assets, else the
    top ``top`` (default 100). Raises ``BackfillError`` naming what is wrong."""
    end = parse_when(until, relative_to=now, name="until")
    return BackfillSpec(
        interval=interval,
        since=parse_when(since, relative_to=end, name="since"),
        until=end,
        asset_ids=tuple(asset_ids),
        top=None if asset_ids else (top or 100),
        now=now,
    )


def _assets(ids: Sequence[int]) -> str:
    return f"asset {ids[0]}" if len(ids) == 1 else f"assets {', '.join(map(str, ids))}"


def not_listed(asset_ids: Sequence[int], providers: Sequence[str]) -> str:
    """Why nothing of ``asset_ids`` can be backfilled from ``providers``."""
    verb = "is" if len(asset_ids) == 1 else "are"
    return (
        f"nothing to backfill: {_assets(asset_ids)} {verb} not listed by {' or '.join(providers)}"
    )


@dataclass(frozen=True, slots=True)
class BackfillScope:
    """The providers a backfill runs on (``providers``), those chosen that list none of its
    assets (``skipped``: no run), and per provider the named assets it does not list."""

    providers: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    unlisted: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def reason(self, provider: str) -> str | None:
        """What of the backfill ``provider`` leaves out, if anything."""
        ids = self.unlisted.get(provider)
        if not ids:
            return None
        if provider in self.skipped:
            return not_listed(ids, [provider])
        verb = "is" if len(ids) == 1 else "are"
        return f"{_assets(ids)} {verb} not listed by {provider}: not backfilled from it"


def scope_assets(
    asset_ids: Sequence[int],
    listed: Mapping[int, frozenset[str]],
    providers: Sequence[str],
    *,
    available: Sequence[str] = (),
) -> BackfillScope:
    """Which of ``providers`` have something to backfill of ``asset_ids``, given the sources
    that list each id naming an asset (``listed``; an id naming none is absent). Raises
    ``BackfillError`` for ids that name no asset, and when none of ``providers`` lists any
    of the assets (naming those of ``available``, the providers serving history, that do).
    """
    ids = tuple(dict.fromkeys(asset_ids))
    if not ids:
        return BackfillScope(tuple(providers))
    unknown = [i for i in ids if i not in listed]
    if unknown:
        verb = "does" if len(unknown) == 1 else "do"
        raise BackfillError(
            f"{_assets(unknown)} {verb} not exist",
            "unknown_asset",
            field="asset_ids",
            detail={"asset_ids": unknown},
        )
    unlisted = {p: tuple(i for i in ids if p not in listed[i]) for p in providers}
    running = tuple(p for p in providers if len(unlisted[p]) < len(ids))
    if not running:
        elsewhere = [
            p for p in available if p not in providers and any(p in listed[i] for i in ids)
        ]
        hint = f" (listed by {', '.join(elsewhere)})" if elsewhere else ""
        raise BackfillError(
            not_listed(ids, providers) + hint,
            "not_listed",
            field="asset_ids",
            detail={"asset_ids": list(ids)},
        )
    return BackfillScope(
        running,
        skipped=tuple(p for p in providers if p not in running),
        unlisted={p: u for p, u in unlisted.items() if u},
    )


@dataclass(frozen=True, slots=True)
class Chunk:
    target: Target
    start: datetime  # the range this request covers (what its watermark will say)
    end: datetime
    fetch_start: datetime  # what is asked: wider when the API needs a longer range for the
    # wanted granularity (CoinGecko answers hourly below 90 days; daily needs more) ...
    fetch_end: datetime | None = None  # ... widened forwards instead when backwards would
    # leave the plan's depth (None: ``end``)


def missing_ranges(
    covered: tuple[datetime, datetime] | None, since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """What of [since, until] the covered range lacks: before it, then after it."""
    if covered is None:
        return [(since, until)]
    lo, hi = covered
    out = []
    if since < lo:
        out.append((since, min(lo, until)))
    if until > hi:
        out.append((max(hi, since), until))
    return [(a, b) for a, b in out if b > a]


def plan_chunks(
    targets: list[Target],
    spec: BackfillSpec,
    *,
    max_span: timedelta,
    min_span: timedelta | None = None,
    floor: datetime | None = None,
) -> list[Chunk]:
    """Requests for every coin's missing history, each at most ``max_span`` long; a request
    shorter than ``min_span`` is widened backwards (its extra points are not loaded), or
    forwards (up to ``spec.now``) where backwards would ask for more than ``floor``, the
    plan's oldest. The range before the covered one is fetched newest first, so every
    committed request touches the covered range and the watermark stays one range."""
    chunks: list[Chunk] = []
    for target in targets:
        for start, end in missing_ranges(target.covered, spec.since, spec.until):
            pieces: list[tuple[datetime, datetime]] = []
            if target.covered is not None and end <= target.covered[0]:
                cursor = end  # grow backwards from the covered range
                while cursor > start:
                    pieces.append((max(cursor - max_span, start), cursor))
                    cursor = pieces[-1][0]
            else:
                cursor = start
                while cursor < end:
                    pieces.append((cursor, min(cursor + max_span, end)))
                    cursor = pieces[-1][1]
            for a, b in pieces:
                fetch, fetch_end = a, None
                if min_span is not None and b - a < min_span:
                    fetch = b - min_span
                    if floor is not None and fetch < floor:
                        fetch = max(a, floor)
                        fetch_end = max(b, min(fetch + min_span, spec.now))
                chunks.append(Chunk(target, a, b, fetch, fetch_end))
    return chunks
