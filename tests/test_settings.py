from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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


def test_an_unknown_key_in_kasparro_sources_is_refused_with_the_valid_ones() -> None:
    # A typo used to be ignored: `max_coin` left CoinGecko at its default of 1000 coins.
    s = Settings(_env_file=None, sources={"coingecko": {"max_coin": 5}})  # type: ignore[call-arg]
    with pytest.raises(SourceSettingsError) as caught:
        _catalog(s)
    message = str(caught.value)
    assert message.startswith("KASPARRO_SOURCES: coingecko has no setting 'max_coin'"), message
    assert "max_coins" in message and "per_page" in message  # what it could have been


def test_unknown_keys_are_named_with_every_other_mistake() -> None:
    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        sources={"coingecko": {"max_coin": 5, "per_page": 300}, "csv": {"path": "m.csv"}},
    )
    with pytest.raises(SourceSettingsError) as caught:
        _catalog(s)
    message = str(caught.value)
    assert "coingecko has no setting 'max_coin'" in message
    assert "csv has no setting 'path'" in message and "paths" in message
    assert "KASPARRO_COINGECKO_PER_PAGE" in message  # the known key is still validated


def test_unrelated_kasparro_variables_are_not_mistakes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only what a user writes for a provider is checked: other programs' and tests'
    KASPARRO_* variables, and those of a plugin that is not installed, are none of its
    business, in the environment as in .env."""
    monkeypatch.setenv("KASPARRO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/x")
    monkeypatch.setenv("KASPARRO_EXAMPLE_PATH", "tickers.json")
    env_file = tmp_path / ".env"
    env_file.write_text(
        "POSTGRES_USER=kasparro\nKASPARRO_REQUIRE_POSTGRES=1\nKASPARRO_EXAMPLE_SCHEDULE_SECONDS=5\n"
        "KASPARRO_COINGECKO_MAX_COINS=5\nKASPARRO_LOG_LEVEL=debug\n"
    )
    s = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert s.log_level == "DEBUG"
    catalog = Catalog.build(s, builtin_registry(), env_file=str(env_file))
    assert catalog.config("coingecko").max_coins == 5  # type: ignore[attr-defined]


def test_the_log_level_is_one_of_the_levels() -> None:
    assert Settings(_env_file=None, log_level="warning").log_level == "WARNING"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="'DEBUG', 'INFO', 'WARNING' or 'ERROR'"):
        Settings(_env_file=None, log_level="LOUD")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KASPARRO_BINANCE_CCXT_OPTIONS", "{bad"),
        ("KASPARRO_KRAKEN_RETRY_STATUSES", "[429,"),
    ],
)
def test_a_provider_value_that_is_not_json_names_its_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("KASPARRO_COINGECKO_PER_PAGE", "300")
    with pytest.raises(SourceSettingsError) as caught:
        _catalog()
    message = str(caught.value)
    assert f"{variable}: not valid JSON (" in message, message
    assert "KASPARRO_COINGECKO_PER_PAGE" in message  # and the other providers are still read
