"""`mailloop credit explain MESSAGE-ID`: which reps a message credits, and why."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from mailloop.cli.common import ConfigOption, settings_or_exit
from mailloop.cli.reporting import fail, write
from mailloop.store import open_store
from mailloop.store.base import Doc

credit_app = typer.Typer(help="Smile credits: which rep a Smile counts for.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(credit_app, name="credit")


def explain_doc(doc: Doc) -> dict[str, Any]:
    return {
        "message_id": doc.get("message_id"),
        "key": doc.get("key"),
        "month": doc.get("month"),
        "received_at": doc.get("received_at"),
        "tags": doc.get("tags", []),
        "smile": "smile" in (doc.get("tags") or []),
        "credits": [{"rep": c.get("rep"), "credited": bool(c.get("credited")),
                     "reason": c.get("reason", ""), "evidence": c.get("evidence", "")}
                    for c in doc.get("credits") or []],
        "review": bool(doc.get("review")),
        "review_reasons": doc.get("review_reasons", []),
    }


@credit_app.command("explain")
def explain(
    message_id: Annotated[str, typer.Argument(help="The customer's Message-ID (with or "
                                                   "without angle brackets).")],
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    config: ConfigOption = None,
) -> None:
    """Show the reps a message names, whether each is credited, and the reason."""
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        docs = store.messages_by_message_id(message_id.strip().strip("<>"))
    finally:
        store.close()
    if not docs:
        raise fail(f"no message with Message-ID {message_id!r} in the store", 1)
    found = [explain_doc(d) for d in docs]
    if fmt == "json":
        write(json.dumps(found if len(found) > 1 else found[0], ensure_ascii=False, indent=2))
        return
    console = Console(highlight=False, markup=False)
    for item in found:
        console.print(f"{item['message_id']} ({item['month']}, tags: "
                      f"{', '.join(item['tags']) or 'none'})")
        if not item["credits"]:
            kind = "a Smile for the whole team (no rep named)" if item["smile"] else \
                "not a Smile"
            console.print(f"  credits nobody: {kind}")
        for c in item["credits"]:
            status = "credited" if c["credited"] else "named, not credited"
            console.print(f"  {c['rep']}: {status}; {c['reason']}"
                          + (f" ({c['evidence']!r})" if c["evidence"] else ""))
        if item["review"]:
            console.print(f"  for review: {'; '.join(item['review_reasons'])}")
