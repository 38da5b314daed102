"""Name -> source factory. Adding a source is one module plus one line here."""

from __future__ import annotations

from kasparro.sources.base import SourceFactory
from kasparro.sources.coingecko import CoinGeckoReferenceSource, CoinGeckoSource
from kasparro.sources.coinpaprika import CoinPaprikaReferenceSource, CoinPaprikaSource
from kasparro.sources.csv_files import CsvSource

SOURCES: dict[str, SourceFactory] = {
    "coingecko": CoinGeckoSource,
    "coinpaprika": CoinPaprikaSource,
    "csv": CsvSource,
    # Reference data for cross-source identity (coin lists, contracts): see runs/identity.py.
    "coingecko_reference": CoinGeckoReferenceSource,
    "coinpaprika_reference": CoinPaprikaReferenceSource,
}


def source_names() -> list[str]:
    return list(SOURCES)
