"""A ``KASPARRO_*`` variable that is no setting (a typo) is named with the setting it is
closest to, instead of being ignored silently while the setting it meant keeps its default."""

from __future__ import annotations

from pathlib import Path

from kasparro.preflight import unknown_variables
from kasparro.runtime import Runtime
from tests.test_cli import run_cli


def known() -> set[str]:
    return Runtime.build(env_file=None).catalog.variables()


def test_every_setting_and_every_providers_setting_is_known() -> None:
    names = known()
    assert {"KASPARRO_DATABASE_URL", "KASPARRO_SOURCES", "KASPARRO_COINGECKO_MAX_COINS"} <= names
    assert "KASPARRO_KRAKEN_SCHEDULE_SECONDS" in names
    given = {n: "the environment" for n in names} | {"kasparro_database_url": "./.env"}
    assert unknown_variables(names, given) == []  # read case-insensitively, as settings are


def test_a_typo_is_named_with_the_setting_it_is_closest_to() -> None:
    lines = unknown_variables(
        known(),
        {
            "KASPARRO_COINGECKO_MAX_COIN": "the environment",
            "KASPARRO_DATABSE_URL": "./.env",
            "KASPARRO_NOTHING_LIKE_IT": "the environment",
            "KASPARRO_TEST_POSTGRES_URL": "the environment",  # the suite's own, not a setting
            "KASPARRO_BENCH_ENDPOINT": "the environment",  # a typo of a setting nonetheless
            "PATH": "the environment",
        },
    )
    assert lines == [
        "warning: KASPARRO_BENCH_ENDPOINT (in the environment) is not a setting and is "
        "ignored; did you mean KASPARRO_BENCH_ENDPOINTS?",
        "warning: KASPARRO_COINGECKO_MAX_COIN (in the environment) is not a setting and is "
        "ignored; did you mean KASPARRO_COINGECKO_MAX_COINS?",
        "warning: KASPARRO_DATABSE_URL (in ./.env) is not a setting and is ignored; did you "
        "mean KASPARRO_DATABASE_URL?",
        "warning: KASPARRO_NOTHING_LIKE_IT (in the environment) is not a setting and is "
        "ignored; `kasparro settings` lists them",
    ]


def test_a_command_warns_of_a_typo_and_still_runs(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KASPARRO_LOG_LEVL=DEBUG\n")
    proc = run_cli(["settings"], tmp_path, KASPARRO_COINGECKO_MAX_COIN="5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [
        "warning: KASPARRO_COINGECKO_MAX_COIN (in the environment) is not a setting and is "
        "ignored; did you mean KASPARRO_COINGECKO_MAX_COINS?",
        "warning: KASPARRO_LOG_LEVL (in ./.env) is not a setting and is ignored; did you mean "
        "KASPARRO_LOG_LEVEL?",
    ]
