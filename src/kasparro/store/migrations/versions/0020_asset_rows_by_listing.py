"""observations lose their asset history index on PostgreSQL (SQLite keeps it)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 17:00:00.000000

``ix_observations_asset_observed_id`` ``(asset_id, observed_at, id)`` served an asset's
history. Written in the ETL's order (one tick of every asset after another) each insertion
lands in another asset's leaf page, and page splits left it about 70 % full: 62 bytes per
observation, the largest structure after the heap, and one random B-tree insertion per row.
An asset's rows are now read through its listings (``store.asset_rows``): each listing's
rows are one range of ``uq_observations_listing_key`` ``(listing_id, observed_at)``, which
the loader keeps anyway for idempotency. SQLite keeps the index (no ``LATERAL`` to merge
listings with, and an embedded store's size matters less).

That read relies on every row carrying the asset its listing is mapped to. Backfills broke
it: they resolved their points' coins under the history source's name
(``coingecko_history``, any ``<provider>_history``) instead of the upstream whose ids they
are, leaving a second mapping per backfilled coin that could name another asset (the
upstream's mapping keyed by a link, a contract or an older name). Each such mapping becomes
the upstream's where that was missing; otherwise the listing's rows move to the upstream
mapping's asset (rollups of both rebuilt from raw rows after the retention boundary, as a
relink does), an asset left with neither mappings nor rows becomes an alias of that asset,
and the stray mapping goes (both dialects; not undone by the downgrade).

Dropping a partitioned index drops each partition's under the table's lock (a catalog change,
quick); the downgrade rebuilds it over every partition (a few seconds per 10M rows here):
on a big store run ``kasparro migrate`` with the ETL stopped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from kasparro.store.types import ExactDecimal, UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_SUFFIX = "_history"


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    _repair_history_mappings(op.get_bind())
    if _postgresql():
        op.execute("DROP INDEX ix_observations_asset_observed_id")


def downgrade() -> None:
    if _postgresql():
        op.execute(
            "CREATE INDEX ix_observations_asset_observed_id "
            "ON observations (asset_id, observed_at, id)"
        )


def _repair_history_mappings(bind: sa.engine.Connection) -> None:
    def rows(sql: str, **params: object) -> list[Any]:
        return list(bind.execute(sa.text(sql), params))

    listed = {s for (s,) in rows("SELECT DISTINCT source FROM listings")}
    strays = [
        (str(s), str(i))
        for s, i in rows("SELECT source, source_asset_id FROM asset_mappings")
        if str(s).endswith(_SUFFIX) and s not in listed
    ]
    moved: dict[str, set[int]] = {}  # upstream -> assets whose rollups change
    emptied: dict[int, int] = {}  # asset whose rows left -> where they went
    for history, sid in strays:
        upstream = history[: -len(_SUFFIX)]
        found = rows(
            "SELECT asset_id FROM asset_mappings WHERE source = :u AND source_asset_id = :i",
            u=upstream,
            i=sid,
        )
        if not found:
            bind.execute(
                sa.text(
                    "UPDATE asset_mappings SET source = :u WHERE source = :h"
                    " AND source_asset_id = :i"
                ),
                {"u": upstream, "h": history, "i": sid},
            )
            continue
        target = int(found[0][0])
        listing = rows(
            "SELECT id FROM listings WHERE source = :u AND source_asset_id = :i", u=upstream, i=sid
        )
        if listing:
            lid = int(listing[0][0])
            old = [
                int(a)
                for (a,) in rows(
                    "SELECT DISTINCT asset_id FROM observations WHERE listing_id = :l"
                    " AND asset_id <> :t",
                    l=lid,
                    t=target,
                )
            ]
            if old:
                bind.execute(
                    sa.text(
                        "UPDATE observations SET asset_id = :t WHERE listing_id = :l"
                        " AND asset_id <> :t"
                    ),
                    {"t": target, "l": lid},
                )
                moved.setdefault(upstream, set()).update([*old, target])
                emptied.update(dict.fromkeys(old, target))
        bind.execute(
            sa.text("DELETE FROM asset_mappings WHERE source = :h AND source_asset_id = :i"),
            {"h": history, "i": sid},
        )
    for source, assets in moved.items():
        _rebuild_rollups(bind, source, sorted(assets))
    for asset, target in emptied.items():
        held = rows(
            "SELECT 1 FROM asset_mappings WHERE asset_id = :a UNION ALL "
            "SELECT 1 FROM observations WHERE asset_id = :a",
            a=asset,
        )
        if not held:  # one hop, as a relink's merge leaves aliases
            for where in ("alias_of = :a", "id = :a"):
                bind.execute(
                    sa.text(f"UPDATE assets SET alias_of = :t WHERE {where}"),
                    {"t": target, "a": asset},
                )


def _rebuild_rollups(bind: sa.engine.Connection, source: str, assets: list[int]) -> None:
    """The assets' rollups of ``source`` folded again from the raw rows (the loader's own
    fold), after the retention boundary: before it only the lake holds the rows."""
    from kasparro.load.rollups import fold, rollup_row
    from kasparro.store.rollup_schema import RETIRED_KEY, observation_rollups

    obs = sa.table(
        "observations",
        sa.column("id", sa.BigInteger()),
        sa.column("asset_id", sa.BigInteger()),
        sa.column("source", sa.String()),
        sa.column("observed_at", UTCDateTime()),
        sa.column("price_usd", ExactDecimal()),
        sa.column("market_cap_usd", ExactDecimal()),
        sa.column("volume_24h_usd", ExactDecimal()),
    )
    retired = bind.execute(
        sa.text("SELECT value FROM store_metadata WHERE key = :k"), {"k": RETIRED_KEY}
    ).scalar_one_or_none()
    since = datetime.fromisoformat(json.loads(retired)) if retired else None
    r = observation_rollups.c
    gone = sa.delete(observation_rollups).where(r.asset_id.in_(assets), r.source == source)
    raw = sa.select(*obs.c).where(obs.c.asset_id.in_(assets), obs.c.source == source)
    if since is not None:
        gone = gone.where(r.bucket >= int(since.timestamp()))
        raw = raw.where(obs.c.observed_at >= since)
    bind.execute(gone)
    folds = fold(bind.execute(raw).all())
    if folds:
        bind.execute(
            observation_rollups.insert(),
            [rollup_row(key, f) for key, f in folds.items()],
        )
