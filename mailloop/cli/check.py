"""`mailloop check`: is the configuration usable?"""

from __future__ import annotations

import typer
from rich.console import Console

from mailloop.cli.common import ConfigOption, settings_or_exit


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(config: ConfigOption = None) -> None:
    """Validate the configuration and the templates; connect to configured servers."""
    console = Console()
    settings = settings_or_exit(config)
    console.print(f"configuration: ok ({len(settings.reps)} reps, {len(settings.managers)} "
                  f"managers, {len(settings.topics)} topics)")
    from mailloop.cli.templates import run_check

    if run_check(settings, console):
        raise typer.Exit(1)
