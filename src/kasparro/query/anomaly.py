"""Is a run unusual for its source? Robust statistics over the previous successful runs.

Median and MAD (median absolute deviation) resist the odd outlier in the baseline itself.
A metric is flagged when it is more than 50% away from the baseline median, or more than
3 MADs away *and* at least 10% away: the relative floor keeps a very stable baseline (MAD
near zero) from flagging trivial wobble. Durations also need an absolute move of at least
one second, since sub-second runs vary by large ratios for no operational reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

MIN_BASELINE = 3
BASELINE_RUNS = 10
REL_THRESHOLD = 0.5
MAD_THRESHOLD = 3.0
MAD_REL_FLOOR = 0.1
ABS_FLOOR = {"fetched": 0.0, "duration_s": 1.0}

METHOD = (
    f"Each metric is compared with the median of the previous {BASELINE_RUNS} successful or "
    f"partial runs of the same source. Flagged when more than {REL_THRESHOLD:.0%} away from "
    f"the median, or more than {MAD_THRESHOLD:g} MADs away and at least "
    f"{MAD_REL_FLOOR:.0%} away; durations must also move by at least "
    f"{ABS_FLOOR['duration_s']:g} s. At least {MIN_BASELINE} baseline runs are required."
)


@dataclass(frozen=True, slots=True)
class MetricCheck:
    metric: str
    value: float
    median: float
    mad: float
    deviation_pct: float | None  # None when the median is 0
    mads: float | None  # None when the MAD is 0
    anomalous: bool
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "median": self.median,
            "mad": self.mad,
            "deviation_pct": self.deviation_pct,
            "mads": self.mads,
            "anomalous": self.anomalous,
            "explanation": self.explanation,
        }


def check_metric(metric: str, value: float, history: Sequence[float]) -> MetricCheck:
    med = float(median(history))
    mad = float(median([abs(x - med) for x in history]))
    dev = abs(value - med)
    rel = dev / med if med > 0 else (math.inf if dev > 0 else 0.0)
    mads = dev / mad if mad > 0 else (math.inf if dev > 0 else 0.0)
    big_enough = dev >= ABS_FLOOR.get(metric, 0.0) and dev > 0
    anomalous = big_enough and (
        rel > REL_THRESHOLD or (mads > MAD_THRESHOLD and rel >= MAD_REL_FLOOR)
    )
    direction = "above" if value > med else "below"
    rel_text = f"{rel:.0%}" if math.isfinite(rel) else "infinitely"
    mads_text = f"{mads:.1f} MADs" if math.isfinite(mads) else "any number of MADs (MAD is 0)"
    explanation = (
        f"{metric}={value:g} is {rel_text} {direction} the median {med:g} of {len(history)} "
        f"previous runs ({mads_text} away)"
        if dev > 0
        else f"{metric}={value:g} equals the median of {len(history)} previous runs"
    )
    return MetricCheck(
        metric,
        value,
        med,
        mad,
        round(rel * 100, 2) if math.isfinite(rel) else None,
        round(mads, 2) if math.isfinite(mads) else None,
        anomalous,
        explanation,
    )


def assess_run(run: dict[str, Any], baseline: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Anomaly report for ``run`` against ``baseline`` (previous ok runs, newest first)."""
    flags: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    notes: list[str] = []
    if run["status"] in ("failed", "crashed"):
        flags.append(
            {
                "metric": "status",
                "anomalous": True,
                "explanation": f"run {run['status']}: {run.get('error') or 'no error recorded'}",
            }
        )
    if run["status"] == "running":
        notes.append("run is still in progress: counts and duration are not final")
    if len(baseline) < MIN_BASELINE:
        notes.append(
            f"only {len(baseline)} previous successful runs of {run['source']}: at least "
            f"{MIN_BASELINE} are needed to judge counts and duration"
        )
    else:
        series: dict[str, tuple[float | None, list[float]]] = {
            "fetched": (run["fetched"], [float(b["fetched"]) for b in baseline]),
            "duration_s": (
                run.get("duration_s"),
                [float(b["duration_s"]) for b in baseline if b.get("duration_s") is not None],
            ),
        }
        for metric, (value, history) in series.items():
            if value is None or len(history) < MIN_BASELINE:
                continue
            result = check_metric(metric, float(value), history)
            checks.append(result.as_dict())
            if result.anomalous:
                flags.append(
                    {"metric": metric, "anomalous": True, "explanation": result.explanation}
                )
    return {
        "anomalous": bool(flags),
        "flags": flags,
        "checks": checks,
        "notes": notes,
        "baseline_run_ids": [b["id"] for b in baseline],
        "method": METHOD,
    }
