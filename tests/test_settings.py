from __future__ import annotations

from pathlib import Path

import pytest

from kasparro.settings import SAMPLE_CSV, Settings


def test_defaults_are_embedded_sqlite_and_public_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KASPARRO_DATABASE_URL", raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "sqlite+aiosqlite:///./kasparro.db"
    assert s.coingecko_base_url == "https://api.coingecko.com/api/v3"
    assert s.coinpaprika_base_url == "https://api.coinpaprika.com/v1"
    assert s.coingecko_max_coins == 1000
    assert s.csv_paths == [SAMPLE_CSV] and SAMPLE_CSV.is_file()
    assert s.api_token is None


def test_env_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASPARRO_CSV_PATHS", "a.csv, b.csv")
    monkeypatch.setenv("KASPARRO_COINGECKO_MAX_COINS", "ALL")
    monkeypatch.setenv("KASPARRO_API_TOKEN", "  ")
    monkeypatch.setenv("KASPARRO_SCHEDULE_ENABLED_SOURCES", "coingecko,csv")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.csv_paths == [Path("a.csv"), Path("b.csv")]
    assert s.coingecko_max_coins == "all"
    assert s.api_token is None  # blank means unset: triggering stays disabled
    assert s.schedule_enabled_sources == ["coingecko", "csv"]


@pytest.mark.parametrize(
    ("base", "header"),
    [
        ("https://api.coingecko.com/api/v3", "x-cg-demo-api-key"),
        ("https://pro-api.coingecko.com/api/v3", "x-cg-pro-api-key"),
    ],
)
def test_coingecko_key_header_matches_host(base: str, header: str) -> None:
    s = Settings(_env_file=None, coingecko_base_url=base, coingecko_api_key="k-123")  # type: ignore[call-arg]
    assert s.coingecko_key_header() == {header: "k-123"}
    assert "k-123" not in repr(s)  # secrets never show up in reprs or logs
