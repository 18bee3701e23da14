"""`mailloop report smiles|topics|replies`: read-only reports over the store."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from markupsafe import escape
from rich.console import Console
from rich.markup import escape as plain
from rich.table import Table

from mailloop.cli.common import ConfigOption, duration, settings_or_exit
from mailloop.cli.reporting import date_option, fail, month_option, reading, today, write
from mailloop.config import Settings
from mailloop.reports import views
from mailloop.reports.replies import RepliesReport
from mailloop.reports.smiles import SmilesReport
from mailloop.reports.topics import NEW_MIN, TopicsReport

report_app = typer.Typer(help="Reports: Smiles per rep, OforA topics, replies.",
                         no_args_is_help=True)

SMILES_CSV = ["month", "rank", "rep", "smiles", "previous", "change", "thanked", "customers",
              "opt_out", "quote_1", "quote_2", "quote_3"]
TOPICS_CSV = ["topic", "count", "customers", "trend", "this_month", "trailing_mean",
              "first_seen", "last_seen", "series", "quote_1", "quote_2", "quote_3"]


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


@report_app.command("smiles")
def smiles(
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: this month)")]
    = None,
    first: Annotated[str | None, typer.Option("--from", help="First month of an incentive "
                                                             "period, YYYY-MM")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last month of the period")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or html")] = "table",
    config: ConfigOption = None,
) -> None:
    """Smiles per rep: this month, the previous one, rank, thank-yous, customers, quotes."""
    settings = settings_or_exit(config)
    if fmt not in {"table", "csv", "json", "html"}:
        raise fail(f"--format {fmt!r}: expected table, csv, json or html")
    if month and (first or last):
        raise fail("give either --month or --from/--to, not both")
    if first or last:
        start = month_option(first or last, settings)
        end = month_option(last or first, settings)
        if start > end:
            raise fail(f"--from {start} is after --to {end}")
    else:
        start = end = month_option(month, settings)
    with reading(settings) as (store, track):
        report = views.smiles(store, settings, start, end, track)
    if fmt == "json":
        write(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        write(smiles_csv(report))
    elif fmt == "html":
        write(smiles_html(report, settings.company.name))
    else:
        smiles_table(report)


def smiles_csv(report: SmilesReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SMILES_CSV)
    for r in report.reps:
        quotes = [*r.quotes, "", "", ""][:3]
        writer.writerow([report.label, r.rank, r.name, r.smiles, r.previous, r.change,
                         r.thanked, r.customers, str(r.opt_out).lower(), *quotes])
    writer.writerow([report.label, "", "(uncredited)", report.uncredited, "", "", "", "", "",
                     "", "", ""])
    writer.writerow([report.label, "", "(total)", report.total, report.previous_total,
                     report.total - report.previous_total, "", "", "", "", "", ""])
    return buffer.getvalue()


def smiles_table(report: SmilesReport) -> None:
    table = Table(title=f"Smiles per rep, {report.label}", title_justify="left")
    for name, justify in (("#", "right"), ("rep", "left"), ("smiles", "right"),
                          ("prev", "right"), ("change", "right"), ("thanked", "right"),
                          ("customers", "right"), ("best quote", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in report.reps:
        change = f"{r.change:+d}" if r.change else "0"
        name = r.name + (" (opted out)" if r.opt_out else "")
        table.add_row(str(r.rank), plain(name), str(r.smiles), str(r.previous), change,
                      str(r.thanked), str(r.customers), plain(r.quotes[0] if r.quotes else ""))
    console = Console()
    console.print(table)
    console.print(f"uncredited Smiles: {report.uncredited}; team total: {report.total} "
                  f"(previous period {report.previous_total})", highlight=False)


def smiles_html(report: SmilesReport, company: str) -> str:
    rows = "".join(
        f"<tr><td>{r.rank}</td><td>{escape(r.name)}</td><td>{r.smiles}</td>"
        f"<td>{r.previous}</td><td>{r.change:+d}</td><td>{r.thanked}</td>"
        f"<td>{r.customers}</td><td>{'<br>'.join(str(escape(q)) for q in r.quotes)}</td></tr>"
        for r in report.reps)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Smiles per rep, '
            f"{escape(report.label)}</title></head><body style=\"font-family:sans-serif\">"
            f"<h1>{escape(company)}: Smiles per rep, {escape(report.label)}</h1>"
            '<table border="1" cellpadding="4" cellspacing="0"><thead><tr><th>#</th>'
            "<th>Rep</th><th>Smiles</th><th>Previous</th><th>Change</th><th>Thanked</th>"
            f"<th>Customers</th><th>Quotes</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>Uncredited Smiles: {report.uncredited}. Team total: {report.total} "
            f"(previous {report.previous_total}).</p></body></html>")


# The window of `report topics` and `export feature-requests`; see `window`.
WindowSince = Annotated[str | None, typer.Option(
    "--since", help="YYYY-MM-DD (default: the start of the month 5 months back)")]
WindowUntil = Annotated[str | None, typer.Option(
    "--until", help="YYYY-MM-DD, included (default: today)")]


@report_app.command("topics")
def topics(
    since: WindowSince = None,
    until: WindowUntil = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    new_min: Annotated[int, typer.Option("--new-min", help="OforAs this month for a topic "
                                                           "to be flagged new")] = NEW_MIN,
    config: ConfigOption = None,
) -> None:
    """OforA topics ranked by count and customers, with trends and suggested topics."""
    settings = settings_or_exit(config)
    if fmt not in {"table", "csv", "json"}:
        raise fail(f"--format {fmt!r}: expected table, csv or json")
    start, end = window(settings, since, until)
    with reading(settings) as (store, track):
        report = views.topics(store, settings, start, end, track, new_min=new_min)
    if fmt == "json":
        write(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        write(topics_csv(report))
    else:
        topics_table(report)


def window(settings: Settings, since: str | None, until: str | None) -> tuple[date, date]:
    end = date_option(until, "--until") or today(settings)
    start = date_option(since, "--since") or views.default_window(end)[0]
    if start > end:
        raise fail(f"--since {start} is after --until {end}")
    return start, end


def topics_csv(report: TopicsReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(TOPICS_CSV)
    for t in report.topics:
        quotes = [*t.quotes, "", "", ""][:3]
        series = " ".join(f"{m}:{n}" for m, n in t.series.items())
        writer.writerow([t.topic, t.count, t.customers, t.trend, t.this_month,
                         round(t.trailing_mean, 2), t.first_seen, t.last_seen, series,
                         *quotes])
    return buffer.getvalue()


def topics_table(report: TopicsReport) -> None:
    console = Console()
    months = list(next(iter(report.topics)).series) if report.topics else []
    table = Table(title=f"OforA topics, {report.since} to {report.until}",
                  title_justify="left")
    table.add_column("topic")
    table.add_column("OforAs", justify="right")
    table.add_column("customers", justify="right")
    table.add_column("trend")
    for m in months[-6:]:
        table.add_column(m[2:], justify="right")
    for t in report.topics:
        flag = {"new": "[bold green]new[/]", "rising": "[bold yellow]rising[/]"}.get(
            t.trend, t.trend)
        table.add_row(plain(t.topic), str(t.count), str(t.customers), flag,
                      *[str(t.series.get(m, 0)) for m in months[-6:]])
    console.print(table)
    for t in report.topics:
        if t.trend in {"new", "rising"}:
            for q in t.quotes[:1]:
                console.print(f"{t.topic} ({t.trend}): {q}", highlight=False, markup=False)
    console.print(f"OforAs: {report.total}; matching no topic: {report.unmatched}",
                  highlight=False)
    for s in report.suggestions:
        console.print(f"  suggested topic ({s.count} OforAs): {', '.join(s.terms)}",
                      highlight=False, markup=False)


@report_app.command("replies")
def replies(
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD (default: all)")]
    = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    config: ConfigOption = None,
) -> None:
    """Replies by kind and outcome; time to acknowledge and to a manager's thank-you."""
    settings = settings_or_exit(config)
    if fmt not in {"table", "json"}:
        raise fail(f"--format {fmt!r}: expected table or json")
    start = date_option(since, "--since")
    moment = (datetime.combine(start, time(0), tzinfo=ZoneInfo(settings.timezone))
              .astimezone(UTC) if start else None)
    with reading(settings) as (store, track):
        report = views.replies(store, moment, track)
    if fmt == "json":
        write(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        replies_table(report)


def replies_table(report: RepliesReport) -> None:
    console = Console()
    states = ["sent", "deferred", "failed", "bounced", "uncertain"]
    extra = sorted({s for v in report.by_kind.values() for s in v} - set(states))
    table = Table(title="Replies by kind and outcome" + (f" since {report.since}"
                                                         if report.since else ""),
                  title_justify="left")
    table.add_column("kind")
    for state in [*states, *extra]:
        table.add_column(state, justify="right")
    for kind, counts in report.by_kind.items():
        table.add_row(plain(kind), *[str(counts.get(s, 0)) for s in [*states, *extra]])
    console.print(table)
    for label, d in (("arrival to acknowledgement", report.acknowledgement),
                     ("Smile to manager's thank-you", report.thanks)):
        console.print(f"{label}: {d.count} replies, p50 {duration(d.p50)}, "
                      f"p90 {duration(d.p90)}, max {duration(d.max)}", highlight=False)
