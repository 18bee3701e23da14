"""`mailloop eval`: score the classifier on a labelled set, next to plain VADER."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mailloop.cli.common import ConfigOption, settings_or_exit, stderr_console
from mailloop.evaluate import (
    PR,
    EvalSetError,
    Roster,
    Score,
    default_set_path,
    evaluate,
    failures,
)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    config: ConfigOption = None,
    set_path: Annotated[Path | None, typer.Option(
        "--set", help="Labelled set (JSON lines). Default: the shipped eval/feedback.jsonl.",
        dir_okay=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.TABLE,
    mistakes: Annotated[bool, typer.Option(
        "--mistakes", help="Also list the messages the classifier got wrong.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Exit 1 unless the thresholds of issue #6 hold.")] = False,
) -> None:
    """Per-tag precision and recall, exact-match accuracy, rep precision and recall and
    harmful errors (an OforA tagged Smile-only), for mailloop and a plain VADER baseline."""
    review_below: float | None = None
    roster: Roster | None = None
    if config is not None:
        settings = settings_or_exit(config)
        review_below = settings.classifier.review_below
        roster = Roster(tuple(settings.reps), tuple(settings.topics))
    path = set_path or default_set_path()
    try:
        ours, base = evaluate(path, review_below=review_below, roster=roster)
    except EvalSetError as exc:
        stderr_console().print(f"[bold red]evaluation set error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None

    missed = failures(ours)
    if fmt is Format.JSON:
        print(json.dumps({"set": str(path), "classifier": ours.as_dict(with_mistakes=mistakes),
                          "baseline": base.as_dict(), "failures": missed}, ensure_ascii=False,
                         indent=2))
    else:
        _print_table(path, ours, base, missed, mistakes)
    if check and missed:
        raise typer.Exit(1)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _pr_row(label: str, a: PR, b: PR) -> list[tuple[str, str, str]]:
    return [(f"{label} precision", _fmt(a.precision), _fmt(b.precision)),
            (f"{label} recall", _fmt(a.recall), _fmt(b.recall))]


def _print_table(path: Path, ours: Score, base: Score, missed: list[str],
                 show_mistakes: bool) -> None:
    console = Console()
    table = Table(title=f"{path} ({ours.total} messages)")
    table.add_column("measure")
    table.add_column("mailloop", justify="right")
    table.add_column("VADER baseline", justify="right")
    rows: list[tuple[str, str, str]] = [
        ("exact-match accuracy", _fmt(ours.accuracy), _fmt(base.accuracy)),
    ]
    for tag in ("smile", "ofora"):
        rows += _pr_row(tag, ours.tags[tag], base.tags[tag])
    rows += _pr_row("rep", ours.reps, base.reps)
    rows += _pr_row("topic", ours.topics, base.topics)
    rows += [
        ("harmful errors (OforA → Smile-only)", str(ours.harmful), str(base.harmful)),
        ("  of which not sent to review", str(ours.harmful_unreviewed),
         str(base.harmful_unreviewed)),
        ("marked for review", str(ours.reviewed), str(base.reviewed)),
        ("ambiguous reps flagged", f"{ours.ambiguous_flagged}/{ours.ambiguous_total}",
         f"{base.ambiguous_flagged}/{base.ambiguous_total}"),
        ("seconds", f"{ours.seconds:.2f}", f"{base.seconds:.2f}"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if show_mistakes:
        mt = Table(title="mistakes")
        for col in ("id", "kind", "expected", "got", "text"):
            mt.add_column(col, overflow="fold")
        for m in ours.mistakes:
            mt.add_row(m.id, m.kind, ", ".join(m.expected) or "-", ", ".join(m.got) or "-",
                       m.text[:160])
        console.print(mt)
    if missed:
        console.print("[bold red]below the bar:[/] " + "; ".join(missed))
    else:
        console.print("[green]all thresholds hold[/] (exact ≥ 0.90, harmful = 0, "
                      "rep precision ≥ 0.95, rep recall ≥ 0.90)")
