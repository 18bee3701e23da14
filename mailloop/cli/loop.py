"""Closing the loop: `conversations`, `conversation show`, `problem ...`, `followup`, and
`report loop`. See docs/lifecycle.md."""

from __future__ import annotations

import csv
import getpass
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mailloop.cli.common import (
    ConfigOption,
    duration,
    settings_or_exit,
    setup_logging,
    stderr_console,
)
from mailloop.config import Settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.followup import Plan, plan, record_notified, render, run
from mailloop.lifecycle import STATES, LoopData
from mailloop.problems import PREFIX as PROBLEM_PREFIX
from mailloop.problems import (
    ProblemError,
    fix_problem,
    open_problem,
    require,
    summary,
)
from mailloop.render.templateset import discover
from mailloop.reports.loop import COUNTS, TIMED_STAGES, loop_report
from mailloop.store import open_store
from mailloop.store.base import Repository

problem_app = typer.Typer(help="Known problems: open, list, notify, fixed.",
                          no_args_is_help=True)
conversation_app = typer.Typer(help="One conversation: show.", no_args_is_help=True)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


ByOption = Annotated[str | None, typer.Option(
    "--by", help="Who is doing this, for the record (default: your login name).")]
FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]


def register(app: typer.Typer) -> None:
    app.command("conversations")(conversations)
    app.add_typer(conversation_app, name="conversation")
    app.add_typer(problem_app, name="problem")
    app.command("followup")(followup)
    report = next((g.typer_instance for g in app.registered_groups
                   if g.name == "report" and g.typer_instance is not None), None)
    if report is None:
        report = typer.Typer(help="Reports.", no_args_is_help=True)
        app.add_typer(report, name="report")
    report.command("loop")(report_loop)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _by(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment
        return "operator"


@contextmanager
def _store(settings: Settings) -> Iterator[Repository]:
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


def _fail(message: str) -> typer.Exit:
    stderr_console().print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


# ---- conversations ------------------------------------------------------------------


def conversations(
    config: ConfigOption = None,
    state: Annotated[str | None, typer.Option(
        "--state", help="Only this state: " + ", ".join(STATES) + ".")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="Only this topic.")] = None,
    overdue: Annotated[bool, typer.Option(
        "--overdue", help="Only conversations past a stage target.")] = False,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """List the OforA conversations with their lifecycle stage."""
    settings = settings_or_exit(config)
    if state is not None and state not in STATES:
        raise _fail(f"--state {state!r}: expected one of {', '.join(STATES)}")
    now = utcnow()
    with _store(settings) as store:
        lives = LoopData.from_store(store).lifecycles(settings, now)
    lives = [life for life in lives
             if (state is None or life.state == state)
             and (topic is None or topic in life.conversation.get("topics", []))
             and (not overdue or life.overdue)]
    lives.sort(key=lambda life: life.conversation.get("started_at", ""))
    if fmt is Format.JSON:
        print(json.dumps([life.to_json() for life in lives], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(lives)} OforA conversations")
    for column in ("id", "customer", "topics", "state", "since", "problems", "overdue"):
        table.add_column(column, overflow="fold")
    for life in lives:
        current = life.stages.get(life.state, life.outcome_at or "")
        table.add_row(life.id, life.customer, ", ".join(life.conversation.get("topics", [])),
                      life.state, current[:16].replace("T", " "),
                      ", ".join(life.conversation.get("problems", [])),
                      ", ".join(life.overdue))
    Console().print(table)


@conversation_app.command("show")
def conversation_show(
    conversation_id: Annotated[str, typer.Argument(help="The conversation id (c…).")],
    config: ConfigOption = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """The whole thread: messages with tags, replies with outcomes, stage times, notes."""
    settings = settings_or_exit(config)
    with _store(settings) as store:
        conv = store.conversation(conversation_id)
        if conv is None:
            raise _fail(f"no conversation {conversation_id!r}")
        data = LoopData.from_store(store)
        life = data.lifecycle(conv, settings, utcnow())
        thread = []
        for key in conv.get("messages", []):
            doc = store.message(key)
            if doc is None:
                continue
            replies = [r for rid in doc.get("replies", []) if (r := store.reply(rid))]
            thread.append({
                "key": key, "message_id": doc.get("message_id"),
                "received_at": doc.get("received_at"), "from": doc.get("sender"),
                "subject": doc.get("subject"), "verdict": doc.get("verdict", {}).get("kind"),
                "tags": doc.get("tags", []), "topics": doc.get("topics", []),
                "text": doc.get("text", ""), "staff": doc.get("staff"),
                "replies": [{"id": r["id"], "kind": r.get("kind"), "to": r.get("to", []),
                             "state": r.get("state"),
                             "history": [{"state": h["state"], "at": h["at"]}
                                         for h in r.get("history", [])]} for r in replies],
            })
        followups = [{"id": r["id"], "kind": r.get("kind"), "state": r.get("state"),
                      "history": [{"state": h["state"], "at": h["at"]}
                                  for h in r.get("history", [])]}
                     for rec in [*store.records("followup:"), *store.records("notify:")]
                     if conversation_id in rec.get("conversations", [])
                     and (r := store.reply(rec["reply"]))]
        notes = (store.record(f"notes:{conversation_id}") or {}).get("events", [])
    shown = {**life.to_json(), "messages": thread, "followups": followups, "notes": notes}
    if fmt is Format.JSON:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    _print_conversation(shown)


def _print_conversation(shown: dict[str, Any]) -> None:
    console = Console(highlight=False)
    console.print(f"[bold]{shown['id']}[/] {shown['subject']!r} from {shown['customer']}")
    console.print(f"state: {shown['state']}   topics: {', '.join(shown['topics']) or '-'}   "
                  f"problems: {', '.join(shown['problems']) or '-'}"
                  + (f"   [red]overdue: {', '.join(shown['overdue'])}[/]"
                     if shown["overdue"] else ""))
    stages = Table(title="stages")
    for column in ("stage", "at", "by"):
        stages.add_column(column, overflow="fold")
    for stage, info in shown["stages"].items():
        stages.add_row(stage, info["at"], info["by"])
    if shown["outcome"]:
        stages.add_row(shown["outcome"], shown["outcome_at"] or "", "the customer")
    console.print(stages)
    for msg in shown["messages"]:
        console.print(f"\n[bold]{msg['received_at']}[/] {msg['from']} ({msg['verdict']}; "
                      f"{'+'.join(msg['tags']) or 'no tags'}"
                      + (f"; {', '.join(msg['topics'])}" if msg["topics"] else "") + ")")
        console.print(f"  {msg['subject']}")
        for line in (msg["text"] or "").splitlines()[:12]:
            console.print(f"  | {line}")
        for reply in msg["replies"]:
            history = " -> ".join(f"{h['state']} {h['at'][11:19]}" for h in reply["history"])
            console.print(f"  reply {reply['kind']} to {', '.join(reply['to'])}: {history}")
    for reply in shown["followups"]:
        history = " -> ".join(f"{h['state']} {h['at'][:19]}" for h in reply["history"])
        console.print(f"\n{reply['kind']}: {history}")
    for note in shown["notes"]:
        console.print(f"\n{note['kind']} by {note['by']} at {note['at']}: {note['text']}")


# ---- problems -----------------------------------------------------------------------


@problem_app.command("open")
def problem_open(
    slug: Annotated[str, typer.Argument(help="A short name: lower-case, digits, dashes.")],
    title: Annotated[str, typer.Option("--title", help="What the problem is.")],
    topic: Annotated[str | None, typer.Option("--topic", help="Only conversations about "
                                                               "this topic match.")] = None,
    match: Annotated[list[str] | None, typer.Option(
        "--match", help="A phrase the customer wrote (repeat for more).")] = None,
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Open a known problem and link the OforA conversations that match it (and, from now
    on, each new one)."""
    from mailloop.staff import SLUG

    settings = settings_or_exit(config)
    if not SLUG.match(slug):
        raise _fail(f"{slug!r}: a problem name is lower-case letters, digits and dashes")
    with _store(settings) as store:
        batch, problem, linked = open_problem(store, slug, title=title, topic=topic,
                                              phrases=list(match or []), by=_by(by),
                                              now=utcnow())
        store.commit(batch)
    print(f"problem {slug} is {problem['status']}: linked {len(linked)} more conversation(s), "
          f"{len(problem['conversations'])} in all")
    for cid in linked:
        print(f"  linked {cid}")


@problem_app.command("list")
def problem_list(config: ConfigOption = None, fmt: FormatOption = Format.TABLE) -> None:
    """The known problems with their status and linked conversations."""
    settings = settings_or_exit(config)
    with _store(settings) as store:
        problems = [summary(p) for p in store.records(PROBLEM_PREFIX)]
    problems.sort(key=lambda p: p["opened_at"] or "")
    if fmt is Format.JSON:
        print(json.dumps(problems, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(problems)} known problems")
    for column in ("slug", "title", "status", "topic", "conversations", "customers", "opened",
                   "fixed"):
        table.add_column(column, overflow="fold")
    for p in problems:
        table.add_row(p["slug"], p["title"], p["status"], p["topic"] or "-",
                      str(p["conversations"]), str(p["customers"]), (p["opened_at"] or "-")[:10],
                      (p["fixed_at"] or "-")[:10] + (f" {p['fixed_ref']}" if p["fixed_ref"]
                                                      else ""))
    Console().print(table)


@problem_app.command("fixed")
def problem_fixed(
    slug: Annotated[str, typer.Argument(help="The problem.")],
    note: Annotated[str, typer.Option("--note", help="What changed (goes into the second "
                                                     "chance).")],
    ref: Annotated[str | None, typer.Option("--ref", help="The tracker id of the fix.")] = None,
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Record that a problem is fixed (append-only, with who and when)."""
    settings = settings_or_exit(config)
    with _store(settings) as store:
        try:
            batch, problem = fix_problem(store, slug, note=note, ref=ref, by=_by(by),
                                         now=utcnow())
        except ProblemError as exc:
            raise _fail(str(exc)) from None
        store.commit(batch)
    print(f"problem {slug} fixed: {len(problem['conversations'])} conversation(s) reach "
          f"`fixed`; send the second chance with `mailloop followup {slug}`")


@problem_app.command("notify")
def problem_notify(
    slug: Annotated[str, typer.Argument(help="The problem.")],
    note: Annotated[str | None, typer.Option(
        "--note", help="What we are doing about it (default: the title). Each different "
                       "note is a new update.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list who would get it.")]
    = False,
    by: ByOption = None,
    fmt: FormatOption = Format.TABLE,
    config: ConfigOption = None,
) -> None:
    """Tell every linked customer we know, and what we are doing (once per customer per
    update)."""
    _campaign(config, slug, kind="notify", template="problem_update", dry_run=dry_run,
              by=by, fmt=fmt, note=note)


def followup(
    slug: Annotated[str, typer.Argument(help="The fixed problem.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List who would get it and why the others are skipped; show one "
                          "rendered message.")] = False,
    template: Annotated[str, typer.Option("--template", help="The template to send.")]
    = "second_chance",
    offer: Annotated[str | None, typer.Option("--offer", help="The offer to make.")] = None,
    by: ByOption = None,
    fmt: FormatOption = Format.TABLE,
    config: ConfigOption = None,
) -> None:
    """The second chance: one personal message to every customer linked to a fixed problem,
    once per customer per problem."""
    _campaign(config, slug, kind="followup", template=template, dry_run=dry_run, by=by,
              fmt=fmt, offer=offer or "")


def _campaign(config: Any, slug: str, *, kind: str, template: str, dry_run: bool,
              by: str | None, fmt: Format, offer: str = "", note: str | None = None) -> None:
    settings = settings_or_exit(config)
    if not dry_run:
        setup_logging("WARNING")
    with _store(settings) as store:
        try:
            if kind == "notify":
                problem = require(store, slug)
                note = note or problem.get("title") or slug
            result = plan(store, settings, slug, kind=kind, template=template, now=utcnow(),
                          note=note or "")
        except ProblemError as exc:
            raise _fail(str(exc)) from None
        daemon = Daemon(settings, mailbox=make_mailbox(settings),
                        delivery=make_delivery(settings), store=store)
        known = {name for _, name, _ in discover(settings.templates_path,
                                                 settings.templates.default_locale)}
        if template not in known:
            raise _fail(f"--template {template!r}: no such template")
        if dry_run:
            _show_plan(result, fmt, daemon, offer=offer, note=note or "")
            return
        daemon.recover()
        try:
            counts = run(store, daemon.tools, result, send=daemon.send_due, now=utcnow,
                         by=_by(by), offer=offer, note=note or "")
        finally:
            daemon.delivery.close()
        if kind == "notify":
            record_notified(store, result, by=_by(by), note=note or "",
                            count=len(result.recipients), now=utcnow())
    summary_line = {"planned": counts.planned, "sent": counts.sent,
                    "deferred": counts.deferred, "failed": counts.failed}
    if fmt is Format.JSON:
        print(json.dumps({**result.to_json(), **summary_line}, ensure_ascii=False, indent=2))
        return
    print(f"{kind} {slug}: planned {counts.planned}, sent {counts.sent}, "
          f"deferred {counts.deferred}, failed {counts.failed}; "
          f"skipped {len(result.skipped)}")
    for skip in result.skipped:
        print(f"  skipped {skip['address']}: {skip['reason']}")


def _show_plan(result: Plan, fmt: Format, daemon: Daemon, *, offer: str, note: str) -> None:
    if fmt is Format.JSON:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    console = Console(highlight=False)
    console.print(f"[bold]{len(result.recipients)} would get it[/]")
    for r in result.recipients:
        console.print(f"  {r.address} ({len(r.conversations)} conversation(s): "
                      f"{', '.join(r.conversations)})")
    console.print(f"[bold]{len(result.skipped)} skipped[/]")
    for s in result.skipped:
        console.print(f"  {s['address']}: {s['reason']}")
    if result.recipients:
        out = render(daemon.tools, result, result.recipients[0], utcnow(), offer=offer,
                     note=note)
        console.print(f"\n[bold]The message to {result.recipients[0].address}:[/]")
        console.print(f"Subject: {out.subject}\n\n{out.text}", markup=False)


# ---- report loop --------------------------------------------------------------------


def _since(value: str | None, now: datetime) -> datetime | None:
    if not value:
        return None
    found = re.fullmatch(r"(\d+)d", value.strip())
    if found:
        return now - timedelta(days=int(found.group(1)))
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise _fail(f"--since {value!r}: expected YYYY-MM-DD or a number of days "
                    "like 30d") from None
    return datetime.combine(day, time(0), tzinfo=UTC)


def report_loop(
    since: Annotated[str | None, typer.Option(
        "--since", help="Conversations since YYYY-MM-DD, or the last Nd days.")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="table, csv or json.")]
    = ReportFormat.TABLE,
    config: ConfigOption = None,
) -> None:
    """The loop: OforAs received, acknowledged, moved, fixed, second chances, answers,
    champions, the rates, and p50/p90 time per stage, per topic and overall."""
    settings = settings_or_exit(config)
    now = utcnow()
    start = _since(since, now)
    with _store(settings) as store:
        report = loop_report(LoopData.from_store(store), settings, now, start)
    if fmt is ReportFormat.JSON:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif fmt is ReportFormat.CSV:
        print(_loop_csv(report), end="")
    else:
        _loop_table(report)


def _rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("all", report), *report["topics"].items()]


def _loop_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    stage_cols = [f"{s}_{p}_seconds" for s in TIMED_STAGES for p in ("p50", "p90")]
    writer.writerow(["scope", *COUNTS, "recovery_rate", "critic_to_champion_rate",
                     "recomplaint_rate", *stage_cols])
    for scope, section in _rows(report):
        stages = section["stages"]
        writer.writerow([scope, *(section[c] for c in COUNTS), section["recovery_rate"],
                         report["critic_to_champion_rate"] if scope == "all" else "",
                         report["recomplaint_rate"] if scope == "all" else "",
                         *(stages[s][f"{p}_seconds"] for s in TIMED_STAGES
                           for p in ("p50", "p90"))])
    return buffer.getvalue()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _loop_table(report: dict[str, Any]) -> None:
    console = Console()
    title = "The loop" + (f" since {report['since'][:10]}" if report["since"] else "")
    table = Table(title=title)
    table.add_column("")
    for scope, _ in _rows(report):
        table.add_column(scope, justify="right")
    for count in COUNTS:
        table.add_row(count.replace("_", " "), *(str(s[count]) for _, s in _rows(report)))
    table.add_row("recovery rate", *(_pct(s["recovery_rate"]) for _, s in _rows(report)))
    for stage in TIMED_STAGES:
        table.add_row(f"{stage} p50 / p90", *(
            f"{duration(s['stages'][stage]['p50_seconds'])} / "
            f"{duration(s['stages'][stage]['p90_seconds'])}" for _, s in _rows(report)))
    console.print(table)
    console.print(f"critic-to-champion rate {_pct(report['critic_to_champion_rate'])}; "
                  f"re-complaint rate {_pct(report['recomplaint_rate'])}; "
                  f"overdue conversations {report['overdue']}")
