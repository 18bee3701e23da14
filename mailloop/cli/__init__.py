"""The command line: one module per command group, all registered on one app."""

from __future__ import annotations

import typer

from mailloop.cli import (
    check,
    classify,
    credit,
    evaluate,
    explain,
    export,
    newsletter,
    outbox,
    parked,
    privacy,
    report,
    run,
    status,
    store,
    templates,
)

app = typer.Typer(
    name="mailloop",
    help="Email-first feedback helpdesk: acknowledge every message, thank Smiles, "
         "close the loop on every Opportunity for Awesome.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (run, check, classify, status, templates, outbox, store, evaluate, report,
               newsletter, export, credit):
    module.register(app)
# operations (docs/operations.md); privacy last: it joins an `export` group made before it
for module in (explain, parked, privacy):
    module.register(app)

from mailloop.cli import loop  # noqa: E402  (last: it adds `report loop` to the report group)

loop.register(app)


def main() -> None:
    app()
