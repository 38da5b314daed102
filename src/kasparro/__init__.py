"""Kasparro: crypto market-data ETL with a canonical, idempotent, resumable store."""

__version__ = "0.1.0"
