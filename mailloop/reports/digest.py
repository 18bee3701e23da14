"""Digests: the messages of one day or week that match a digest's tags and
topics, as one email to a team address. Nothing to say, no email."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailloop.config import DigestConfig, Settings
from mailloop.context import Company, Person
from mailloop.lifecycle import Lifecycle
from mailloop.render.live import Renderer
from mailloop.reports.common import credited_reps, is_feedback
from mailloop.reports.contexts import DigestContext, DigestItem, OverdueItem
from mailloop.reports.newsletter import _tidy_text, compose
from mailloop.reports.periods import iso_week, local_midnight, months_between, week_start
from mailloop.reports.redact import display_name, excerpt
from mailloop.reports.source import ReportSource
from mailloop.reports.topics import TopicMatcher
from mailloop.store.base import Doc

MAX_ITEMS = 200


@dataclass(frozen=True)
class Period:
    label: str  # the record's period: 2026-11-24 or 2026-W48
    name: str
    start: datetime
    end: datetime  # exclusive


def previous_period(every: str, now: datetime, timezone: str) -> Period:
    """The last complete day or ISO week before `now`, in `timezone`."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    if every == "weekly":
        first = week_start(today) - timedelta(days=7)
        year, week, _ = first.isocalendar()
        return Period(iso_week(first), f"week {week} of {year}",
                      local_midnight(first, timezone),
                      local_midnight(first + timedelta(days=7), timezone))
    day = today - timedelta(days=1)
    return Period(day.isoformat(), f"{day:%A} {day.day} {day:%B %Y}",
                  local_midnight(day, timezone), local_midnight(day + timedelta(days=1), timezone))


def matches(doc: Doc, cfg: DigestConfig, topics: list[str]) -> bool:
    if not is_feedback(doc):
        return False
    if cfg.tags and not set(cfg.tags) & set(doc.get("tags") or ()):
        return False
    return not cfg.topics or bool(set(cfg.topics) & set(topics))


def select(messages: Iterable[Doc], cfg: DigestConfig, matcher: TopicMatcher,
           period: Period, timezone: str) -> list[DigestItem]:
    zone = ZoneInfo(timezone)
    chosen: list[tuple[str, Doc, list[str]]] = []
    for doc in messages:
        at = doc.get("received_at", "")
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            continue
        if not period.start <= moment < period.end:
            continue
        topics = matcher.topics(doc)
        if matches(doc, cfg, topics):
            chosen.append((at, doc, topics))
    chosen.sort(key=lambda c: (c[0], c[1]["key"]))
    items = []
    for at, doc, topics in chosen[:MAX_ITEMS]:
        tags = doc.get("tags") or []
        labels = " + ".join({"smile": "Smile", "ofora": "OforA"}[t] for t in tags) or "neither"
        items.append(DigestItem(
            customer=display_name(doc.get("sender_name", "")), subject=doc.get("subject", ""),
            labels=labels, topics=topics, reps=credited_reps(doc),
            received=datetime.fromisoformat(at).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            words=excerpt(doc.get("text", "")) or "(no text)",
            message_id=doc.get("message_id", "")))
    return items


def overdue_items(lives: Iterable[Lifecycle], cfg: DigestConfig, timezone: str
                  ) -> list[OverdueItem]:
    """The late OforA conversations this digest's team should hear about: all of them for a
    digest of OforAs (or of everything), those of its topics when it names topics."""
    if cfg.tags and "ofora" not in cfg.tags:
        return []
    zone = ZoneInfo(timezone)
    out = []
    for life in lives:
        if not life.overdue:
            continue
        conv = life.conversation
        topics = list(conv.get("topics", []))
        if cfg.topics and not set(cfg.topics) & set(topics):
            continue
        try:
            since = datetime.fromisoformat(str(conv.get("started_at", ""))).astimezone(zone)
        except ValueError:
            continue
        out.append(OverdueItem(conversation=life.id,
                               customer=display_name(conv.get("customer_name", "")),
                               subject=str(conv.get("subject", "")), topics=topics,
                               stages=list(life.overdue), since=f"{since:%Y-%m-%d %H:%M}"))
    out.sort(key=lambda item: item.since)
    return out[:MAX_ITEMS]


@dataclass
class Digest:
    subject: str
    text: str
    html: str
    count: int


def build(settings: Settings, store: ReportSource, templates: Renderer, cfg: DigestConfig,
          period: Period, overdue: list[OverdueItem] | None = None) -> Digest | None:
    """The digest for `period`, or None when no message matches and nothing is overdue."""
    months = [m for m in months_between(period.start, period.end, settings.timezone)
              if m in set(store.months())]
    messages = store.iter_messages(months) if months else iter(())
    items = select(messages, cfg, TopicMatcher(settings.topics), period, settings.timezone)
    if not items and not overdue:
        return None
    context = DigestContext(
        customer=Person(), company=Company(**settings.company.model_dump()),
        digest_name=cfg.name, every=cfg.every, period=period.label, period_name=period.name,
        count=len(items), smiles=sum("Smile" in i.labels for i in items),
        oforas=sum("OforA" in i.labels for i in items), items=items, overdue=overdue or [])
    rendered = templates.render(cfg.template, context, [settings.templates.default_locale])
    return Digest(rendered.subject, _tidy_text(rendered.text), rendered.html, len(items))


def to_email(settings: Settings, digest: Digest, cfg: DigestConfig, period: Period, *,
             now: datetime) -> tuple[str, bytes]:
    domain = settings.delivery.from_address.rpartition("@")[2].lower()
    message_id = f"mailloop.digest.{cfg.name}.{period.label}@{domain}"
    msg = compose(settings, subject=digest.subject, text=digest.text, html=digest.html,
                  message_id=message_id, now=now, to=list(cfg.to), images=[], kind="digest")
    return message_id, msg.as_bytes()

