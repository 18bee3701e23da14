"""`mailloop parked ...`: messages a step failed on, kept for an operator.

    mailloop parked list [--format table|json]
    mailloop parked show ID
    mailloop parked retry ID... | --all
    mailloop parked discard ID --reason TEXT

While the daemon runs, retry and discard are carried out by it (it is the only writer
of its store); otherwise by the command itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailloop.cli.common import ConfigOption, settings_or_exit, setup_logging, stderr_console
from mailloop.config import Settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.ops.parked import find, raw_path, summary
from mailloop.ops.requests import RequestError, perform, running_daemon, submit
from mailloop.store import open_store

parked_app = typer.Typer(help="Messages parked for an operator: list, show, retry, discard.",
                         no_args_is_help=False, invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.add_typer(parked_app, name="parked")


def fail(message: str, code: int = 1) -> typer.Exit:
    stderr_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@parked_app.callback()
def parked(ctx: typer.Context, config: ConfigOption = None) -> None:
    """List the parked messages (the same as `parked list`)."""
    ctx.obj = config
    if ctx.invoked_subcommand is None:
        list_parked(ctx)


@parked_app.command("list")
def list_parked(
    ctx: typer.Context,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """The parked messages, oldest first, with the step that failed and why."""
    settings = settings_or_exit(config or ctx.obj)
    store = open_store(settings)
    try:
        rows = [summary(d, settings.state_path) for d in store.parked()]
    finally:
        store.close()
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no parked messages")
        return
    table = Table(box=None)
    for column in ("id", "received", "from", "step", "error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["id"], row["received_at"] or "", row["sender"] or "",
                      row["step"] or "", (row["error"] or "")[:100])
    Console().print(table)


@parked_app.command("show")
def show(
    ctx: typer.Context,
    ident: Annotated[str, typer.Argument(metavar="ID", help="Its key or Message-ID.")],
    config: ConfigOption = None,
) -> None:
    """Everything recorded about one parked message, and its raw headers."""
    settings = settings_or_exit(config or ctx.obj)
    store = open_store(settings)
    try:
        doc = find(store, ident)
    finally:
        store.close()
    if doc is None:
        raise fail(f"no message {ident!r} (see `mailloop parked list`)")
    out: dict[str, Any] = {**summary(doc, settings.state_path), "record": doc}
    path = raw_path(settings.state_path, doc["key"])
    if path.exists():
        head = path.read_bytes().split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
        out["raw_file"] = str(path)
        out["raw_headers"] = head.decode("utf-8", errors="replace")
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


@contextmanager
def _daemon(settings: Settings) -> Iterator[Daemon]:
    """A daemon object on the store, for a command run while no daemon is running."""
    store = open_store(settings)
    delivery = make_delivery(settings)
    try:
        yield Daemon(settings, mailbox=make_mailbox(settings), delivery=delivery, store=store)
    finally:
        delivery.close()
        store.close()


def carry_out(settings: Settings, action: str, params: dict[str, Any], *,
              send: bool = False) -> dict[str, Any]:
    """Through the running daemon, or here when none runs."""
    pid = running_daemon(settings)
    try:
        if pid is not None:
            typer.echo(f"the daemon (pid {pid}) is running: it carries the request out",
                       err=True)
            return submit(settings, pid, action, params)
        with _daemon(settings) as daemon:
            answer = perform(daemon, action, params)
            if send:
                daemon.recover()
                daemon.send_due()
            return answer
    except (RequestError, ValueError) as exc:
        raise fail(str(exc)) from None


@parked_app.command("retry")
def retry(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(metavar="ID...")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every parked message.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run parked messages through the pipeline again (after a fix), in arrival order."""
    setup_logging("WARNING")
    if bool(ids) == all_:
        raise fail("give ID... or --all", 2)
    settings = settings_or_exit(config or ctx.obj)
    answer = carry_out(settings, "parked-retry", {"ids": ids or [], "all": all_}, send=True)
    still = 0
    for row in answer["results"]:
        detail = row.get("error") or ", ".join(row.get("replies") or []) or row.get("verdict")
        typer.echo(f"{row['id']}: {row['status']} {detail or ''}".rstrip())
        still += row["status"] == "parked"
    if not answer["results"]:
        typer.echo("no parked messages")
    if still:
        raise typer.Exit(1)


@parked_app.command("discard")
def discard(
    ctx: typer.Context,
    ident: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why: kept on record.")],
    config: ConfigOption = None,
) -> None:
    """Give up on a parked message; its record stays, with the reason."""
    setup_logging("WARNING")
    settings = settings_or_exit(config or ctx.obj)
    answer = carry_out(settings, "parked-discard", {"id": ident, "reason": reason})
    typer.echo(f"{answer['id']}: discarded ({answer['reason']})")
