"""What every command shares: the --config option, loading settings, logging."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailloop.config import ConfigError, Settings, load_settings
from mailloop.logs import JsonFormatter, Redactor, TextFormatter, default_format

if TYPE_CHECKING:
    from rich.console import Console

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration file (TOML). Default: $MAILLOOP_CONFIG.",
                 envvar="MAILLOOP_CONFIG", show_envvar=True),
]


@functools.cache
def stderr_console() -> Console:
    """The console on stderr, made on first use: `mailloop run` has no use for rich,
    20 ms of imports at its start."""
    from rich.console import Console

    return Console(stderr=True)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        stderr_console().print(f"[bold red]configuration error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def setup_logging(level: str = "INFO", fmt: str | None = None) -> Redactor:
    """Log to stderr: text (rich on a terminal) or JSON lines (see mailloop/logs.py).
    Returns the filter that masks secrets, to be told the configured ones."""
    root = logging.getLogger("mailloop")
    for existing in root.handlers:
        for flt in existing.filters:
            if isinstance(flt, Redactor):
                return flt
    redactor = Redactor()
    handler: logging.Handler
    fmt = fmt or default_format()
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=stderr_console(), show_path=False, markup=False,
                              rich_tracebacks=False, log_time_format="%H:%M:%S")
        handler.setFormatter(TextFormatter(timestamps=False))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(TextFormatter())
    handler.addFilter(redactor)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return redactor


def duration(seconds: float | None) -> str:
    """A span for people: 45s, 12m, 3.5h, 2.0d; "-" when there is none."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
