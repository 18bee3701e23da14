"""`mailloop store ...`: commands that work on the store as a whole.

Each command is a function registered on `store_app`; add a command by adding one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mailloop.cli.common import ConfigOption, settings_or_exit, stderr_console
from mailloop.store.base import StoreError
from mailloop.store.migrate import COLLECTIONS, Verification, copy_store, verify

store_app = typer.Typer(help="Work on the store as a whole: move it to PostgreSQL, back it "
                             "up, check it.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")


def fail(message: str, code: int = 1) -> typer.Exit:
    stderr_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@store_app.command("migrate")
def migrate(
    to: Annotated[str, typer.Option(
        "--to", metavar="DSN",
        help="The PostgreSQL store to copy into: postgresql://user@host/db (leave the password "
             "out and set PGPASSWORD or ~/.pgpass to keep it out of the process list).")],
    config: ConfigOption = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Documents per commit.")] = 500,
) -> None:
    r"""Copy the configured TinyDB store into PostgreSQL, then verify the copy.

    Stop the daemon first. Every document is copied as it is, then compared.

    The check: counts per collection and per month, and a content hash per document.

    Exits non-zero when the copy differs. Safe to run again (documents replace by id).

    Afterwards set \[store] kind = "postgres" and dsn in the configuration.
    """
    settings = settings_or_exit(config)
    if settings.store.kind != "tinydb":
        raise fail(f"the configured store is {settings.store.kind!r}: migrate copies a "
                   "TinyDB store ([store] kind = \"tinydb\")", 2)
    if not settings.store_path.exists():
        raise fail(f"no TinyDB store at {settings.store_path}", 2)

    from mailloop.store.postgres import PostgresStore
    from mailloop.store.tinydb import TinyStore

    console = Console()
    try:
        source = TinyStore(settings.store_path, segment_size=settings.store.segment_size)
        target = PostgresStore(to)
    except StoreError as exc:
        raise fail(str(exc), 2) from None
    try:
        totals = source.counts()
        console.print(f"copying {settings.store_path} into {target.name}")
        with Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            tasks = {c: bar.add_task(c, total=totals[c]) for c in COLLECTIONS}
            copy_store(source, target, batch_size=batch_size,
                       progress=lambda c, n: bar.advance(tasks[c], n))
        console.print("verifying the copy ...")
        result = verify(source, target)
        target_totals = target.counts()
    except StoreError as exc:
        raise fail(str(exc)) from None
    finally:
        source.close()
        target.close()
    show(console, result, target_totals)
    if not result.ok:
        raise fail("the copy differs from the source (see above); the TinyDB store is "
                   "unchanged, fix the cause and run migrate again")
    console.print("[bold green]verified:[/] every document copied and identical. Now set "
                  "\\[store] kind = \"postgres\" and dsn, and start the daemon.", highlight=False)


def show(console: Console, result: Verification, target_totals: dict[str, int]) -> None:
    table = Table(title="documents")
    for name in ("collection", "TinyDB", "copied", "in PostgreSQL", "missing", "different"):
        table.add_column(name, justify="left" if name == "collection" else "right")
    for collection, (source, copied) in result.counts.items():
        table.add_row(collection, str(source), str(copied), str(target_totals.get(collection, 0)),
                      str(len(result.missing[collection])),
                      str(len(result.different[collection])))
    console.print(table)
    months = Table(title="per month (TinyDB / PostgreSQL)")
    months.add_column("month")
    names = list(result.months)
    for name in names:
        months.add_column(name, justify="right")
    all_months = sorted({m for per in result.months.values() for m in per})
    for month in all_months:
        cells = []
        for name in names:
            s, t = result.months[name].get(month, (0, 0))
            cells.append(f"{s} / {t}" if s == t else f"[red]{s} / {t}[/]")
        months.add_row(month or "(none)", *cells)
    console.print(months)
    for label, found in (("missing", result.missing), ("different", result.different)):
        for collection, ids in found.items():
            if ids:
                shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
                console.print(f"[red]{label} {collection}:[/] {escape(shown)}", highlight=False)


@store_app.command("backup")
def backup(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The archive to write "
                                                               "(.tar.gz).")],
    config: ConfigOption = None,
) -> None:
    """A consistent copy of the TinyDB store, safe while the daemon runs; verified after.

    Restore: stop the daemon, unpack the archive into the state folder, start it.
    """
    from mailloop.ops.backup import backup as make_backup

    settings = settings_or_exit(config)
    if settings.store.kind != "tinydb":
        raise fail("the store is PostgreSQL: back it up with pg_dump (see docs/operations.md)",
                   2)
    if not settings.store_path.exists():
        raise fail(f"no TinyDB store at {settings.store_path}", 2)
    try:
        report = make_backup(settings.store_path, file)
    except (StoreError, OSError) as exc:
        raise fail(str(exc)) from None
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    typer.echo(f"{report['file']}: {report['files']} files, {report['bytes']} bytes, "
               f"commit {report['seq']}; {counts}")
    if not report["ok"]:
        for problem in report["problems"]:
            stderr_console().print(f"[red]{escape(problem)}[/]", highlight=False)
        raise fail("the copy does not check out (see above)")
    typer.echo("verified: the copy opens and checks out")


@store_app.command("check")
def check(
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Verify the store's integrity; exit 0 when sound, 1 when problems are found."""
    settings = settings_or_exit(config)
    if settings.store.kind != "tinydb":
        from mailloop.store import open_store

        try:  # PostgreSQL keeps its own integrity: check that it opens and answers
            store = open_store(settings)
            counts: dict[str, int] = getattr(store, "counts", dict)()
            store.close()
        except StoreError as exc:
            raise fail(str(exc)) from None
        problems: list[str] = []
    else:
        from mailloop.ops.backup import check as check_files

        result = check_files(settings.store_path)
        counts, problems = dict(result.counts), result.problems
    if fmt == "json":
        typer.echo(json.dumps({"ok": not problems, "counts": counts, "problems": problems},
                              indent=2))
    else:
        typer.echo("documents: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for problem in problems:
            stderr_console().print(f"[red]{escape(problem)}[/]", highlight=False)
        typer.echo("sound" if not problems else f"{len(problems)} problem(s)")
    if problems:
        raise typer.Exit(1)
