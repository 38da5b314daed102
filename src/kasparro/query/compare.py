"""Compare two runs: count and duration deltas, asset set changes, price moves, anomalies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kasparro.query import runs as q
from kasparro.query.anomaly import BASELINE_RUNS, assess_run
from kasparro.store.types import decimal_text

COUNT_FIELDS = ("pages", "fetched", "loaded", "unchanged", "rejected", "duration_s")
MAX_LISTED = 100
TOP_MOVES = 10
ASSET_BASIS = (
    "observations loaded by each run: a run includes an asset when it inserted at least one "
    "new observation of it (re-fetched identical rows count as unchanged and stay with the "
    "run that first loaded them)"
)


class RunNotFound(LookupError):
    def __init__(self, run_id: int) -> None:
        super().__init__(run_id)
        self.run_id = run_id


def _delta(a: float | int | None, b: float | int | None) -> dict[str, Any]:
    if a is None or b is None:
        return {"a": a, "b": b, "delta": None, "pct": None}
    delta = b - a
    if isinstance(delta, float):
        delta = round(delta, 3)
    return {"a": a, "b": b, "delta": delta, "pct": round(delta / a * 100, 2) if a else None}


def _pct_change(old: Decimal, new: Decimal) -> Decimal:
    return ((new - old) / old * 100).quantize(Decimal("0.0001"))


async def compare_runs(conn: AsyncConnection, a_id: int, b_id: int) -> dict[str, Any]:
    run_a = await q.get_run(conn, a_id)
    if run_a is None:
        raise RunNotFound(a_id)
    run_b = await q.get_run(conn, b_id)
    if run_b is None:
        raise RunNotFound(b_id)
    prices_a = await q.run_asset_prices(conn, a_id)
    prices_b = await q.run_asset_prices(conn, b_id)

    added_ids = sorted(set(prices_b) - set(prices_a))
    removed_ids = sorted(set(prices_a) - set(prices_b))
    both = set(prices_a) & set(prices_b)

    def ref(p: q.AssetPrice) -> dict[str, Any]:
        return {"asset_id": p.asset_id, "symbol": p.symbol, "name": p.name}

    moves: list[tuple[Decimal, dict[str, Any]]] = []
    for asset_id in both:
        pa, pb = prices_a[asset_id], prices_b[asset_id]
        if pa.price is None or pb.price is None or pa.price == 0:
            continue
        change = _pct_change(pa.price, pb.price)
        moves.append(
            (
                abs(change),
                {
                    **ref(pa),
                    "price_a": decimal_text(pa.price),
                    "price_b": decimal_text(pb.price),
                    "change_pct": decimal_text(change),
                    "observed_at_a": pa.observed_at,
                    "observed_at_b": pb.observed_at,
                },
            )
        )
    moves.sort(key=lambda m: (-m[0], m[1]["asset_id"]))

    anomalies = {}
    for label, run in (("a", run_a), ("b", run_b)):
        baseline = await q.previous_ok_runs(conn, run["source"], run["id"], BASELINE_RUNS)
        anomalies[label] = assess_run(run, baseline)

    return {
        "a": run_a,
        "b": run_b,
        "same_source": run_a["source"] == run_b["source"],
        "deltas": {f: _delta(run_a.get(f), run_b.get(f)) for f in COUNT_FIELDS},
        "assets": {
            "basis": ASSET_BASIS,
            "in_a": len(prices_a),
            "in_b": len(prices_b),
            "in_both": len(both),
            "added_count": len(added_ids),
            "removed_count": len(removed_ids),
            "added": [ref(prices_b[i]) for i in added_ids[:MAX_LISTED]],
            "removed": [ref(prices_a[i]) for i in removed_ids[:MAX_LISTED]],
            "lists_truncated": len(added_ids) > MAX_LISTED or len(removed_ids) > MAX_LISTED,
        },
        "price_moves": [m for _, m in moves[:TOP_MOVES]],
        "anomalies": anomalies,
    }
