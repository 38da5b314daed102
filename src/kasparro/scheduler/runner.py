"""The standalone scheduler process: ``kasparro scheduler`` and ``python -m kasparro.scheduler``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog

from kasparro.runtime import Runtime
from kasparro.scheduler.core import Scheduler

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_scheduler(runtime: Runtime, *, stop_timeout: float = 30.0) -> None:
    """Run until SIGTERM/SIGINT, then stop gracefully (a second signal cancels runs at once).

    Expects a migrated database (the CLI migrates first, as ``etl run`` does).
    """
    async with runtime.etl() as etl:
        scheduler = Scheduler(
            etl.engine,
            runtime.catalog,
            http=etl.http,
            limiters=etl.limiters,
            ledger=runtime.ledger,
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
