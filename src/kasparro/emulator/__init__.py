"""Project-owned emulator of the CoinGecko v3 and CoinPaprika v1 market-data APIs.

Faithful to the recorded upstream payloads (shapes, number spellings, errors, headers),
deterministic per seed, with ticks, rate limits and fault injection for tests, the offline
demo and benchmarks. Entry points: ``create_app`` (ASGI), ``serve`` (uvicorn, for the CLI),
``EmulatorServer`` (background-thread server for tests).
"""

from kasparro.emulator.app import EmulatorApp, create_app
from kasparro.emulator.config import EmulatorConfig
from kasparro.emulator.faults import FaultKind, FaultRule
from kasparro.emulator.server import EmulatorServer, serve
from kasparro.emulator.state import Emulator
from kasparro.emulator.universe import NAME_OVERRIDES, SHOWCASE, Universe, build_universe

__all__ = [
    "NAME_OVERRIDES",
    "SHOWCASE",
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorServer",
    "FaultKind",
    "FaultRule",
    "Universe",
    "build_universe",
    "create_app",
    "serve",
]
