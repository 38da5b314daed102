"""Running the emulator: ``serve()`` for the CLI, ``EmulatorServer`` for tests and benchmarks
(a real uvicorn server on a background thread, bound before it starts so there is no port
race, with readiness and prompt shutdown)."""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from kasparro.emulator.app import CG_PREFIX, CP_PREFIX, EmulatorApp, create_app
from kasparro.emulator.config import EmulatorConfig
from kasparro.emulator.state import Emulator

log = logging.getLogger("kasparro.emulator")


class _DeliberateResetFilter(logging.Filter):
    """The ``reset`` fault ends responses early on purpose; uvicorn logs that as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def _quiet_deliberate_resets() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DeliberateResetFilter) for f in logger.filters):
        logger.addFilter(_DeliberateResetFilter())


def serve(
    host: str,
    port: int,
    config: EmulatorConfig,
    *,
    log_level: str = "info",
    prewarm: bool = True,
) -> None:
    """Serve the emulator until interrupted (the ``kasparro emulator`` command)."""
    app = create_app(config)
    if prewarm:
        started = time.perf_counter()
        app.emulator.prewarm()
        log.info("emulator prewarmed in %.1f s", time.perf_counter() - started)
        # Everything built so far lives for the whole process: keep it out of GC scans.
        gc.freeze()
    _quiet_deliberate_resets()
    universe = app.emulator.universe
    log.info(
        "emulator: %d assets (%d CoinGecko, %d CoinPaprika); CoinGecko at "
        "http://%s:%d%s, CoinPaprika at http://%s:%d%s",
        len(universe),
        len(universe.coingecko),
        len(universe.coinpaprika),
        host,
        port,
        CG_PREFIX,
        host,
        port,
        CP_PREFIX,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


class EmulatorServer:
    """The emulator over real HTTP on a loopback port, served from a background thread.

    ``with EmulatorServer(EmulatorConfig(coins=500)) as server: ...`` or ``start()``/``stop()``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or EmulatorConfig()
        self.app: EmulatorApp = create_app(self.config)
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_config=None,
                log_level=log_level,
                access_log=False,
                server_header=False,
                lifespan="on",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> Emulator:
        """The in-process control object (``tick()``, ``stats()``, ``set_faults()``...)."""
        return self.app.emulator

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def coingecko_base_url(self) -> str:
        return self.base_url + CG_PREFIX

    @property
    def coinpaprika_base_url(self) -> str:
        return self.base_url + CP_PREFIX

    @property
    def control_url(self) -> str:
        return self.base_url + "/_emulator"

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        if self._thread is not None:
            return self
        _quiet_deliberate_resets()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"kasparro-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("emulator server thread exited during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"emulator did not start within {timeout} s")
            time.sleep(0.002)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        thread = self._thread
        self.state.stopping.set()
        if thread is not None:
            self._server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():
                self._server.force_exit = True
                thread.join(timeout)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
