"""What the report commands share: periods from options, a progress bar, output."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mailloop.cli.common import stderr_console
from mailloop.config import Settings
from mailloop.reports.periods import current_month, parse_month
from mailloop.reports.source import ReportSource, open_source
from mailloop.reports.views import Track


def fail(message: str, code: int = 2) -> typer.Exit:
    stderr_console().print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def month_option(value: str | None, settings: Settings, *, default_offset: int = 0) -> str:
    from mailloop.reports.periods import add_months

    if value is None:
        return add_months(current_month(datetime.now().astimezone(), settings.timezone),
                          default_offset)
    try:
        return parse_month(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


def date_option(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{name} {value!r}: expected a date as YYYY-MM-DD") from None


def today(settings: Settings) -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(settings.timezone)).date()


def progress_track(enabled: bool) -> tuple[Track, Progress | None]:
    """A `track` that shows a progress bar over the months read, on a terminal."""
    if not enabled:
        return (lambda months, _d: months), None
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("months"), TimeElapsedColumn(), console=stderr_console(),
                   transient=True)

    def track(months: Sequence[str], description: str) -> Iterable[str]:
        def walk() -> Iterator[str]:
            task = bar.add_task(description, total=len(months))
            for month in months:
                yield month
                bar.advance(task)
        return walk()

    return track, bar


@contextmanager
def reading(settings: Settings) -> Iterator[tuple[ReportSource, Track]]:
    """A read-only source over the store and a progress `track`."""
    store = open_source(settings)
    track, bar = progress_track(sys.stderr.isatty())
    try:
        if bar is not None:
            with bar:
                yield store, track
        else:
            yield store, track
    finally:
        store.close()


def write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
