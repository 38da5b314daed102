"""``python -m kasparro.emulator``: run the emulator without the project CLI."""

from __future__ import annotations

import argparse
import logging

from kasparro.emulator.config import EmulatorConfig
from kasparro.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kasparro.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--coins", type=int, default=None, help="assets in the universe")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--cg-rate-limit", default=None, help="CoinGecko requests/minute")
    parser.add_argument("--cp-rate-limit", default=None, help="CoinPaprika requests/minute")
    parser.add_argument("--cp-tickers-cap", default=None, help="e.g. 2000 (free plan)")
    parser.add_argument("--latency", type=float, default=None, help="seconds per response")
    parser.add_argument("--tick-every", default=None, help="advance a tick every N seconds")
    parser.add_argument(
        "--anchor",
        default="now",
        help="time of tick 0: now (default: current data following the wall clock), "
        "recording (2022-02-23T11:31:45Z, the recorded payloads verbatim) or an ISO-8601 time",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help="fault rule spec, e.g. coingecko:500:/coins/markets:page=3,first=2 (repeatable)",
    )
    parser.add_argument("--no-prewarm", action="store_true")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        config = EmulatorConfig.from_options(
            coins=args.coins,
            seed=args.seed,
            cg_rate_limit=args.cg_rate_limit,
            cp_rate_limit=args.cp_rate_limit,
            cp_tickers_cap=args.cp_tickers_cap,
            latency=args.latency,
            tick_every=args.tick_every,
            anchor=args.anchor,
            faults=args.fault,
        )
    except ValueError as exc:
        parser.error(str(exc))
    serve(args.host, args.port, config, log_level=args.log_level, prewarm=not args.no_prewarm)


if __name__ == "__main__":
    main()
