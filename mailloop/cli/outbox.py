"""`mailloop outbox`: the reply ledger, for operators.

    mailloop outbox [--state S ...] [--format table|json]
    mailloop outbox resend ID [--force]
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mailloop.cli.common import ConfigOption, settings_or_exit, setup_logging, stderr_console
from mailloop.config import Settings
from mailloop.factory import make_delivery
from mailloop.ledger import Ledger, LedgerError, request_resend
from mailloop.model import ReplyState
from mailloop.ops.requests import running_daemon
from mailloop.store import open_store
from mailloop.store.base import Doc


def utc_now() -> datetime:
    return datetime.now(UTC)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


outbox_app = typer.Typer(help="List replies by state; resend one.", no_args_is_help=False,
                         invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")


def summary(doc: Doc) -> dict[str, Any]:
    """The JSON shape of one reply in `mailloop outbox --format json`."""
    history = doc.get("history", [])
    return {
        "id": doc["id"],
        "state": doc.get("state"),
        "kind": doc.get("kind"),
        "to": list(doc.get("to", [])),
        "subject": doc.get("subject", ""),
        "answers": doc.get("answers"),
        "conversation": doc.get("conversation"),
        "created_at": doc.get("created_at"),
        "updated_at": history[-1]["at"] if history else doc.get("created_at"),
        "attempts": int(doc.get("attempts", 0)),
        "next_try": doc.get("next_try"),
        "response": doc.get("response"),
        "error": doc.get("error"),
        "refused": doc.get("refused") or {},
        "history": history,
    }


@outbox_app.callback()
def outbox(
    ctx: typer.Context,
    config: ConfigOption = None,
    state: Annotated[list[str] | None, typer.Option(
        "--state", "-s", help="Only replies in this state (repeatable): "
        + ", ".join(s.value for s in ReplyState))] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.TABLE,
) -> None:
    """List the replies in the ledger, oldest first."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = config  # `mailloop outbox --config X resend ID`
        return
    settings = settings_or_exit(config)
    known = {s.value for s in ReplyState}
    for name in state or []:
        if name not in known:
            stderr_console().print(f"[bold red]unknown state {name!r}[/]: expected one of "
                              f"{', '.join(sorted(known))}", highlight=False)
            raise typer.Exit(2)
    store = open_store(settings)
    try:
        docs = store.replies(state or None)
    finally:
        store.close()
    docs.sort(key=lambda d: (d.get("created_at") or "", d["id"]))
    rows = [summary(d) for d in docs]
    if fmt is Format.JSON:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(show_lines=False, box=None)
    for column in ("state", "id", "to", "attempts", "updated", "last response / error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["state"], row["id"], ", ".join(row["to"]), str(row["attempts"]),
                      row["updated_at"] or "", (row["error"] or row["response"] or "")[:80])
    Console().print(table)
    if not rows:
        typer.echo("no replies" + (f" in state {', '.join(state)}" if state else ""))


@outbox_app.command("resend")
def resend(
    ctx: typer.Context,
    reply_id: Annotated[str, typer.Argument(metavar="ID", help="The reply's id (Message-ID).")],
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Resend even a reply marked sent.")]
    = False,
    wait: Annotated[float, typer.Option(help="When the daemon is running: seconds to wait for "
                                             "it to carry out the request.")] = 60.0,
) -> None:
    """Send one reply again now, as a new attempt in its history."""
    setup_logging("WARNING")
    settings = settings_or_exit(config or ctx.obj)
    reply_id = reply_id.strip().strip("<>")
    pid = running_daemon(settings)
    if pid is not None:
        _resend_through_daemon(settings, reply_id, force, pid, wait)
        return
    store = open_store(settings)
    delivery = make_delivery(settings)
    try:
        ledger = Ledger(store, delivery, settings.delivery, clock=utc_now,
                        state_path=settings.state_path)
        try:
            doc = ledger.resend(reply_id, force=force)
        except LedgerError as exc:
            stderr_console().print(f"[bold red]not resent:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
    finally:
        delivery.close()
        store.close()
    _report(doc)


def _report(doc: Doc) -> None:
    state = doc.get("state")
    detail = doc.get("error") or doc.get("response") or ""
    typer.echo(f"{doc['id']}: {state} {detail}".rstrip())
    if state != ReplyState.SENT.value:
        raise typer.Exit(1)


def _resend_through_daemon(settings: Settings, reply_id: str, force: bool, pid: int,
                           wait: float) -> None:
    store = open_store(settings)
    try:
        doc = store.reply(reply_id)
    finally:
        store.close()
    if doc is None:
        stderr_console().print(f"[bold red]not resent:[/] no reply with id {reply_id!r}",
                          highlight=False)
        raise typer.Exit(1)
    before = len(doc.get("history", []))
    path = request_resend(settings.state_path, reply_id, force=force, now=utc_now())
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGUSR1)  # wake it from its wait for mail
    typer.echo(f"the daemon (pid {pid}) is running: resend of {reply_id} requested")
    deadline = time.monotonic() + wait
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if path.exists():
        typer.echo("the daemon has not picked the request up yet; it will at its next cycle")
        return
    store = open_store(settings)
    try:
        doc = store.reply(reply_id)
    finally:
        store.close()
    if doc is None or len(doc.get("history", [])) == before:
        stderr_console().print("[bold red]not resent:[/] the daemon refused the request "
                          "(see its log)", highlight=False)
        raise typer.Exit(1)
    _report(doc)
