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
    assert bad.returncode != 0
    assert "--since 'yesterday' is not a date or time" in bad.stderr
    assert "Traceback" not in bad.stderr
