"""``python -m kasparro.scheduler``: the standalone scheduler without the CLI layer."""

from __future__ import annotations

import asyncio

from kasparro.heap import settle_heap
from kasparro.logs import configure_logging
from kasparro.scheduler.runner import run_scheduler
from kasparro.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    settle_heap()
    asyncio.run(run_scheduler(settings))


if __name__ == "__main__":
    main()
