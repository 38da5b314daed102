"""Re-linking, applied: move the store's mappings to the identities the linker decided.

Coins loaded before the linker knew them (no reference data yet, a rename, a contract that
arrived later) sit on the asset their ``symbol:name`` key gave them. Once
``identity_links`` says otherwise, :func:`reconcile` moves each such source id to the asset
of its decided identity key, **with its observations** (nothing lost, nothing duplicated:
observations are unique per source id, only their asset changes), and:

- an asset left without mappings is *merged*: ``alias_of`` points at the asset that took its
  source ids, so its id and its key keep resolving (the API redirects), never 404;
- an asset whose key some link wants keeps that key and is filled by that key's coins;
- a source id left on a target beside the newcomer of its own source (an id no longer
  listed) is split off onto an asset of its own, since an asset holds one id per source;
- every move and merge is recorded in ``asset_events``.

:func:`~kasparro.identity.moves.plan_relink` is the pure decision (tested on its own);
:func:`reconcile` reads the store, plans and applies it set-based. Callers hold the identity
lock (``identity.repository.identity_lock``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.identity.moves import Mapped, RelinkPlan, SourceId, Wanted, plan_relink
from kasparro.load import rollups
from kasparro.load.bulk import insert_rows, update_rows
from kasparro.load.listings import listing_ids
from kasparro.store.dialect import key_table
from kasparro.store.identity_schema import asset_events, identity_links
from kasparro.store.schema import (
    asset_mappings,
    assets,
    latest_observations,
    listings,
    observations,
)


@dataclass(slots=True)
class RelinkStats:
    moved: int = 0
    merged: int = 0
    created: int = 0
    relabeled: int = 0
    observations_moved: int = 0
    revived: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "moved": self.moved,
            "merged": self.merged,
            "revived": self.revived,
            "created": self.created,
            "relabeled": self.relabeled,
            "observations_moved": self.observations_moved,
        }


async def _read_state(
    conn: AsyncConnection,
) -> tuple[dict[SourceId, Mapped], dict[SourceId, Wanted], dict[int, str]]:
    m, li, a = asset_mappings.c, identity_links.c, assets.c
    mapped = {
        (s, sid): Mapped(aid, method, conf, ev)
        for s, sid, aid, method, conf, ev in await conn.execute(
            select(m.source, m.source_asset_id, m.asset_id, m.method, m.confidence, m.evidence)
        )
    }
    wanted = {
        (s, sid): Wanted(key, method, conf, ev)
        for s, sid, key, method, conf, ev in await conn.execute(
            select(
                li.source,
                li.source_asset_id,
                li.identity_key,
                li.method,
                li.confidence,
                li.evidence,
            )
        )
    }
    key_of_asset = {
        aid: key
        for aid, key in await conn.execute(select(a.id, a.identity_key).where(a.alias_of.is_(None)))
    }
    return mapped, wanted, key_of_asset


async def _resolve_keys(
    conn: AsyncConnection, keys: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """(key -> the asset it resolves to, key -> the merged asset it resolves through)."""
    a = assets.c
    if not keys:
        return {}, {}
    table = key_table(conn, keys)

    def probe(column: Any) -> Any:
        return select(column).where(a.identity_key == table.c.value).scalar_subquery()

    rows = await conn.execute(select(table.c.value, probe(a.id), probe(a.alias_of)))
    resolved, aliased = {}, {}
    for key, aid, alias_of in rows:
        if aid is None:
            continue
        resolved[key] = int(alias_of if alias_of is not None else aid)
        if alias_of is not None:
            aliased[key] = int(aid)
    return resolved, aliased


async def reconcile(
    conn: AsyncConnection, relink_id: int, now: datetime, *, source_order: Sequence[str] = ()
) -> RelinkStats:
    """Apply ``identity_links`` to the mappings (see the module docstring)."""
    mapped, wanted, key_of_asset = await _read_state(conn)
    keys = sorted({w.key for w in wanted.values()} | {f"{s}:{i}" for s, i in mapped})
    asset_of_key, aliased = await _resolve_keys(conn, keys)
    plan = plan_relink(mapped, wanted, asset_of_key, key_of_asset, aliased, source_order)
    stats = RelinkStats()
    if not (plan.moves or plan.relabel or plan.alias_keys):
        return stats
    names = await _names(conn, [*plan.create.values(), *plan.revive.values()])
    for aid, member in sorted(plan.revive.items()):
        symbol, name = names.get(member, ("?", "?"))
        await conn.execute(
            update(assets).where(assets.c.id == aid).values(alias_of=None, symbol=symbol, name=name)
        )
    await insert_rows(
        conn,
        asset_events,
        [
            {
                "at": now,
                "kind": "revive",  # a merged asset is its own coin's asset again
                "asset_id": aid,
                "from_asset_id": asset_of_key.get(wanted[member].key) if member in wanted else None,
                "source": member[0],
                "source_asset_id": member[1],
                "method": None,
                "evidence": None,
                "observations": None,
                "relink_id": relink_id,
            }
            for aid, member in sorted(plan.revive.items())
        ],
        conflict=("id",),
    )
    stats.revived = len(plan.revive)
    rows: list[dict[str, Any]] = [
        {
            "identity_key": key,
            "symbol": names.get(member, ("?", "?"))[0],
            "name": names.get(member, ("?", "?"))[1],
            "created_at": now,
            "alias_of": None,
        }
        for key, member in sorted(plan.create.items())
    ]
    rows += [
        {"identity_key": key, "symbol": "", "name": "", "created_at": now, "alias_of": aid}
        for key, aid in sorted(plan.alias_keys.items())
    ]
    await insert_rows(conn, assets, rows, conflict=("identity_key",))
    stats.created = len(plan.create)
    resolved, _ = await _resolve_keys(conn, sorted(plan.create))
    target = {key: (resolved[key] if aid is None else aid) for key, aid in plan.target_of.items()}
    await _apply_moves(conn, plan, target, wanted, relink_id, now, stats)
    await _apply_merges(conn, plan, target, relink_id, now, stats)
    relabels = [
        {
            "source": s,
            "source_asset_id": sid,
            "method": method,
            "confidence": conf,
            "evidence": ev,
            "decided_at": now,
        }
        for (s, sid), (method, conf, ev) in sorted(plan.relabel.items())
    ]
    stats.relabeled = await update_rows(
        conn, asset_mappings, relabels, key=("source", "source_asset_id")
    )
    return stats


async def _names(conn: AsyncConnection, members: list[SourceId]) -> dict[SourceId, tuple[str, str]]:
    m = asset_mappings.c
    out: dict[SourceId, tuple[str, str]] = {}
    for source in {s for s, _ in members}:
        ids = [sid for s, sid in members if s == source]
        table = key_table(conn, ids)
        rows = await conn.execute(
            select(m.source_asset_id, m.source_symbol, m.source_name).where(
                m.source == source, m.source_asset_id.in_(select(table.c.value))
            )
        )
        out.update(((source, sid), (sym or "?", name or "?")) for sid, sym, name in rows)
    return out


async def _apply_moves(
    conn: AsyncConnection,
    plan: RelinkPlan,
    target: Mapping[str, int],
    wanted: Mapping[SourceId, Wanted],
    relink_id: int,
    now: datetime,
    stats: RelinkStats,
) -> None:
    if not plan.moves:
        return
    moves = [(sid, from_asset, target[key]) for sid, from_asset, key in plan.moves]
    listed = await listing_ids(conn, [sid for sid, _, _ in moves])
    counts = await _observation_counts(conn, listed)
    await update_rows(
        conn,
        asset_mappings,
        [
            {"source": s, "source_asset_id": i, "asset_id": to, "decided_at": now}
            for (s, i), _, to in moves
        ],
        key=("source", "source_asset_id"),
    )
    await update_rows(
        conn,
        observations,
        [{"listing_id": listed[sid], "asset_id": to} for sid, _, to in moves if sid in listed],
        key=("listing_id",),
    )
    await rollups.rebuild_moved(conn, [(s, i, frm, to) for (s, i), frm, to in moves])
    await _repoint_latest(conn, moves, listed)
    events = []
    for (s, i), from_asset, to in moves:
        want = wanted.get((s, i))
        events.append(
            {
                "at": now,
                "kind": "move",
                "asset_id": to,
                "from_asset_id": from_asset,
                "source": s,
                "source_asset_id": i,
                "method": want.method if want else "split",
                "evidence": want.evidence if want else None,
                "observations": counts.get((s, i), 0),
                "relink_id": relink_id,
            }
        )
    await insert_rows(conn, asset_events, events, conflict=("id",))
    stats.moved = len(moves)
    stats.observations_moved = sum(counts.values())


async def _observation_counts(
    conn: AsyncConnection, listed: Mapping[SourceId, int]
) -> dict[SourceId, int]:
    o = observations.c
    if not listed:
        return {}
    key_of = {lid: sid for sid, lid in listed.items()}
    rows = await conn.execute(
        select(o.listing_id, func.count())
        .where(o.listing_id.in_(sorted(key_of)))
        .group_by(o.listing_id)
    )
    return {key_of[lid]: int(n) for lid, n in rows}


async def _repoint_latest(
    conn: AsyncConnection, moves: list[tuple[SourceId, int, int]], listed: Mapping[SourceId, int]
) -> None:
    """latest_observations of the moved ids: dropped where they left, rebuilt where they
    arrived, from their newest observation (observed_at, then id, as the loader keeps it;
    one probe of uq_observations_listing_key per listing)."""
    lo, o, li = latest_observations.c, observations.c, listings.c
    pairs = sorted(
        {(from_asset, s) for (s, _), from_asset, _ in moves} | {(to, s) for (s, _), _, to in moves}
    )
    await conn.execute(
        latest_observations.delete().where(tuple_(lo.asset_id, lo.source).in_(pairs))
    )
    destination = {listed[sid]: to for sid, _, to in moves if sid in listed}
    if not destination:
        return

    def newest(column: Any) -> Any:
        # Both columns of the listing's newest row, each one probe of the listing key: a
        # lookup by id alone would search every month's partition (PostgreSQL).
        return (
            select(column)
            .where(o.listing_id == li.id)
            .order_by(o.observed_at.desc(), o.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    found = (
        await conn.execute(
            select(li.id, li.source, newest(o.id), newest(o.observed_at)).where(
                li.id.in_(sorted(destination))
            )
        )
    ).all()
    rows: list[dict[str, Any]] = [
        {
            "asset_id": destination[lid],
            "source": source,
            "observation_id": oid,
            "observed_at": at,
        }
        for lid, source, oid, at in found
        if oid is not None
    ]
    await insert_rows(conn, latest_observations, rows, conflict=("asset_id", "source"))


async def _apply_merges(
    conn: AsyncConnection,
    plan: RelinkPlan,
    target: Mapping[str, int],
    relink_id: int,
    now: datetime,
    stats: RelinkStats,
) -> None:
    a = assets.c
    events = []
    for aid, key in sorted(plan.merges.items()):
        dest = target[key]
        if dest == aid:
            continue
        # One hop: whatever pointed at the merged asset now points at its target.
        await conn.execute(update(assets).where(a.alias_of == aid).values(alias_of=dest))
        await conn.execute(update(assets).where(a.id == aid).values(alias_of=dest))
        events.append(
            {
                "at": now,
                "kind": "merge",
                "asset_id": dest,
                "from_asset_id": aid,
                "source": None,
                "source_asset_id": None,
                "method": None,
                "evidence": None,
                "observations": None,
                "relink_id": relink_id,
            }
        )
    await insert_rows(conn, asset_events, events, conflict=("id",))
    stats.merged = len(events)
