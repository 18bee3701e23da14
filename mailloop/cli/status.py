"""`mailloop status`: is the daemon running, connected, keeping up?"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from mailloop.cli.common import ConfigOption, settings_or_exit
from mailloop.config import Settings
from mailloop.model import ReplyState
from mailloop.store import open_store

HEALTHY, DEGRADED, DOWN = 0, 1, 2


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect(settings: Settings) -> dict[str, Any]:
    path = settings.state_path / "status.json"
    daemon: dict[str, Any] = {}
    if path.exists():
        daemon = json.loads(path.read_text(encoding="utf-8"))
    running = bool(daemon.get("pid")) and _alive(int(daemon["pid"]))
    store = open_store(settings)
    try:
        states: dict[str, int] = {}
        for doc in store.replies():
            states[doc["state"]] = states.get(doc["state"], 0) + 1
        parked = len(store.parked())
    finally:
        store.close()
    return {
        "running": running,
        "pid": daemon.get("pid"),
        "since": daemon.get("started_at"),
        "heartbeat": daemon.get("heartbeat"),
        "mailbox": daemon.get("mailbox", {}),
        "delivery": daemon.get("delivery", {}),
        "last_error": daemon.get("last_error"),
        "template_error": daemon.get("template_error"),
        "parked": parked,
        "replies": states,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def health(report: dict[str, Any]) -> int:
    if not report["running"] or report["last_error"]:
        return DOWN
    replies = report["replies"]
    if report.get("template_error") or report["parked"] or replies.get(
            ReplyState.DEFERRED.value) or replies.get(ReplyState.UNCERTAIN.value):
        return DEGRADED
    return HEALTHY


def status(
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Show the daemon's state; exit 0 healthy, 1 degraded, 2 down."""
    settings = settings_or_exit(config)
    report = collect(settings)
    code = health(report)
    report["health"] = ["healthy", "degraded", "down"][code]
    if fmt == "json":
        print(json.dumps(report, indent=2))
    else:
        console = Console()
        state = "running" if report["running"] else "not running"
        console.print(f"daemon: {state} (pid {report['pid']}, since {report['since']}, "
                      f"heartbeat {report['heartbeat']})")
        mailbox = report["mailbox"]
        sync = f" last_sync={mailbox['last_sync']}" if "last_sync" in mailbox else ""
        console.print(f"mailbox: {mailbox.get('kind', '?')} connected={mailbox.get('connected')}"
                      f"{sync} backlog={mailbox.get('backlog')} "
                      f"last_error={mailbox.get('last_error')}")
        console.print(f"parked messages: {report['parked']}")
        console.print("replies: " + (", ".join(f"{k} {v}" for k, v in
                                                sorted(report["replies"].items())) or "none"))
        if report["last_error"]:
            console.print(f"[red]last error: {report['last_error']}[/]", highlight=False)
        if report["template_error"]:
            console.print(f"[red]template error (the last good templates are serving): "
                          f"{report['template_error']}[/]", highlight=False)
        console.print(f"health: {report['health']}")
    raise typer.Exit(code)
