"""Feature requests for R&D: one entry per recurring OforA topic, with evidence."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from mailloop.reports.topics import TopicsReport

CSV_COLUMNS = ["title", "topic", "description", "count", "customers", "first_seen",
               "last_seen", "trend", "quote_1", "quote_2", "quote_3", "message_ids", "body"]


@dataclass
class FeatureRequest:
    title: str
    topic: str
    description: str
    count: int
    customers: int
    first_seen: str
    last_seen: str
    trend: str
    quotes: list[str]
    message_ids: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "topic": self.topic, "description": self.description,
                "count": self.count, "customers": self.customers,
                "first_seen": self.first_seen, "last_seen": self.last_seen,
                "trend": self.trend, "quotes": self.quotes, "message_ids": self.message_ids}

    def body(self) -> str:
        """The issue text a tracker shows: what, how often, in the customers' words."""
        lines = [self.description] if self.description else []
        lines.append(f"{self.count} OforAs from {self.customers} customers between "
                     f"{self.first_seen} and {self.last_seen} (trend: {self.trend}).")
        lines += [f"> {q}" for q in self.quotes]
        lines.append("Evidence (Message-IDs): " + " ".join(self.message_ids))
        return "\n\n".join(lines)


def feature_requests(report: TopicsReport, *, min_count: int = 3) -> list[FeatureRequest]:
    """The topics with at least `min_count` OforAs in the report's window."""
    out = []
    for row in report.topics:
        if row.count < min_count:
            continue
        out.append(FeatureRequest(
            title=f"Customer feedback: {row.topic}", topic=row.topic,
            description=row.description, count=row.count, customers=row.customers,
            first_seen=row.first_seen, last_seen=row.last_seen, trend=row.trend,
            quotes=row.quotes[:3], message_ids=list(row.message_ids)))
    return out


def to_csv(requests: list[FeatureRequest]) -> str:
    """UTF-8 CSV with CSV_COLUMNS, one row per request (imports into Jira and the like)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for req in requests:
        quotes = [*req.quotes, "", "", ""][:3]
        writer.writerow([req.title, req.topic, req.description, req.count, req.customers,
                         req.first_seen, req.last_seen, req.trend, *quotes,
                         " ".join(req.message_ids), req.body()])
    return buffer.getvalue()


def to_markdown(requests: list[FeatureRequest], *, since: str, until: str) -> str:
    lines = [f"# Feature requests from customer feedback ({since} to {until})", ""]
    if not requests:
        lines.append("No topic recurred often enough in this period.")
    for req in requests:
        lines += [f"## {req.title}", ""]
        if req.description:
            lines += [req.description, ""]
        lines += [f"- OforAs: {req.count} from {req.customers} customers",
                  f"- First seen {req.first_seen}, last seen {req.last_seen}",
                  f"- Trend: {req.trend}", ""]
        lines += [f"> {q}" for q in req.quotes]
        lines += ["", "Evidence: " + ", ".join(f"`{m}`" for m in req.message_ids), ""]
    return "\n".join(lines).rstrip() + "\n"
