"""What a read database says about its replication: standby or not, how far behind."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The replay lag as PostgreSQL's documentation measures it, with one correction: a standby
# that has replayed everything it received is 0 s behind, however long ago the primary last
# committed (``now() - pg_last_xact_replay_timestamp()`` alone grows on an idle primary).
# What it cannot see: WAL the primary has not yet sent (a broken network looks caught up
# until wal_receiver_timeout), hence ``receiving`` too.
_STATUS = text(
    "SELECT pg_is_in_recovery() AS in_recovery, "
    "CASE WHEN NOT pg_is_in_recovery() THEN NULL "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0 "
    "ELSE greatest(0.0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::float8 "
    "END AS replay_lag_s, "
    "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused, "
    # Its row is visible to any role (the details only to pg_read_all_stats).
    "CASE WHEN pg_is_in_recovery() THEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver "
    "WHERE pid IS NOT NULL) END AS receiving"
)


async def replica_status(conn: AsyncConnection) -> dict[str, Any]:
    """``in_recovery`` (a standby), ``replay_lag_s``, ``replay_paused``, ``receiving``
    (a WAL receiver runs: connected to its primary, or trying); null on a primary."""
    row = (await conn.execute(_STATUS)).mappings().one()
    lag = row["replay_lag_s"]
    return {
        "in_recovery": bool(row["in_recovery"]),
        "replay_lag_s": None if lag is None else round(float(lag), 3),
        "replay_paused": row["replay_paused"],
        "receiving": row["receiving"],
    }
