"""The standalone scheduler process: ``kasparro scheduler`` and ``python -m kasparro.scheduler``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog

from kasparro.runs.service import make_http_client
from kasparro.scheduler.core import Scheduler
from kasparro.settings import Settings
from kasparro.sources.http import Limiters
from kasparro.store.engine import create_engine

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_scheduler(settings: Settings, *, stop_timeout: float = 30.0) -> None:
    """Run until SIGTERM/SIGINT, then stop gracefully (a second signal cancels runs at once).

    Expects a migrated database (the CLI migrates first, as ``etl run`` does).
    """
    engine = create_engine(settings.database_url)
    http = make_http_client(settings)
    try:
        scheduler = Scheduler(
            engine, settings, http=http, limiters=Limiters.from_settings(settings)
        )
        stop_requested = asyncio.Event()
        signals_seen: list[int] = []

        def on_signal(sig: int) -> None:
            signals_seen.append(sig)
            if len(signals_seen) == 1:
                log.info(
                    "shutdown_requested",
                    signal=signal.Signals(sig).name,
                    stop_timeout_s=stop_timeout,
                )
                stop_requested.set()
            else:
                log.warning("shutdown_forced", signal=signal.Signals(sig).name)
                scheduler.force_stop()

        restore = _install_signal_handlers(on_signal)
        try:
            await scheduler.start()
            await stop_requested.wait()
            await scheduler.stop(stop_timeout)
        finally:
            restore()
    finally:
        await http.aclose()
        await engine.dispose()


def _install_signal_handlers(handler: Callable[[int], None]) -> Callable[[], None]:
    """Route STOP_SIGNALS to ``handler`` on the event loop; return a function undoing it."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, handler, int(sig))
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            log.warning("signal_handler_unavailable", signal=sig.name)

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return restore
