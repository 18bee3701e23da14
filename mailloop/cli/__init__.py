"""The command line: one module per command group, all registered on one app."""

from __future__ import annotations

import typer

from mailloop.cli import check, classify, run, status

app = typer.Typer(
    name="mailloop",
    help="Email-first feedback helpdesk: acknowledge every message, thank Smiles, "
         "close the loop on every Opportunity for Awesome.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (run, check, classify, status):
    module.register(app)

try:  # the evaluation command ships with the classifier's evaluation set
    from mailloop.cli import evaluate

    evaluate.register(app)
except ImportError:  # pragma: no cover - only while a checkout is incomplete
    pass

from mailloop.cli import loop  # noqa: E402  (last: it adds `report loop` to the report group)

loop.register(app)


def main() -> None:
    app()
