"""The monthly newsletter: built from the `newsletter` template, a chart of Smiles
per rep (a PNG attached by Content-ID, plus a table bar chart for clients that
block images), the best quotes, and the month's OforA topics.

The result is one email: text and HTML alternatives, the HTML with its CSS
inlined, no SVG, no `data:` URI and no remote image.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any
from zoneinfo import ZoneInfo

from mailloop.config import Settings
from mailloop.context import Company, Person
from mailloop.lifecycle import LoopData
from mailloop.render.live import Renderer
from mailloop.reports import chart, views
from mailloop.reports.common import is_smile
from mailloop.reports.contexts import CHART_MARK, NewsletterContext, RankRow, TopicLine
from mailloop.reports.loop import loop_report
from mailloop.reports.periods import add_months
from mailloop.reports.redact import attributed, excerpt, without_names
from mailloop.reports.source import ReportSource
from mailloop.screen import LOOP_HEADER

MAX_HTML = 80 * 1024
TOP_TOPICS = 5
TEAM_MONTHS = 6

# Inlined into each element by css-inline; nothing of it stays in a <style> element.
NEWSLETTER_CSS = """
h1 { font-size: 22px; line-height: 1.3; margin: 0 0 12px; color: #1f2933; }
h2 { font-size: 17px; margin: 24px 0 8px; color: #1f2933; border-bottom: 1px solid #e4e7eb;
     padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 4px; color: #3e4c59; }
p { margin: 0 0 10px; }
blockquote { margin: 6px 0 10px; padding: 4px 12px; border-left: 3px solid #f59e0b;
             color: #3e4c59; font-style: italic; }
blockquote p { margin: 0; }
ul { margin: 0 0 10px; padding-left: 20px; }
img.chart { display: block; width: 100%; max-width: 536px; height: auto; border: 0; }
"""


@dataclass
class Newsletter:
    month: str
    subject: str
    text: str
    html: str
    png: bytes
    cid: str
    bars: list[chart.Bar]

    def to_email(self, settings: Settings, *, message_id: str, now: datetime,
                 to: list[str] | None = None) -> EmailMessage:
        return compose(settings, subject=self.subject, text=self.text, html=self.html,
                       message_id=message_id, now=now, to=to or settings.newsletter.to,
                       images=[(self.cid, self.png, f"smiles-{self.month}.png")],
                       kind="newsletter")


def compose(settings: Settings, *, subject: str, text: str, html: str, message_id: str,
            now: datetime, to: list[str], images: list[tuple[str, bytes, str]],
            kind: str) -> EmailMessage:
    """text/plain + (text/html + images by Content-ID) as one automatic message."""
    cfg = settings.delivery
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((cfg.from_name, cfg.from_address))
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "bulk"
    msg[LOOP_HEADER] = cfg.from_address.rpartition("@")[2].lower()
    msg["X-Mailloop-Kind"] = kind
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    html_part = list(msg.iter_parts())[1]
    assert isinstance(html_part, EmailMessage)
    for cid, data, filename in images:
        html_part.add_related(data, "image", "png", cid=f"<{cid}>", filename=filename,
                              disposition="inline")
    return msg


def month_name(month: str) -> str:
    return datetime(int(month[:4]), int(month[5:]), 1).strftime("%B %Y")


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""


LOOP_MONTHS = 3  # complaints whose second chance went out this month may be older


def month_loop(store: ReportSource, settings: Settings, month: str) -> dict[str, Any]:
    """The loop report's figures for second chances sent in `month`."""
    months = [m for m in (add_months(month, -i) for i in range(LOOP_MONTHS - 1, -1, -1))
              if m in set(store.months())]
    conversations = {c["id"]: c for c in store.iter_conversations(months)}
    replies = {r["id"]: r for r in store.iter_replies(months)}
    data = LoopData(store.iter_messages(months), conversations.get, replies.get,
                    store.records("followup:"))
    zone = ZoneInfo(settings.timezone)
    start = datetime(int(month[:4]), int(month[5:]), 1, tzinfo=zone)
    nxt = add_months(month, 1)
    end = datetime(int(nxt[:4]), int(nxt[5:]), 1, tzinfo=zone)
    report = loop_report(data, settings, end, since=start)
    return {key: report[key] for key in ("second_chances", "champions", "recovery_rate")}


def build(settings: Settings, store: ReportSource, templates: Renderer, month: str,
          track: views.Track = views.no_progress) -> Newsletter:
    cfg = settings.newsletter
    report = views.smiles(store, settings, month, month, track)
    since, until = views.month_window(month)
    topics = views.topics(store, settings, since, until, track, suggestions=False)
    published = report.published()
    ranking = [] if cfg.team_mode else [
        RankRow(name=r.name, first_name=first_name(r.name), smiles=r.smiles,
                previous=r.previous, change=r.change, rank=r.rank, thanked=r.thanked,
                customers=r.customers, quotes=r.quotes) for r in published]
    team_quotes: list[str] = []
    if cfg.team_mode:
        months = [add_months(month, -i) for i in range(TEAM_MONTHS - 1, -1, -1)]
        per_month = dict.fromkeys(months, 0)
        names = [n for r in settings.reps for n in (r.name, *r.name.split(), *r.aliases)]
        for doc in views.messages_in(store, months, track, "team"):
            if is_smile(doc) and doc.get("month") in per_month:
                per_month[doc["month"]] += 1
                if doc["month"] == month and len(team_quotes) < 2 * cfg.quotes_per_rep:
                    words = without_names(excerpt(doc.get("text", "")), names)
                    if words:
                        team_quotes.append(attributed(words, doc.get("sender_name", "")))
        bars = [chart.Bar(datetime(int(m[:4]), int(m[5:]), 1).strftime("%b %Y"), n)
                for m, n in per_month.items()]
        title = "Smiles per month"
    else:
        bars = [chart.Bar(r.name, r.smiles) for r in published]
        title = f"Smiles per rep, {month_name(month)}"
    used = [t for t in topics.topics if t.count]
    fixes = [str(r.get("title") or r.get("id")) for r in store.records("problem:")
             if str(r.get("fixed_at") or "").startswith(month)]
    loop = month_loop(store, settings, month)
    context = NewsletterContext(
        customer=Person(), company=Company(**settings.company.model_dump()),
        month=month, month_name=month_name(month), team_mode=cfg.team_mode,
        total=report.total, previous_total=report.previous_total,
        change=report.total - report.previous_total, uncredited=report.uncredited,
        ranking=ranking, team_quotes=team_quotes,
        top_topics=[TopicLine(topic=t.topic, count=t.count, customers=t.customers, trend=t.trend)
                for t in used[:TOP_TOPICS]],
        new_topics=[t.topic for t in used if t.trend == "new"],
        rising_topics=[t.topic for t in used if t.trend == "rising"],
        unmatched=topics.unmatched, fixes=fixes, second_chances=loop["second_chances"],
        champions=loop["champions"], recovery_rate=loop["recovery_rate"])
    rendered = templates.render(cfg.template, context, [settings.templates.default_locale])
    image = chart.png(bars, title)
    cid = f"smiles-{month}.{hashlib.sha256(image).hexdigest()[:12]}@mailloop"
    text = _tidy_text(rendered.text.replace(CHART_MARK, chart.text_chart(bars)))
    html = _finish_html(rendered.html, _chart_html(bars, cid, title))
    return Newsletter(month, rendered.subject, text, html, image, cid, bars)


def _chart_html(bars: list[chart.Bar], cid: str, title: str) -> str:
    return (f'<img class="chart" src="cid:{cid}" width="536" alt="{title}: '
            + ", ".join(f"{b.label} {b.value}" for b in bars).replace('"', "'")
            + '">' + chart.html_table(bars, title))


def _finish_html(html: str, chart_html: str) -> str:
    import css_inline

    html = re.sub(r"<p>\s*" + re.escape(CHART_MARK) + r"\s*</p>", lambda _m: chart_html, html)
    html = html.replace(CHART_MARK, chart_html)
    html = html.replace("</head>", f"<style>{NEWSLETTER_CSS}</style></head>", 1)
    inliner = css_inline.CSSInliner(keep_style_tags=False, keep_link_tags=False,
                                    load_remote_stylesheets=False)
    return inliner.inline(html)


def _tidy_text(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def message_id(settings: Settings, month: str, attempt: int = 1) -> str:
    domain = settings.delivery.from_address.rpartition("@")[2].lower()
    suffix = "" if attempt <= 1 else f".{attempt}"
    return f"mailloop.newsletter.{month}{suffix}@{domain}"


def summary(letter: Newsletter) -> dict[str, Any]:
    return {"month": letter.month, "subject": letter.subject, "html_bytes":
            len(letter.html.encode()), "bars": [(b.label, b.value) for b in letter.bars]}
