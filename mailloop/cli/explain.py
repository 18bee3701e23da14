"""`mailloop explain FILE... | --stored ID`: what mailloop makes of a message, and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from mailloop.cli.common import ConfigOption, settings_or_exit, stderr_console
from mailloop.ops.explain import EmptyStore, explain_bytes, explain_file, from_record, make_tools
from mailloop.ops.parked import find, raw_path
from mailloop.store import open_store
from mailloop.store.base import Repository


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)


def explain(
    files: Annotated[list[Path] | None, typer.Argument(
        metavar="FILE...", help="Messages to explain (.eml, raw RFC 5322).")] = None,
    stored: Annotated[str | None, typer.Option(
        "--stored", metavar="ID", help="A message in the store, by key or Message-ID.")] = None,
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json (one object per line, "
                                                      "one per file)")] = "text",
) -> None:
    """Show each step's verdict on a message, without sending or recording anything."""
    if bool(files) == bool(stored):
        stderr_console().print("[bold red]error:[/] give FILE... or --stored ID", highlight=False)
        raise typer.Exit(2)
    if fmt not in ("text", "json"):
        stderr_console().print(f"[bold red]error:[/] --format {escape(fmt)}: expected text or json",
                          highlight=False)
        raise typer.Exit(2)
    settings = settings_or_exit(config)
    tools, problems = make_tools(settings)
    store: Repository | None = None
    if settings.store.kind != "tinydb" or settings.store_path.exists():
        store = open_store(settings)
    try:
        view = store if store is not None else EmptyStore()
        results: list[dict[str, Any]] = []
        if stored:
            doc = find(store, stored) if store is not None else None
            if doc is None:
                stderr_console().print(f"[bold red]error:[/] no stored message {escape(stored)!r}",
                                  highlight=False)
                raise typer.Exit(1)
            path = raw_path(settings.state_path, doc["key"])
            if path.exists():
                from datetime import datetime
                results.append(explain_bytes(
                    path.read_bytes(), file=str(path), tools=tools, store=view,
                    key=f"explain:{doc['key']}",
                    received_at=datetime.fromisoformat(doc["received_at"])))
            else:
                results.append(from_record(doc))
        else:
            for file in files or []:
                results.append(explain_file(file, tools=tools, store=view))
    finally:
        if store is not None:
            store.close()
    for result in results:
        result["problems"] = [*result.get("problems", []), *problems]
        if fmt == "json":
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            show(Console(), result)


def show(console: Console, r: dict[str, Any]) -> None:
    def line(label: str, value: Any) -> None:
        console.print(f"[bold]{label:<10}[/] {escape(str(value))}", highlight=False)

    console.rule(escape(str(r.get("file") or r.get("stored"))))
    line("message", f"{r.get('message_id')} from {r.get('from')}: {r.get('subject')!r}")
    for problem in r.get("problems", []):
        line("problem", problem)
    text = (r.get("visible_text") or "").strip()
    line("visible", (text[:600] + (" …" if len(text) > 600 else "")) or "(nothing)")
    screen = r["screen"]
    line("screen", f"{screen['verdict']} by rule {screen['rule']}: {screen['reason']}")
    if r.get("bounce"):
        b = r["bounce"]
        line("bounce", f"{b['original_message_id']} to {b['recipient']}: status {b['status']}")
    if r.get("thread"):
        t = r["thread"]
        line("thread", f"{t['conversation']} ({'new' if t['new'] else 'joined'} by {t['by']})")
    if r.get("tags"):
        t = r["tags"]
        line("tags", f"{'+'.join(t['labels']) or 'neither'} confidence {t['confidence']}"
             + (" for review: " + "; ".join(t["review_reasons"]) if t.get("review") else ""))
        for cue in t.get("evidence", [])[:8]:
            line("  because", cue)
    for c in r.get("reps", []):
        line("rep", f"{c['rep']} {'credited' if c['credited'] else 'named'} ({c['reason']}: "
                    f"{c.get('evidence', '')!r})")
    if r.get("topics"):
        line("topics", ", ".join(r["topics"]))
    for a in r.get("actions", []):
        to = ", ".join(a.get("to") or [])
        line("action", f"{a.get('action')} {a.get('template') or ''} {to} ({a.get('reason')})")
    for rep in r.get("replies", []):
        if isinstance(rep, dict):
            line("reply", f"{rep['template']}.{rep['locale']} to {', '.join(rep['to'])}: "
                          f"{rep['subject']!r}")
    if r.get("parked"):
        line("parked", f"at {r['parked']['step']}: {r['parked']['error']}")
