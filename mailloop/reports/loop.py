"""The loop report: how OforA conversations move through their lifecycle.

Counts (OforAs received, acknowledged, moved, fixed; second chances sent, answered;
champions), the rates, and p50/p90 time from `listened` to each stage, overall
and per topic. The rates:

- recovery rate: second chances whose answer (or any later message from the
  customer within the champion window) is a Smile / second chances sent;
- critic-to-champion rate: customers with an OforA who sent a Smile (with no
  OforA in it) within the window after their first OforA / customers with an OforA;
- re-complaint rate: customers sent a second chance who sent another OforA after
  it / customers sent a second chance.

`loop_report` is what `mailloop report loop` prints and the newsletter's OforA
section and the digests read (`overdue` lists what is late).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from mailloop.config import Settings
from mailloop.lifecycle import (
    ACKNOWLEDGED,
    BOOSTED,
    CHAMPION,
    FIXED,
    LISTENED,
    MOVED,
    Lifecycle,
    LoopData,
    parse_time,
)

TIMED_STAGES = (ACKNOWLEDGED, MOVED, FIXED, BOOSTED)
COUNTS = ("received", "acknowledged", "moved", "fixed", "second_chances", "answered",
          "champions")


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share in 0..1) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def stage_times(lives: list[Lifecycle]) -> dict[str, dict[str, Any]]:
    out = {}
    for stage in TIMED_STAGES:
        values = [t for life in lives if (t := life.seconds_to(stage)) is not None]
        out[stage] = {"count": len(values), "p50_seconds": percentile(values, 0.5),
                      "p90_seconds": percentile(values, 0.9)}
    return out


def _section(lives: list[Lifecycle], followups: list[dict[str, Any]]) -> dict[str, Any]:
    sent = [f for f in followups if f["sent_at"]]
    return {
        "received": len(lives),
        "acknowledged": sum(ACKNOWLEDGED in life.stages for life in lives),
        "moved": sum(MOVED in life.stages for life in lives),
        "fixed": sum(FIXED in life.stages for life in lives),
        "second_chances": len(sent),
        "answered": sum(f["answered"] for f in sent),
        "champions": len({f["customer"] for f in sent if f["outcome"] == CHAMPION}),
        "recovery_rate": _rate(sum(f["outcome"] == CHAMPION for f in sent), len(sent)),
    }


def loop_report(data: LoopData, settings: Settings, now: datetime,
                since: datetime | None = None) -> dict[str, Any]:
    window = timedelta(days=settings.loop.champion_window_days)
    lives = [life for life in data.lifecycles(settings, now)
             if since is None or _start(life) >= since]
    conv_topics = {life.id: list(life.conversation.get("topics", [])) for life in lives}
    followups: list[dict[str, Any]] = []
    for (problem, customer), record in data.followups.items():
        found = data.followup_sent(problem, customer)
        if found is None or (since is not None and parse_time(found[0]) < since):
            continue
        sent = parse_time(found[0])
        outcome, _at, answered = data.followup_outcome(record, sent, settings, now)
        about = {t for cid in record.get("conversations", []) for t in conv_topics.get(cid, [])}
        recomplained = any("ofora" in d.get("tags", []) and parse_time(d["received_at"]) > sent
                           for d in data.by_sender.get(customer, []))
        followups.append({"customer": customer, "sent_at": found[0], "outcome": outcome,
                          "answered": answered, "topics": about, "recomplained": recomplained})

    report = _section(lives, followups)
    critics: dict[str, datetime] = {}
    for life in lives:
        start = _start(life)
        critics[life.customer] = min(critics.get(life.customer, start), start)
    champions = sum(
        any(d.get("tags") == ["smile"] and first <= parse_time(d["received_at"]) <= first + window
            for d in data.by_sender.get(customer, []))
        for customer, first in critics.items())
    boosted_customers = {f["customer"] for f in followups}
    report["critic_to_champion_rate"] = _rate(champions, len(critics))
    report["recomplaint_rate"] = _rate(
        len({f["customer"] for f in followups if f["recomplained"]}), len(boosted_customers))
    report["stages"] = stage_times(lives)
    topics: dict[str, Any] = {}
    for topic in sorted({t for life in lives for t in life.conversation.get("topics", [])}):
        mine = [life for life in lives if topic in life.conversation.get("topics", [])]
        section = _section(mine, [f for f in followups if topic in f["topics"]])
        section["stages"] = stage_times(mine)
        topics[topic] = section
    report["topics"] = topics
    report["overdue"] = len([life for life in lives if life.overdue])
    report["since"] = since.isoformat(timespec="seconds") if since else None
    return report


def _start(life: Lifecycle) -> datetime:
    return parse_time(life.stages.get(LISTENED) or str(life.conversation["started_at"]))


def overdue(data: LoopData, settings: Settings, now: datetime) -> list[Lifecycle]:
    """The OforA conversations past a stage target: for `conversations --overdue` and the
    digests."""
    return [life for life in data.lifecycles(settings, now) if life.overdue]
