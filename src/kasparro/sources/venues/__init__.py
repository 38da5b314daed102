"""Exchange venues as declared sources, read through ccxt (see ``declare.py``)."""

from kasparro.sources.venues.declare import BINANCE, COINBASE, KRAKEN, OKX, VENUES, venue_provider

__all__ = ["BINANCE", "COINBASE", "KRAKEN", "OKX", "VENUES", "venue_provider"]
