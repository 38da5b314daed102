"""Emulated spot exchanges (Binance, Coinbase, Kraken, OKX) quoting the emulator's one market.

``model.py`` prices every venue market from the same true paths as the aggregators, with
dispersion, quote currencies and bad days (``baddays.py``); ``shapes.py`` renders each
venue's public routes in its own response shapes; ``routes.py`` adds request weights, rate
limits with each venue's own signals, and statistics. Served under ``/<venue>`` by the
emulator's app (see the emulator README, "Venues").
"""

from kasparro.emulator.venues.baddays import BadDay, BadDays
from kasparro.emulator.venues.model import SPECS, VENUES, Listing, VenueModel
from kasparro.emulator.venues.routes import VenueState

__all__ = ["SPECS", "VENUES", "BadDay", "BadDays", "Listing", "VenueModel", "VenueState"]
