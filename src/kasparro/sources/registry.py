"""Name -> source factory. Adding a source is one module plus one line here."""

from __future__ import annotations

from kasparro.sources.base import SourceFactory
from kasparro.sources.coingecko import CoinGeckoSource
from kasparro.sources.coinpaprika import CoinPaprikaSource
from kasparro.sources.csv_files import CsvSource

SOURCES: dict[str, SourceFactory] = {
    "coingecko": CoinGeckoSource,
    "coinpaprika": CoinPaprikaSource,
    "csv": CsvSource,
}


def source_names() -> list[str]:
    return list(SOURCES)
