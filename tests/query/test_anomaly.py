"""Robust anomaly rules: median/MAD with relative and absolute floors."""

from __future__ import annotations

from typing import Any

from kasparro.query.anomaly import assess_run, check_metric


def _run(
    rid: int, fetched: int, duration: float | None = 10.0, status: str = "success"
) -> dict[str, Any]:
    return {
        "id": rid,
        "source": "coingecko",
        "status": status,
        "fetched": fetched,
        "duration_s": duration,
        "error": None,
    }


def test_stable_history_small_wobble_is_not_anomalous() -> None:
    check = check_metric("fetched", 1003, [1000, 1001, 999, 1000, 1002])
    assert not check.anomalous
    assert check.median == 1000


def test_large_relative_drop_is_anomalous_even_with_zero_mad() -> None:
    check = check_metric("fetched", 400, [1000] * 10)
    assert check.anomalous
    assert check.mad == 0
    assert check.deviation_pct == 60.0
    assert "60% below the median 1000" in check.explanation


def test_mad_rule_needs_a_relative_floor() -> None:
    history = [1000, 1010, 990, 1005, 995, 1000, 1002, 998]
    assert check_metric("fetched", 1300, history).anomalous  # 30%, far beyond 3 MADs
    assert not check_metric("fetched", 1060, history).anomalous  # many MADs but only 6%


def test_sub_second_duration_jitter_is_ignored() -> None:
    assert not check_metric("duration_s", 0.4, [0.1, 0.12, 0.11]).anomalous
    assert check_metric("duration_s", 45.0, [10.0, 11.0, 9.5]).anomalous


def test_assess_run_explains_flags_and_requires_history() -> None:
    baseline = [_run(i, 1000) for i in range(10, 0, -1)]
    report = assess_run(_run(11, 100, duration=60.0), baseline)
    assert report["anomalous"]
    metrics = {f["metric"] for f in report["flags"]}
    assert metrics == {"fetched", "duration_s"}
    assert report["baseline_run_ids"] == list(range(10, 0, -1))
    assert "median" in report["method"]

    short = assess_run(_run(3, 100), baseline[:2])
    assert not short["anomalous"]
    assert "at least 3" in short["notes"][0]


def test_failed_run_is_flagged_with_its_error() -> None:
    run = _run(5, 0, status="failed") | {"error": "coingecko: HTTP 500"}
    report = assess_run(run, [])
    assert report["anomalous"]
    assert report["flags"][0]["metric"] == "status"
    assert "HTTP 500" in report["flags"][0]["explanation"]
