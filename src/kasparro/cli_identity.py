"""``kasparro identity``: cross-source identity, the review queue and human decisions."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from kasparro.cli_common import command_runtime, err, out, with_engine
from kasparro.runtime import Runtime

identity_app = typer.Typer(
    no_args_is_help=True, help="Cross-source identity: relink, the review queue, decisions."
)


def _runtime() -> Runtime:
    return command_runtime(need_schema=True)


@identity_app.command("show")
def identity_show() -> None:
    """The last relink, reference snapshots, links per method, review queue, anomalies."""
    from kasparro.query.identity import summary

    async def work(engine: Any) -> dict[str, Any]:
        async with engine.connect() as conn:
            return await summary(conn)

    data = with_engine(_runtime(), work)
    out.print_json(data=data)


@identity_app.command("relink")
def identity_relink() -> None:
    """Link coins across sources now, from the stored reference and market data."""
    from kasparro.runs.identity import relink

    result = with_engine(_runtime(), lambda e: relink(e, trigger="cli"))
    if result.status != "success":
        err.print(f"[yellow]relink {result.status}:[/yellow] {result.reason}")
        raise typer.Exit(0 if result.status == "skipped" else 1)
    out.print_json(data=result.stats)


@identity_app.command("review")
def identity_review(
    status: Annotated[
        str, typer.Option(help="pending | accepted | rejected | obsolete")
    ] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List pairings waiting for a decision (or decided ones)."""
    from kasparro.query.identity import review_queue

    async def work(engine: Any) -> Any:
        async with engine.connect() as conn:
            return await review_queue(conn, status, limit=limit, after_id=None)

    page = with_engine(_runtime(), work)
    table = Table(title=f"identity review: {status}")
    for col in ("id", "reason", "coingecko", "coinpaprika"):
        table.add_column(col)
    for item in page.items:
        table.add_row(
            str(item["id"]),
            item["reason"],
            _coin_line(item["coingecko"]),
            _coin_line(item["coinpaprika"]),
        )
    out.print(table)


def _coin_line(coin: dict[str, Any]) -> str:
    contracts = ", ".join(
        f"{c['chain'] or c['platform']}:{c['address']}" for c in coin["contracts"]
    )
    return f"{coin['id']} ({coin.get('symbol')}, {coin.get('name')}) {contracts}".strip()


def _decide(cg: str, cp: str, *, accept: bool, note: str | None) -> None:
    from kasparro.load.identity import decide
    from kasparro.runs.identity import relink
    from kasparro.runs.repository import utcnow

    async def work(engine: Any) -> Any:
        async with engine.begin() as conn:
            await decide(conn, cg, cp, accept=accept, decided_by="cli", note=note, now=utcnow())
        return await relink(engine, trigger="cli decision")

    result = with_engine(_runtime(), work)
    verdict = "accepted" if accept else "rejected"
    out.print(f"{cg} + {cp}: {verdict}; relink {result.status}")


def _review_pair(review_id: int) -> tuple[str, str]:
    from kasparro.load.identity import review_item

    async def work(engine: Any) -> Any:
        async with engine.connect() as conn:
            return await review_item(conn, review_id)

    pair = with_engine(_runtime(), work)
    if pair is None:
        err.print(f"[red]error:[/red] review item {review_id} does not exist")
        raise typer.Exit(2)
    return pair


NoteOpt = Annotated[str | None, typer.Option("--note", help="Why (kept with the decision).")]


@identity_app.command("accept")
def identity_accept(review_id: int, note: NoteOpt = None) -> None:
    """Accept a proposed pairing: one asset from now on (sticky)."""
    cg, cp = _review_pair(review_id)
    _decide(cg, cp, accept=True, note=note)


@identity_app.command("reject")
def identity_reject(review_id: int, note: NoteOpt = None) -> None:
    """Reject a proposed pairing: never one asset (sticky)."""
    cg, cp = _review_pair(review_id)
    _decide(cg, cp, accept=False, note=note)


@identity_app.command("link")
def identity_link(coingecko_id: str, coinpaprika_id: str, note: NoteOpt = None) -> None:
    """Pair a CoinGecko id with a CoinPaprika id by hand (sticky)."""
    _decide(coingecko_id, coinpaprika_id, accept=True, note=note)


@identity_app.command("unlink")
def identity_unlink(coingecko_id: str, coinpaprika_id: str, note: NoteOpt = None) -> None:
    """Keep a CoinGecko id and a CoinPaprika id apart by hand (sticky)."""
    _decide(coingecko_id, coinpaprika_id, accept=False, note=note)
