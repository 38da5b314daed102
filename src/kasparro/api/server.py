"""Serve the API with uvicorn: one process, uvloop + httptools, graceful SIGTERM."""

from __future__ import annotations

import socket

import uvicorn

from kasparro.api.app import create_app
from kasparro.heap import settle_heap
from kasparro.preflight import bind_port, listen
from kasparro.runtime import Runtime

# In-flight requests get this long after SIGTERM/SIGINT before connections are closed;
# the lifespan shutdown (scheduler stop, run cancellation) follows with its own bound.
GRACEFUL_SHUTDOWN_SECONDS = 15


class Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # the lifespan (engines, reader, cache) ran
        settle_heap()


def uvicorn_config(runtime: Runtime, *, with_scheduler: bool) -> uvicorn.Config:
    settings = runtime.settings
    return uvicorn.Config(
        create_app(runtime, with_scheduler=with_scheduler),
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        workers=1,  # the scheduler and in-process run tasks must exist exactly once
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        log_config=None,  # keep the structlog/logging setup of the entry point
        access_log=False,  # request metrics live in /metrics; per-request logs cost throughput
        server_header=False,
        proxy_headers=False,  # trust X-Forwarded-For only when an operator opts in
    )


def serve(runtime: Runtime, *, with_scheduler: bool, sock: socket.socket | None = None) -> None:
    """Run until SIGTERM/SIGINT, then drain and shut down gracefully.

    Listens on ``sock`` when given (bound by the caller, who checked the port before its
    other work), else binds ``api_host:api_port`` here. Either way the socket listens
    before the app starts, so a busy port is a one-line ``UserError``, not uvicorn's error
    after the lifespan (engines, scheduler) already started."""
    host, port = runtime.settings.api_host, runtime.settings.api_port
    if sock is None:
        sock = bind_port(host, port)
    listen(sock, host, port)
    Server(uvicorn_config(runtime, with_scheduler=with_scheduler)).run(sockets=[sock])
