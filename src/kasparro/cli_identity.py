"""``kasparro identity``: cross-source identity, the review queue and human decisions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from kasparro.cli_common import command_runtime, err, out, with_engine
from kasparro.identity.queries import ReviewStatus
from kasparro.identity.service import IdentityService, SameCoin, UnknownCoins
from kasparro.preflight import UserError

T = TypeVar("T")

identity_app = typer.Typer(
    no_args_is_help=True, help="Cross-source identity: relink, the review queue, decisions."
)


def _with_identity(work: Callable[[IdentityService, Any], Awaitable[T]]) -> T:
    """Run ``work(service, engine)`` with the identity service of this installation."""
    runtime = command_runtime(need_schema=True)

    async def run(engine: Any) -> T:
        return await work(IdentityService.for_registry(engine, runtime.registry), engine)

    return with_engine(runtime, run)


@identity_app.command("show")
def identity_show() -> None:
    """The last relink, reference snapshots, links per method, review queue, anomalies."""
    from kasparro.identity.queries import summary

    async def work(service: IdentityService, engine: Any) -> dict[str, Any]:
        async with engine.connect() as conn:
            return await summary(conn, service.scope.reference_sources)

    out.print_json(data=_with_identity(work))


@identity_app.command("relink")
def identity_relink() -> None:
    """Link coins across sources now, from the stored reference and market data."""

    async def work(service: IdentityService, engine: Any) -> Any:
        return await service.relink(trigger="cli")

    result = _with_identity(work)
    if result.status != "success":
        err.print(f"[yellow]relink {result.status}:[/yellow] {result.reason}")
        raise typer.Exit(0 if result.status == "skipped" else 1)
    out.print_json(data=result.stats)


@identity_app.command("review")
def identity_review(
    status: Annotated[ReviewStatus, typer.Option(help="Which items.")] = ReviewStatus.PENDING,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List pairings waiting for a decision (or decided ones)."""
    from kasparro.identity.queries import review_queue

    async def work(service: IdentityService, engine: Any) -> Any:
        async with engine.connect() as conn:
            return await review_queue(conn, status.value, limit=limit, after_id=None)

    page = _with_identity(work)
    table = Table(title=f"identity review: {status.value}")
    for col in ("id", "reason", "score", "coin", "coin"):
        table.add_column(col)
    for item in page.items:
        first, second = item["coins"]
        score = item["score"]
        # Text cells: ids and names are the sources' (or a user's) text, never rich markup.
        table.add_row(
            str(item["id"]),
            Text(item["reason"]),
            "-" if score is None else f"{score:g}",
            Text(_coin_line(first)),
            Text(_coin_line(second)),
        )
    out.print(table)


def _coin_line(coin: dict[str, Any]) -> str:
    contracts = ", ".join(
        f"{c['chain'] or c['platform']}:{c['address']}" for c in coin.get("contracts", ())
    )
    head = f"{coin['source']}:{coin['id']} ({coin.get('symbol')}, {coin.get('name')})"
    return f"{head} {contracts}".strip()


def _coin(text: str, default_source: str) -> tuple[str, str]:
    """``source:id``; a bare id is ``default_source``'s (the older CoinGecko/CoinPaprika
    form of ``link`` and ``unlink``)."""
    source, sep, sid = text.partition(":")
    if not sep:
        return (default_source, text)
    if not source or not sid:
        raise UserError(f"error: {text!r}: write a coin as SOURCE:ID (coingecko:bitcoin)")
    return (source, sid)


def _say(line: str) -> None:
    """Print ``line`` as it is: coin ids are a user's text (``:x:`` is no emoji, ``[b]`` no
    markup)."""
    out.print(line, markup=False, emoji=False, highlight=False)


def _decide(a: tuple[str, str], b: tuple[str, str], *, accept: bool, note: str | None) -> None:
    async def work(service: IdentityService, engine: Any) -> Any:
        return await service.decide(a, b, accept=accept, decided_by="cli", note=note)

    try:
        result = _with_identity(work)
    except UnknownCoins as exc:
        raise UserError(f"error: {exc.describe(hint='; run kasparro etl run first?')}") from None
    except SameCoin as exc:
        raise UserError(f"error: {exc}") from None
    verdict = "accepted" if accept else "rejected"
    _say(
        f"{result.a[0]}:{result.a[1]} + {result.b[0]}:{result.b[1]}: {verdict}; "
        f"relink {result.relink.status}"
    )


def _review(review_id: int, *, accept: bool, note: str | None) -> None:
    async def work(service: IdentityService, engine: Any) -> Any:
        return await service.decide_review(review_id, accept=accept, decided_by="cli", note=note)

    result = _with_identity(work)
    if result is None:
        raise UserError(f"error: review item {review_id} does not exist")
    verdict = "accepted" if accept else "rejected"
    _say(f"review {review_id}: {verdict}; relink {result.relink.status}")


NoteOpt = Annotated[str | None, typer.Option("--note", help="Why (kept with the decision).")]
CoinArg = Annotated[str, typer.Argument(help="SOURCE:ID (a bare id: see the command's help)")]


@identity_app.command("accept")
def identity_accept(review_id: int, note: NoteOpt = None) -> None:
    """Accept a proposed pairing: one asset from now on (sticky)."""
    _review(review_id, accept=True, note=note)


@identity_app.command("reject")
def identity_reject(review_id: int, note: NoteOpt = None) -> None:
    """Reject a proposed pairing: never one asset (sticky)."""
    _review(review_id, accept=False, note=note)


@identity_app.command("link")
def identity_link(first: CoinArg, second: CoinArg, note: NoteOpt = None) -> None:
    """Pair two coins of any two sources by hand (sticky): `link coingecko:x coinpaprika:y`
    (bare ids: a CoinGecko id, then a CoinPaprika id). Both coins must be in their source's
    coin list or market data."""
    _decide(_coin(first, "coingecko"), _coin(second, "coinpaprika"), accept=True, note=note)


@identity_app.command("unlink")
def identity_unlink(first: CoinArg, second: CoinArg, note: NoteOpt = None) -> None:
    """Keep two coins apart by hand (sticky), written as for `link`."""
    _decide(_coin(first, "coingecko"), _coin(second, "coinpaprika"), accept=False, note=note)
