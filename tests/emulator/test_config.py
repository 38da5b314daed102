"""CLI-friendly configuration."""

from __future__ import annotations

import json

import pytest

from kasparro.emulator import EmulatorConfig, FaultKind, FaultRule


def test_from_options_parses_cli_strings() -> None:
    config = EmulatorConfig.from_options(
        coins=5000,
        seed=None,
        cg_rate_limit="30",
        cp_rate_limit="none",
        cp_tickers_cap="2000",
        latency=0.05,
        tick_every="off",
        faults=["coingecko:503:/coins/markets:page=2,first=1"],
        cp_retry_after=True,
    )
    assert config.coins == 5000 and config.seed == EmulatorConfig().seed
    assert config.cg_rate_limit_per_minute == 30.0
    assert config.cp_rate_limit_per_minute is None
    assert config.cp_tickers_cap == 2000
    assert config.latency_seconds == 0.05
    assert config.tick_every_seconds is None
    assert config.cp_retry_after is True
    assert config.faults == [
        FaultRule("coingecko", FaultKind.HTTP_503, "/coins/markets", page=2, first=1)
    ]
    assert json.loads(json.dumps(config.describe()))["faults"][0]["kind"] == "503"


@pytest.mark.parametrize(
    "options",
    [{"coins": 0}, {"cg_rate_limit_per_minute": -1}, {"latency_seconds": -0.1}],
)
def test_invalid_values_are_rejected(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**options)  # type: ignore[arg-type]


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown emulator options"):
        EmulatorConfig.from_options(colour="blue")
