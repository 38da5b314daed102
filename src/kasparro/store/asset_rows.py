"""An asset's observations found through its listings, not through an index of their own.

On PostgreSQL ``observations`` has no ``(asset_id, observed_at, id)`` index since migration
0020: written in the ETL's time order it took 62 bytes per row, a fifth of the row, and one
random B-tree insertion per row (BENCHMARKS 8). An asset has a handful of listings (one per
source that lists it) and each listing's rows are one range of
``uq_observations_listing_key`` ``(listing_id, observed_at)``: readers take the asset's
listings from ``asset_mappings`` (by ``ix_asset_mappings_asset``), then each listing's range.
A page is the top rows of each listing's range, merged (``LATERAL``); an aggregate reads the
ranges. SQLite keeps the index (an embedded, smaller store; and it has no ``LATERAL``).

This rests on an invariant: every row carries the asset its listing's mapping names. The
loader maps each record under the record's own source, the listing's (``runs.commit``), a
relink moves a mapping and its listing's rows in one transaction (``identity.reconcile``),
and migration 0020 repaired the rows backfills had mapped under a history source's name.
Rows keep ``asset_id`` (outputs, rollups and the latest pointers carry it) and readers
filter on it beside the listing (on a distributed PostgreSQL it routes the query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.sql.elements import ColumnElement

from kasparro.store.schema import asset_mappings, listings

Match = Callable[[ColumnElement[Any]], ColumnElement[bool]]


def by_listing(dialect: str) -> bool:
    """Whether this dialect reads an asset's rows listing by listing (no asset index)."""
    return dialect != "sqlite"


def asset_listings(assets: Match, sources: Match | None = None) -> Select[Any]:
    """The ids of the listings mapped to the assets ``assets`` matches (of the sources
    ``sources`` matches): one column, ``id``."""
    m, li = asset_mappings.c, listings.c
    query = (
        select(li.id)
        .select_from(
            asset_mappings.join(
                listings, and_(li.source == m.source, li.source_asset_id == m.source_asset_id)
            )
        )
        .where(assets(m.asset_id))
    )
    if sources is not None:
        query = query.where(sources(li.source))
    return query
