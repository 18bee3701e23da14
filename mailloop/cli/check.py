"""`mailloop check`: is the configuration usable?"""

from __future__ import annotations

import typer
from rich.console import Console

from mailloop.cli.common import ConfigOption, settings_or_exit
from mailloop.render import TemplateError, TemplateSet


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(config: ConfigOption = None) -> None:
    """Validate the configuration and the templates; connect to configured servers."""
    console = Console()
    settings = settings_or_exit(config)
    console.print(f"configuration: ok ({len(settings.reps)} reps, {len(settings.managers)} "
                  f"managers, {len(settings.topics)} topics)")
    problems = 0
    try:
        templates = TemplateSet(settings.templates_path, settings.templates.default_locale)
    except TemplateError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    needed = {r.acknowledge for r in settings.rules if r.acknowledge}
    missing = sorted(needed - templates.names())
    for name in missing:
        console.print(f"[red]{settings.templates_path}/{name}.md: missing (used by a rule)[/]")
        problems += 1
    console.print(f"templates: {len(templates.templates)} in {settings.templates_path}"
                  f" (set {templates.hash})")
    if problems:
        raise typer.Exit(1)
