"""Known problems: the fixes OforA conversations wait for.

A problem is one small store record, `problem:SLUG`, with an append-only list of
events, each with who and when: `opened` (title, topic, phrases), `linked` (a
conversation, and how: a staff member's `#problem`, a phrase match), `notified`
(a proactive update went out) and `fixed` (what changed, the tracker
reference). Its `status` is `proposed` (named by a `#problem` before anyone
opened it), `open` or `fixed`. Linking a conversation moves it; fixing the
problem fixes every linked conversation.

Conversations are linked when they match: the problem's topic (if it has one)
among the conversation's topics, and one of its phrases in what the customer
wrote (if it has phrases). `problem open` links the existing ones; the pipeline
links each new OforA to the open problems it matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from mailloop.lifecycle import FIXED, MOVED, LoopData, merge_conversation, reached
from mailloop.store.base import Batch, Doc

PREFIX = "problem:"
PROPOSED, OPEN, FIXED_STATUS = "proposed", "open", "fixed"


class ProblemError(Exception):
    """A problem command cannot be carried out; the message says why."""


class RecordView(Protocol):
    def record(self, record_id: str) -> Doc | None: ...
    def records(self, prefix: str) -> list[Doc]: ...


def record_id(slug: str) -> str:
    return PREFIX + slug


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def new_problem(slug: str) -> Doc:
    return {"id": record_id(slug), "slug": slug, "title": "", "topic": None, "match": [],
            "status": PROPOSED, "conversations": [], "events": []}


def with_event(problem: Doc, event: str, at: datetime, by: str, **details: Any) -> Doc:
    entry = {"event": event, "at": iso(at), "by": by,
             **{k: v for k, v in details.items() if v not in (None, "", [])}}
    return {**problem, "events": [*problem.get("events", []), entry]}


def matches(problem: Doc, text: str, topics: Iterable[str]) -> str | None:
    """Why a conversation about `topics` whose customer wrote `text` belongs to `problem`
    (the phrase or topic that matched), or None."""
    topic = problem.get("topic")
    if topic and topic not in set(topics):
        return None
    phrases = problem.get("match", [])
    if not phrases:
        return f"topic {topic}" if topic else None
    folded = " ".join(text.split()).casefold()
    return next((f"phrase {p!r}" for p in phrases if " ".join(p.split()).casefold() in folded),
                None)


def link(problem: Doc, conversation: str, customer: str, at: datetime, by: str,
         how: str) -> tuple[Doc, dict[str, Any]]:
    """The problem with `conversation` linked, and the conversation's updates (it moved)."""
    linked = with_event(problem, "linked", at, by, conversation=conversation,
                        customer=customer, how=how)
    linked["conversations"] = [*problem.get("conversations", []), conversation]
    updates = {"problems": [problem["slug"]],
               **reached(MOVED, at, f"{by}: linked to problem {problem['slug']} ({how})")}
    if problem.get("status") == FIXED_STATUS:
        fixed = last_event(problem, "fixed") or {}
        updates["stages"][FIXED] = fixed.get("at", iso(at))
        updates["stage_by"][FIXED] = f"{fixed.get('by', by)}: problem {problem['slug']} fixed"
    return linked, updates


def last_event(problem: Doc, event: str) -> dict[str, Any] | None:
    return next((e for e in reversed(problem.get("events", [])) if e["event"] == event), None)


def auto_links(conversation: str, customer: str, text: str, topics: Iterable[str],
               view: RecordView, now: datetime) -> tuple[dict[str, Doc], dict[str, Any]]:
    """Link a new OforA to each open problem it matches: (records, conversation updates)."""
    records: dict[str, Doc] = {}
    updates: dict[str, Any] = {}
    topics = list(topics)
    for problem in view.records(PREFIX):
        if problem.get("status") != OPEN or conversation in problem.get("conversations", []):
            continue
        how = matches(problem, text, topics)
        if how is None:
            continue
        linked, conv_updates = link(problem, conversation, customer, now, "mailloop", how)
        records[linked["id"]] = linked
        for key, value in conv_updates.items():
            if isinstance(value, dict):
                updates[key] = {**value, **updates.get(key, {})}
            elif isinstance(value, list):
                updates[key] = [*updates.get(key, []), *value]
    return records, updates


