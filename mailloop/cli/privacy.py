"""`mailloop forget ADDRESS` and `mailloop export ADDRESS`: a customer's data.

`export` is a command group shared with other exports (`mailloop export
feature-requests`): a first argument that names no sub-command is the ADDRESS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mailloop.cli.common import ConfigOption, settings_or_exit, setup_logging
from mailloop.cli.parked import carry_out, fail
from mailloop.ops.privacy import export
from mailloop.store import open_store

CUSTOMER = "customer"


class ExportGroup(TyperGroup):
    """`export ADDRESS` is `export customer ADDRESS`; named sub-commands work as usual."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        if first is not None and first not in self.commands and "@" in first:
            args = [CUSTOMER, *args]
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)
    group = next((g for g in app.registered_groups if g.name == "export"), None)
    if group is None or group.typer_instance is None:
        export_app = typer.Typer(help="Exports for people and other tools: "
                                      "`mailloop export ADDRESS` prints a customer's data.",
                                 no_args_is_help=True, cls=ExportGroup)
        app.add_typer(export_app, name="export", cls=ExportGroup)
    else:  # another module made the group: add to it
        export_app = group.typer_instance
        group.cls = ExportGroup
        export_app.info.cls = ExportGroup
    export_app.command(CUSTOMER, hidden=True)(export_customer)


def forget(
    address: Annotated[str, typer.Argument(metavar="ADDRESS")],
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Erase a customer's messages and personal data; anonymous counts stay.

    Prints what was removed. See docs/operations.md for exactly what is kept.
    """
    setup_logging("WARNING")
    if "@" not in address:
        raise fail(f"{address!r} is not an email address", 2)
    settings = settings_or_exit(config)
    done: dict[str, Any] = carry_out(settings, "forget", {"address": address})
    if fmt == "json":
        typer.echo(json.dumps(done, indent=2))
        return
    typer.echo(f"forgot {address}:")
    for key, value in done.items():
        if key != "address":
            typer.echo(f"  {key.replace('_', ' ')}: {value}")
    typer.echo("Not touched: the mailbox itself (IMAP or the Maildir inbox) and sent mail; "
               "erase the customer's mail there too.")


def export_customer(
    address: Annotated[str, typer.Argument(metavar="ADDRESS")],
    config: ConfigOption = None,
) -> None:
    """Print everything held about a customer, as JSON."""
    if "@" not in address:
        raise fail(f"{address!r} is not an email address", 2)
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        data = export(store, address, settings.state_path, datetime.now(UTC))
    finally:
        store.close()
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
