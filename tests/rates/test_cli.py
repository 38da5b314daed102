"""``kasparro rates recompute``: the real console script."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.etl import CSV_HEADER
from tests.test_cli import run_cli


def test_recompute_reports_and_refuses_bad_bounds(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(CSV_HEADER + "bitcoin,BTC,Bitcoin,2024-01-01T00:00:30Z,42000.5,,,,1,,,\n")
    assert run_cli(["etl", "run", "--source", "csv"], tmp_path, KASPARRO_CSV_PATHS=str(csv_path))
    proc = run_cli(
        ["rates", "recompute", "--since", "2024-01-01", "--until", "2024-01-01T01:00"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    # One source (the CSV file) is no consensus: buckets evaluated, no value published.
    assert "method 1: 2 buckets, 0 values (1h: 0, 1m: 0), 0 restated" in proc.stdout
    bad = run_cli(["rates", "recompute", "--since", "yesterday", "--until", "now"], tmp_path)
    assert bad.returncode == 2
    assert "--since 'yesterday' is not a date, time or duration" in bad.stderr
    assert "Traceback" not in bad.stderr
    backwards = run_cli(
        ["rates", "recompute", "--since", "2024-01-02", "--until", "2024-01-01"], tmp_path
    )
    assert backwards.returncode == 2 and "--until is before --since" in backwards.stderr


def test_recompute_reads_bounds_as_backfill_does(tmp_path: Path) -> None:
    """`now` and durations, as `kasparro backfill --since/--until` (``--since`` counted back
    from ``--until``); one bucket is one bucket."""
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(CSV_HEADER + "bitcoin,BTC,Bitcoin,2024-01-01T00:00:30Z,42000.5,,,,1,,,\n")
    assert run_cli(["etl", "run", "--source", "csv"], tmp_path, KASPARRO_CSV_PATHS=str(csv_path))
    hour = ["--interval", "1h"]
    upto_now = run_cli(
        ["rates", "recompute", "--since", "2024-01-01", "--until", "now", *hour], tmp_path
    )
    assert upto_now.returncode == 0, upto_now.stderr
    assert "method 1: 1 bucket, 0 values (1h: 0), 0 restated" in upto_now.stdout
    back = run_cli(
        ["rates", "recompute", "--since", "2h", "--until", "2024-01-01T01:00Z", *hour], tmp_path
    )
    assert back.returncode == 0, back.stderr
    assert "method 1: 1 bucket, 0 values (1h: 0), 0 restated" in back.stdout
    recent = run_cli(["rates", "recompute", "--since", "7d", "--until", "now", *hour], tmp_path)
    assert recent.returncode == 0, recent.stderr
    assert "method 1: 0 buckets, 0 values (none), 0 restated" in recent.stdout
