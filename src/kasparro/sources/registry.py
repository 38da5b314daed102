"""Name -> source factory. Adding a source is one module plus one line here."""

from __future__ import annotations

from collections.abc import Callable

from kasparro.runs.backfill import BackfillSpec
from kasparro.sources.base import HistorySource, Source, SourceContext
from kasparro.sources.coingecko import (
    CoinGeckoHistorySource,
    CoinGeckoReferenceSource,
    CoinGeckoSource,
)
from kasparro.sources.coinpaprika import (
    CoinPaprikaHistorySource,
    CoinPaprikaReferenceSource,
    CoinPaprikaSource,
)
from kasparro.sources.csv_files import CsvSource

SourceFactory = Callable[[SourceContext], Source]

SOURCES: dict[str, SourceFactory] = {
    "coingecko": CoinGeckoSource,
    "coinpaprika": CoinPaprikaSource,
    "csv": CsvSource,
    # Reference data for cross-source identity (coin lists, contracts): see runs/identity.py.
    "coingecko_reference": CoinGeckoReferenceSource,
    "coinpaprika_reference": CoinPaprikaReferenceSource,
}


# History backfills (kasparro backfill, POST /api/v1/backfills): API name -> factory.
# Their runs are named ``<api>_history``.
BACKFILLS: dict[str, Callable[[SourceContext, BackfillSpec], HistorySource]] = {
    "coingecko": CoinGeckoHistorySource,
    "coinpaprika": CoinPaprikaHistorySource,
}


def source_names() -> list[str]:
    return list(SOURCES)


def backfill_names() -> list[str]:
    """The APIs a history backfill can read."""
    return list(BACKFILLS)


def history_run_name(api: str) -> str:
    return f"{api}_history"


def run_names() -> list[str]:
    """Every name a run (and its drift events and quarantined records) is recorded under."""
    return [*SOURCES, *(history_run_name(api) for api in BACKFILLS)]


def observation_sources() -> list[str]:
    """The names observations and asset mappings are recorded under: the market sources
    (a backfill's points are stored under their API's name, so no history name is here;
    reference sources write no observations)."""
    return [name for name, factory in SOURCES.items() if not getattr(factory, "reference", False)]