def customer_text(conv: Doc, data: LoopData) -> str:
    """Everything the customer wrote in the conversation (subjects and visible text)."""
    parts = []
    for key in conv.get("messages", []):
        doc = data.message(key)
        if doc is not None and doc.get("sender") == conv.get("customer"):
            parts += [doc.get("subject", ""), doc.get("text", "")]
    return "\n".join(parts)


def open_problem(store: Any, slug: str, *, title: str, topic: str | None,
                 phrases: list[str], by: str, now: datetime) -> tuple[Batch, Doc, list[str]]:
    """Open (or re-open with new matching rules) `slug` and link the existing OforA
    conversations it matches. Returns the batch to commit, the problem and the ids
    linked now."""
    problem = store.record(record_id(slug)) or new_problem(slug)
    problem = {**problem, "title": title or problem.get("title", ""),
               "topic": topic if topic is not None else problem.get("topic"),
               "match": list(dict.fromkeys([*problem.get("match", []), *phrases]))}
    if problem["status"] != FIXED_STATUS:
        problem["status"] = OPEN
    problem = with_event(problem, "opened", now, by, title=title, topic=topic, match=phrases)
    batch = Batch()
    linked_now: list[str] = []
    data = LoopData.from_store(store)
    for conv in data.conversations:
        if conv["id"] in problem["conversations"]:
            continue
        how = matches(problem, customer_text(conv, data), conv.get("topics", []))
        if how is None:
            continue
        problem, updates = link(problem, conv["id"], conv.get("customer", ""), now, by, how)
        batch.put_conversation(merge_conversation(conv, updates))
        linked_now.append(conv["id"])
    batch.records[problem["id"]] = problem
    return batch, problem, linked_now


def fix_problem(store: Any, slug: str, *, note: str, ref: str | None, by: str,
                now: datetime) -> tuple[Batch, Doc]:
    """Record that `slug` is fixed; every linked conversation reaches `fixed`."""
    problem = require(store, slug)
    # `fixed_at` and `fixed_ref` (the latest fix) are what the newsletter's "Fixes shipped"
    # reads; the events keep every fix.
    problem = {**with_event(problem, "fixed", now, by, note=note, ref=ref),
               "status": FIXED_STATUS, "fixed_at": iso(now), "fixed_ref": ref}
    batch = Batch()
    for cid in problem.get("conversations", []):
        conv = store.conversation(cid)
        if conv is not None:
            batch.put_conversation(merge_conversation(conv, reached(
                FIXED, now, f"{by}: problem {slug} fixed" + (f" ({ref})" if ref else ""))))
    batch.records[problem["id"]] = problem
    return batch, problem


def require(store: Any, slug: str) -> Doc:
    problem = store.record(record_id(slug))
    if problem is None:
        raise ProblemError(f"no problem named {slug!r} (see `mailloop problem list`)")
    return problem  # type: ignore[no-any-return]


def summary(problem: Doc) -> dict[str, Any]:
    """One problem as `problem list --format json` shows it."""
    opened = next((e for e in problem.get("events", []) if e["event"] == "opened"), None)
    fixed = last_event(problem, "fixed")
    customers = {e.get("customer") for e in problem.get("events", []) if e["event"] == "linked"}
    return {
        "slug": problem["slug"],
        "title": problem.get("title", ""),
        "status": problem.get("status", PROPOSED),
        "topic": problem.get("topic"),
        "match": list(problem.get("match", [])),
        "conversations": len(problem.get("conversations", [])),
        "customers": len(customers - {None}),
        "opened_at": opened["at"] if opened else None,
        "fixed_at": fixed["at"] if fixed else None,
        "fixed_ref": fixed.get("ref") if fixed else None,
        "events": list(problem.get("events", [])),
    }
