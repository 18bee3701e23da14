"""`mailloop export feature-requests`: recurring OforA topics for R&D's tracker."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mailloop.cli.common import ConfigOption, settings_or_exit
from mailloop.cli.report import WindowSince, WindowUntil, window
from mailloop.cli.reporting import fail, reading, write
from mailloop.reports import views
from mailloop.reports.features import to_csv, to_markdown

export_app = typer.Typer(help="Exports for other tools.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


@export_app.command("feature-requests")
def feature_requests(
    since: WindowSince = None,
    until: WindowUntil = None,
    min_count: Annotated[int, typer.Option("--min-count", min=1, help="OforAs a topic needs "
                                                                      "to be exported")] = 3,
    fmt: Annotated[str, typer.Option("--format", help="csv, json or markdown")] = "csv",
    config: ConfigOption = None,
) -> None:
    """One entry per recurring topic: counts, first and last seen, trend, quotes, evidence."""
    settings = settings_or_exit(config)
    if fmt not in {"csv", "json", "markdown"}:
        raise fail(f"--format {fmt!r}: expected csv, json or markdown")
    start, end = window(settings, since, until)
    with reading(settings) as (store, track):
        requests = views.features(store, settings, start, end, track, min_count=min_count)
    if fmt == "json":
        write(json.dumps({"since": start.isoformat(), "until": end.isoformat(),
                          "min_count": min_count,
                          "feature_requests": [r.to_json() for r in requests]},
                         ensure_ascii=False, indent=2))
    elif fmt == "markdown":
        write(to_markdown(requests, since=start.isoformat(), until=end.isoformat()))
    else:
        write(to_csv(requests))
