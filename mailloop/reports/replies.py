"""Replies by kind and outcome, and how long customers waited."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailloop.reports.common import MANAGER_THANKS, sent_at, thanked_message
from mailloop.store.base import Doc

OUTCOMES = ("sent", "deferred", "failed", "bounced", "uncertain", "answered", "planned",
            "sending")


@dataclass
class Durations:
    """Waiting times in seconds: how many, the median, the 90th percentile, the longest."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> Durations:
        if not values:
            return cls()
        ordered = sorted(values)
        return cls(len(ordered), _nearest_rank(ordered, 50), _nearest_rank(ordered, 90),
                   ordered[-1])

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.p50, "p90": self.p90, "max": self.max}


def _nearest_rank(ordered: list[float], pct: int) -> float:
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass
class RepliesReport:
    since: str | None
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    acknowledgement: Durations = field(default_factory=Durations)
    thanks: Durations = field(default_factory=Durations)

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for states in self.by_kind.values():
            for state, n in states.items():
                out[state] = out.get(state, 0) + n
        return out

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "by_kind": self.by_kind, "totals": self.totals,
                "acknowledgement_seconds": self.acknowledgement.to_json(),
                "thanks_seconds": self.thanks.to_json()}


def replies_report(messages: Iterable[Doc], replies: Iterable[Doc], *,
                   since: datetime | None = None) -> RepliesReport:
    """`messages` are those the replies may answer (for their arrival times); a
    thank-you is timed from the Smile its manager's answer names."""
    arrived: dict[str, str] = {}
    thanks_for: dict[str, str] = {}  # manager's message key -> the Smile's key
    for doc in messages:
        arrived[doc["key"]] = doc.get("received_at", "")
        smile_key = thanked_message(doc)
        if smile_key is not None:
            thanks_for[doc["key"]] = smile_key
    report = RepliesReport(since.isoformat() if since else None)
    acks: list[float] = []
    thanks: list[float] = []
    for reply in replies:
        created = reply.get("created_at", "")
        if since is not None and (not created or datetime.fromisoformat(created) < since):
            continue
        kind = str(reply.get("kind", "?"))
        state = str(reply.get("state", "?"))
        states = report.by_kind.setdefault(kind, {})
        states[state] = states.get(state, 0) + 1
        done = sent_at(reply)
        answers = reply.get("answers") or ""
        if kind == MANAGER_THANKS:
            answers = thanks_for.get(answers, answers)
        start = arrived.get(answers)
        if not done or not start:
            continue
        wait = (datetime.fromisoformat(done) - datetime.fromisoformat(start)).total_seconds()
        if kind.startswith("ack_"):
            acks.append(max(0.0, wait))
        elif kind == MANAGER_THANKS:
            thanks.append(max(0.0, wait))
    report.by_kind = {k: dict(sorted(v.items())) for k, v in sorted(report.by_kind.items())}
    report.acknowledgement = Durations.of(acks)
    report.thanks = Durations.of(thanks)
    return report
