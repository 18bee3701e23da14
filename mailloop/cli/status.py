"""`mailloop status`: is the daemon running, connected, keeping up?"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from mailloop.cli.common import ConfigOption, settings_or_exit
from mailloop.config import Settings
from mailloop.model import ReplyState
from mailloop.process import pid_alive
from mailloop.store import open_store

HEALTHY, DEGRADED, DOWN = 0, 1, 2
STALE_AFTER = 120.0  # seconds beyond two mailbox waits without a heartbeat: stuck


def register(app: typer.Typer) -> None:
    app.command("status")(status)



def collect(settings: Settings) -> dict[str, Any]:
    path = settings.state_path / "status.json"
    daemon: dict[str, Any] = {}
    if path.exists():
        daemon = json.loads(path.read_text(encoding="utf-8"))
    running = bool(daemon.get("pid")) and pid_alive(int(daemon["pid"]))
    states: dict[str, int] = {}
    parked = 0
    store_state: dict[str, Any] = {"kind": settings.store.kind, "connected": True,
                                   "last_error": None}
    try:
        store = open_store(settings)
        try:
            for doc in store.replies():
                states[doc["state"]] = states.get(doc["state"], 0) + 1
            parked = len(store.parked())
        finally:
            store.close()
    except Exception as exc:  # an unreadable store is a finding, not a crash
        store_state.update(connected=False, last_error=f"{type(exc).__name__}: {exc}")
    heartbeat_age = None
    if daemon.get("heartbeat"):
        with contextlib.suppress(ValueError):
            heartbeat_age = (datetime.now(UTC) - datetime.fromisoformat(
                daemon["heartbeat"])).total_seconds()
    mailbox = daemon.get("mailbox", {})
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
        "backlog": mailbox.get("backlog") if isinstance(mailbox, dict) else None,
        "connections": {"mailbox": mailbox, "delivery": daemon.get("delivery", {}),
                        "store": store_state},
        "config_error": daemon.get("config_error"),
        "heartbeat_age": None if heartbeat_age is None else round(heartbeat_age),
        "stale_after": STALE_AFTER + 2 * settings.mailbox.idle_timeout,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def health(report: dict[str, Any]) -> int:
    """0 healthy; 1 degraded (parked messages, deferred or uncertain replies, a template or
    configuration error); 2 down (not running, stuck, mailbox or store unreachable)."""
    mailbox = report.get("connections", {}).get("mailbox") or {}
    store = report.get("connections", {}).get("store") or {}
    age, stale = report.get("heartbeat_age"), report.get("stale_after")
    if not report["running"] or report["last_error"] or mailbox.get("connected") is False \
            or store.get("connected") is False or (age is not None and stale and age > stale):
        return DOWN
    replies = report["replies"]
    if report.get("template_error") or report.get("config_error") or report["parked"] or \
            replies.get(
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
        delivery = report["delivery"]
        console.print(f"delivery: {delivery.get('kind', '?')} "
                      f"last_error={delivery.get('last_error')}")
        store = report["connections"]["store"]
        console.print(f"store: {store['kind']} "
                      + ("reachable" if store["connected"] else f"[red]{store['last_error']}[/]"),
                      highlight=False)
        console.print(f"parked messages: {report['parked']}")
        console.print("replies: " + (", ".join(f"{k} {v}" for k, v in
                                                sorted(report["replies"].items())) or "none"))
        if report["last_error"]:
            console.print(f"[red]last error: {report['last_error']}[/]", highlight=False)
        if report["config_error"]:
            console.print(f"[red]configuration error (the running one is kept): "
                          f"{report['config_error']}[/]", highlight=False)
        if report["template_error"]:
            console.print(f"[red]template error (the last good templates are serving): "
                          f"{report['template_error']}[/]", highlight=False)
        console.print(f"health: {report['health']}")
    raise typer.Exit(code)
