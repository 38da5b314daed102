"""``python -m kasparro.scheduler``: the standalone scheduler without the CLI layer."""

from __future__ import annotations

import asyncio

from kasparro.heap import settle_heap
from kasparro.logs import configure_logging
from kasparro.runtime import Runtime
from kasparro.scheduler.runner import run_scheduler


def main() -> None:
    runtime = Runtime.build()
    configure_logging(runtime.settings.log_level, runtime.settings.log_json)
    settle_heap()
    asyncio.run(run_scheduler(runtime))


if __name__ == "__main__":
    main()
