"""`kasparro identity` in a subprocess, as a user runs it: human decisions only on coins
Kasparro knows, user text printed as it was typed, and the review statuses as choices."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kasparro.store.engine import create_engine
from tests.fixtures.api import rec, seed_reference, seed_run
from tests.test_cli import run_cli

# A coin id rich would read as markup ("[b]") and as an emoji code (":x:").
ODD = "[b]odd:x:"


@pytest.fixture
def known(tmp_path: Path) -> Path:
    """A migrated store where coingecko:bitcoin is in CoinGecko's coin list, and
    coinpaprika:btc-bitcoin and coinpaprika:[b]odd:x: in CoinPaprika's market data."""
    assert run_cli(["migrate"], tmp_path).returncode == 0

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
        try:
            await seed_reference(engine, "coingecko", ["bitcoin"])
            markets = [rec("btc-bitcoin", source="coinpaprika"), rec(ODD, source="coinpaprika")]
            await seed_run(engine, "coinpaprika", markets)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return tmp_path


def _review_counts(tmp_path: Path) -> dict[str, int]:
    shown = run_cli(["identity", "show"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout)["review"])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["link", "nosuch:x", "coinpaprika:btc-bitcoin"],
            "error: unknown coin nosuch:x (nosuch is not one of identity's sources: "
            "coingecko, coinpaprika, csv)",
        ),
        (
            ["link", "coingecko:doesnotexist", "coinpaprika:btc-bitcoin"],
            "error: unknown coin coingecko:doesnotexist (not in coingecko's coin list or "
            "market data; run kasparro etl run first?)",
        ),
        (
            ["unlink", "coingecko:bitcoin", "coinpaprika:bitcoin"],
            "error: unknown coin coinpaprika:bitcoin (not in coinpaprika's coin list or "
            "market data; run kasparro etl run first?)",
        ),
        (  # bare ids: a CoinGecko id, then a CoinPaprika id
            ["link", "btc-bitcoin", "bitcoin"],
            "error: unknown coin coingecko:btc-bitcoin (not in coingecko's coin list or "
            "market data; run kasparro etl run first?); unknown coin coinpaprika:bitcoin "
            "(not in coinpaprika's coin list or market data; run kasparro etl run first?)",
        ),
        (  # echoed as typed: no emoji, no markup
            ["link", "coingecko:[red]a:x:", "coinpaprika:btc-bitcoin"],
            "error: unknown coin coingecko:[red]a:x: (not in coingecko's coin list or "
            "market data; run kasparro etl run first?)",
        ),
    ],
    ids=["unknown-source", "unknown-id", "unlink", "bare-ids", "markup"],
)
def test_a_decision_on_an_unknown_coin_is_a_usage_error(
    known: Path, args: list[str], error: str
) -> None:
    proc = run_cli(["identity", *args], known)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [error]
    assert proc.stdout == ""
    assert set(_review_counts(known).values()) == {0}  # nothing stored


def test_a_decision_naming_one_coin_twice_is_a_usage_error(known: Path) -> None:
    proc = run_cli(["identity", "link", "coingecko:bitcoin", "coingecko:bitcoin"], known)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        "error: a decision names two coins: coingecko:bitcoin is named twice"
    ]
    assert set(_review_counts(known).values()) == {0}


def test_decisions_on_known_coins_print_their_ids_as_typed(known: Path) -> None:
    linked = run_cli(["identity", "link", "coingecko:bitcoin", f"coinpaprika:{ODD}"], known)
    assert linked.returncode == 0, linked.stderr
    assert linked.stdout.startswith(f"coingecko:bitcoin + coinpaprika:{ODD}: accepted; relink")
    unlinked = run_cli(["identity", "unlink", "bitcoin", "btc-bitcoin", "--note", "no"], known)
    assert unlinked.returncode == 0, unlinked.stderr
    assert unlinked.stdout.startswith("coingecko:bitcoin + coinpaprika:btc-bitcoin: rejected")
    assert _review_counts(known) == {"pending": 0, "accepted": 1, "rejected": 1, "obsolete": 0}
    review = run_cli(["identity", "review", "--status", "accepted"], known)
    assert review.returncode == 0, review.stderr
    assert "identity review: accepted" in review.stdout
    assert f"coinpaprika:{ODD} ({ODD.upper()[:8]}, {ODD.title()})" in review.stdout


def test_an_unknown_review_status_is_a_usage_error_naming_the_statuses(known: Path) -> None:
    proc = run_cli(["identity", "review", "--status", "bogus"], known)
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == ""
    assert "'bogus' is not one of" in proc.stderr
    for status in ("pending", "accepted", "rejected", "obsolete"):
        assert f"'{status}'" in proc.stderr
