"""structlog configuration: JSON lines when not on a TTY, readable console output on one."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


class CurrentStderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured.

    The CLI's progress bars (a rich live display) swap ``sys.stderr`` for a proxy that prints
    each line above the bars; a logger holding the original stream would write through them
    and leave the screen a mix of half-drawn bars and log lines."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    stream: TextIO = CurrentStderr()  # type: ignore[assignment]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Keep third-party loggers (uvicorn, httpx) quiet and on stderr.
    logging.basicConfig(
        level=logging.WARNING, stream=stream, format="%(levelname)s %(name)s: %(message)s"
    )
