"""OforA topics: counts, distinct customers, a monthly series, new and rising
flags, example quotes, and suggested topics for what no rule matches.

Topics are the configured keyword rules, matched again at report time (so a rule
added today also sorts the past), together with the topics stored on each message.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailloop.config import TopicRule
from mailloop.reports.cluster import Suggestion, suggest
from mailloop.reports.common import is_ofora
from mailloop.reports.periods import add_months, month_of_date, month_range
from mailloop.reports.redact import attributed, excerpt
from mailloop.store.base import Doc

TRAILING = 3  # months a topic is compared with
RISING_FACTOR = 2.0
RISING_MIN = 3
NEW_MIN = 2
QUOTES = 3
EXAMPLES = 12  # recent OforAs kept per topic to pick quotes from


class TopicMatcher:
    """Keyword rules, case-insensitive, matched as whole words or phrases: one pass
    of one pattern over each text, whatever the number of rules."""

    def __init__(self, rules: Sequence[TopicRule]) -> None:
        self.rules = {r.name: r for r in rules}
        self._owners: dict[str, list[str]] = {}  # normalised keyword -> topics
        for rule in rules:
            for keyword in rule.keywords:
                norm = " ".join(keyword.casefold().split())
                if norm and rule.name not in self._owners.setdefault(norm, []):
                    self._owners[norm].append(rule.name)
        words = sorted(self._owners, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<!\w)(?:" + "|".join(r"\s+".join(re.escape(w) for w in k.split())
                                     for k in words) + r")(?!\w)",
            re.IGNORECASE) if words else None

    def topics(self, doc: Doc) -> list[str]:
        found = [t for t in doc.get("topics") or () if t]
        if self._pattern is None:
            return found
        text = f"{doc.get('subject', '')}\n{doc.get('text', '')}"
        for match in self._pattern.finditer(text):
            for topic in self._owners.get(" ".join(match.group(0).casefold().split()), ()):
                if topic not in found:
                    found.append(topic)
        return found

    def keywords(self, topic: str) -> list[str]:
        rule = self.rules.get(topic)
        return list(rule.keywords) if rule else [topic]


@dataclass
class TopicRow:
    topic: str
    description: str = ""
    count: int = 0
    customers: int = 0
    trend: str = "steady"
    this_month: int = 0
    trailing_mean: float = 0.0
    series: dict[str, int] = field(default_factory=dict)
    quotes: list[str] = field(default_factory=list)
    first_seen: str = ""
    last_seen: str = ""
    message_ids: list[str] = field(default_factory=list)

    def to_json(self, *, evidence: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "topic": self.topic, "count": self.count, "customers": self.customers,
            "trend": self.trend, "this_month": self.this_month,
            "trailing_mean": round(self.trailing_mean, 2), "series": self.series,
            "quotes": self.quotes, "first_seen": self.first_seen, "last_seen": self.last_seen,
        }
        if evidence:
            out["message_ids"] = self.message_ids
        return out


@dataclass
class TopicsReport:
    since: date
    until: date
    month: str  # the month the flags are computed for (the month of `until`)
    topics: list[TopicRow]
    unmatched: int
    suggestions: list[Suggestion]
    total: int  # OforAs in the window

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "month": self.month, "total": self.total,
            "topics": [t.to_json() for t in self.topics],
            "unmatched": self.unmatched,
            "suggestions": [{"terms": s.terms, "count": s.count} for s in self.suggestions],
        }


def months_needed(since: date, until: date) -> list[str]:
    """The months a report over [since, until] reads: the window and the trailing months."""
    last = month_of_date(until)
    first = min(month_of_date(since), add_months(last, -TRAILING))
    return month_range(first, last)


def trend(this_month: int, trailing: Sequence[int], *, new_min: int = NEW_MIN) -> str:
    """"new": none in the trailing months and at least `new_min` now; "rising": at
    least twice the trailing mean and at least three; else "steady"."""
    mean = sum(trailing) / len(trailing) if trailing else 0.0
    if sum(trailing) == 0 and this_month >= new_min:
        return "new"
    if this_month >= RISING_MIN and this_month >= RISING_FACTOR * mean:
        return "rising"
    return "steady"


def topics_report(messages: Iterable[Doc], rules: Sequence[TopicRule], *, since: date,
                  until: date, timezone: str, new_min: int = NEW_MIN,
                  suggestions: bool = True) -> TopicsReport:
    zone = ZoneInfo(timezone)
    matcher = TopicMatcher(rules)
    month = month_of_date(until)
    trailing_months = [add_months(month, -i) for i in range(TRAILING, 0, -1)]
    window_months = month_range(month_of_date(since), month)
    rows: dict[str, TopicRow] = {r.name: TopicRow(r.name, r.description) for r in rules}
    flag_counts: dict[str, dict[str, int]] = {}
    customers: dict[str, set[str]] = {}
    examples: dict[str, list[tuple[str, str, Doc]]] = {}  # the latest EXAMPLES per topic
    unmatched: list[tuple[str, str, str]] = []
    total = 0
    for doc in messages:
        if not is_ofora(doc):
            continue
        doc_month = doc.get("month", "")
        topics = matcher.topics(doc)
        if doc_month in trailing_months:
            for topic in topics:
                counts = flag_counts.setdefault(topic, {})
                counts[doc_month] = counts.get(doc_month, 0) + 1
        received = _local_date(doc.get("received_at", ""), zone)
        if received is None or not since <= received <= until:
            continue
        total += 1
        if not topics:
            unmatched.append((doc["key"], doc.get("message_id", ""), doc.get("text", "")))
            continue
        for topic in topics:
            row = rows.setdefault(topic, TopicRow(topic))
            row.count += 1
            row.series[doc_month] = row.series.get(doc_month, 0) + 1
            customers.setdefault(topic, set()).add(doc.get("sender", ""))
            day = received.isoformat()
            row.first_seen = min(row.first_seen or day, day)
            row.last_seen = max(row.last_seen, day)
            row.message_ids.append(doc.get("message_id", ""))
            if doc_month == month:
                row.this_month += 1
            latest = examples.setdefault(topic, [])
            entry = (doc.get("received_at", ""), doc["key"], doc)
            if len(latest) < EXAMPLES:
                heapq.heappush(latest, entry)
            elif entry[:2] > latest[0][:2]:
                heapq.heapreplace(latest, entry)
    for name, row in rows.items():
        row.customers = len(customers.get(name, ()))
        row.series = {m: row.series.get(m, 0) for m in window_months}
        trailing = [flag_counts.get(name, {}).get(m, 0) for m in trailing_months]
        row.trailing_mean = sum(trailing) / TRAILING
        row.trend = trend(row.this_month, trailing, new_min=new_min)
        row.message_ids.sort()
        seen: set[str] = set()
        for _at, _key, doc in sorted(examples.get(name, []), key=lambda e: (e[0], e[1]),
                                     reverse=True):  # the most recent first
            if len(row.quotes) >= QUOTES:
                break
            if doc.get("sender", "") in seen:
                continue
            words = excerpt(doc.get("text", ""), matcher.keywords(name))
            if words:
                seen.add(doc.get("sender", ""))
                row.quotes.append(attributed(words, doc.get("sender_name", "")))
    ordered = sorted(rows.values(), key=lambda r: (-r.count, -r.customers, r.topic))
    return TopicsReport(since, until, month, ordered, len(unmatched),
                        suggest(unmatched) if suggestions else [], total)


def _local_date(stamp: str, zone: ZoneInfo) -> date | None:
    try:
        return datetime.fromisoformat(stamp).astimezone(zone).date()
    except ValueError:
        return None
