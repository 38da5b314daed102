"""One Kasparro ETL run in its own process, configured by ``KASPARRO_*`` environment variables.

``python -m bench.etl_child --source coingecko --source coinpaprika [--profile OUT]``

The same code path as ``kasparro etl run --no-migrate`` (``Runtime.build``, ``Runtime.etl``,
``settle_heap``, ``run_sources``) minus the rich
summary table, so the timing excludes interpreter start-up and imports. Prints one JSON line on
stdout: wall time of the run, per-source results and this process's peak RSS (``VmHWM``, see
``peak_rss_bytes``), which is the figure benchmark 1 reports: the emulator and the benchmark
driver are other processes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import resource
import sys
import time
from typing import Any

import orjson


async def _run(names: list[str]) -> tuple[float, list[Any]]:
    from kasparro.heap import settle_heap
    from kasparro.runs.service import run_sources
    from kasparro.runtime import Runtime

    runtime = Runtime.build()
    async with runtime.etl() as etl:
        settle_heap()  # as `kasparro etl run` does
        started = time.perf_counter()
        results = await run_sources(
            etl.engine,
            runtime.catalog,
            names,
            http=etl.http,
            limiters=etl.limiters,
            ledger=runtime.ledger,
            trigger="cli",
        )
        elapsed = time.perf_counter() - started
    return elapsed, results


def peak_rss_bytes() -> int:
    """This process's peak RSS: ``VmHWM`` of its own address space.

    Not ``ru_maxrss``: Linux keeps that across ``execve``, so a child forked by a driver
    holding 300 MB reported at least 300 MB whatever it used itself (measured: 291 MiB for
    an ETL whose own peak was under 210 MiB, when the driver held the captured universe)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.etl_child")
    parser.add_argument("--source", action="append", required=True)
    parser.add_argument("--profile", help="write a pyinstrument text profile to this path")
    parser.add_argument("--profile-interval", type=float, default=0.001)
    parser.add_argument(
        "--profile-async",
        default="disabled",
        choices=("disabled", "enabled", "strict"),
        help="pyinstrument async_mode (disabled: plain wall-clock stacks of the main thread, "
        "waits show up as the event loop's select)",
    )
    args = parser.parse_args(argv)

    # Import everything the run needs before a profiler starts (imports are not the ETL).
    import kasparro.runs.service
    import kasparro.sources.http
    import kasparro.store.engine  # noqa: F401
    from kasparro.logs import configure_logging
    from kasparro.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, True)

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=args.profile_interval, async_mode=args.profile_async)
        profiler.start()
    elapsed, results = asyncio.run(_run(args.source))
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w", encoding="utf-8") as fh:
            fh.write(profiler.output_text(unicode=False, color=False, show_all=False))
        with open(args.profile + ".json", "w", encoding="utf-8") as fh:
            from pyinstrument.renderers import JSONRenderer

            fh.write(profiler.output(JSONRenderer()))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "elapsed_s": elapsed,
        "max_rss_bytes": peak_rss_bytes(),
        "ru_maxrss_bytes": usage.ru_maxrss * 1024,  # Linux reports KiB
        "cpu_user_s": usage.ru_utime,
        "cpu_sys_s": usage.ru_stime,
        "results": [dataclasses.asdict(r) for r in results],
    }
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    ok = all(r.status in ("success", "partial") for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
