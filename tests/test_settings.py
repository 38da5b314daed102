from __future__ import annotations

from pathlib import Path

import pytest

from kasparro.settings import Settings
from kasparro.sources.catalog import Catalog, SourceSettingsError
from kasparro.sources.coingecko import CoinGeckoSettings
from kasparro.sources.csv_files import SAMPLE_CSV
from tests.fixtures.settings import builtin_registry


def _catalog(settings: Settings | None = None) -> Catalog:
    settings = settings or Settings(_env_file=None)  # type: ignore[call-arg]
    return Catalog.build(settings, builtin_registry(), env_file=None)


def test_defaults_are_embedded_sqlite_and_public_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KASPARRO_DATABASE_URL", raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "sqlite+aiosqlite:///./kasparro.db"
    assert s.api_token is None
    configs = _catalog(s).configs
    assert configs["coingecko"].base_url == "https://api.coingecko.com/api/v3"  # type: ignore[attr-defined]
    assert configs["coinpaprika"].base_url == "https://api.coinpaprika.com/v1"  # type: ignore[attr-defined]
    assert configs["coingecko"].max_coins == 1000  # type: ignore[attr-defined]
    assert configs["csv"].paths == [SAMPLE_CSV] and SAMPLE_CSV.is_file()  # type: ignore[attr-defined]


def test_env_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASPARRO_CSV_PATHS", "a.csv, b.csv")
    monkeypatch.setenv("KASPARRO_COINGECKO_MAX_COINS", "ALL")
    monkeypatch.setenv("KASPARRO_API_TOKEN", "  ")
    monkeypatch.setenv("KASPARRO_SCHEDULE_ENABLED_SOURCES", "coingecko,csv")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    configs = _catalog(s).configs
    assert configs["csv"].paths == [Path("a.csv"), Path("b.csv")]  # type: ignore[attr-defined]
    assert configs["coingecko"].max_coins == "all"  # type: ignore[attr-defined]
    assert s.api_token is None  # blank means unset: triggering stays disabled
    assert s.schedule_enabled_sources == ["coingecko", "csv"]


def test_provider_settings_come_from_their_prefix_and_code_overrides_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KASPARRO_COINPAPRIKA_REQUESTS_PER_MINUTE", "42")
    monkeypatch.setenv("KASPARRO_COINGECKO_REQUESTS_PER_MINUTE", "7")
    s = Settings(_env_file=None, sources={"coingecko": {"requests_per_minute": 99}})  # type: ignore[call-arg]
    budgets = _catalog(s).budgets()
    assert (budgets["coingecko"], budgets["coinpaprika"]) == (99.0, 42.0)
    # Every HTTP provider declares its own (the venues: from their published limits).
    assert {k: v for k, v in budgets.items() if k not in ("coingecko", "coinpaprika")} == {
        "binance": 12.0,
        "coinbase": 60.0,
        "kraken": 20.0,
        "okx": 60.0,
    }


def test_a_bad_provider_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASPARRO_COINGECKO_PER_PAGE", "300")
    with pytest.raises(SourceSettingsError, match="KASPARRO_COINGECKO_PER_PAGE"):
        _catalog()


def test_overrides_for_an_unknown_provider_are_refused() -> None:
    s = Settings(_env_file=None, sources={"nosuch": {"x": 1}})  # type: ignore[call-arg]
    with pytest.raises(SourceSettingsError, match="nosuch"):
        _catalog(s)


@pytest.mark.parametrize(
    ("base", "header"),
    [
        ("https://api.coingecko.com/api/v3", "x-cg-demo-api-key"),
        ("https://pro-api.coingecko.com/api/v3", "x-cg-pro-api-key"),
    ],
)
def test_coingecko_key_header_matches_host(base: str, header: str) -> None:
    s = CoinGeckoSettings(_env_file=None, base_url=base, api_key="k-123")  # type: ignore[call-arg]
    assert s.key_header() == {header: "k-123"}
    assert "k-123" not in repr(s)  # secrets never show up in reprs or logs
