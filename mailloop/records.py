"""record: turn an Outcome into the documents the store keeps.

Pure functions. The shapes written here are what reports read, so each message
carries what reports group by (month, reps, topics) and each reply carries its
whole outcome history. See docs/store.md for every field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailloop.compose import to_bytes
from mailloop.lifecycle import LISTENED, merge_conversation
from mailloop.model import (
    DeliveryReport,
    Outgoing,
    ReplyState,
    VerdictKind,
)
from mailloop.outcome import Outcome
from mailloop.store.base import Batch, Doc
from mailloop.thread import subject_key


def month_of(moment: datetime, timezone: str) -> str:
    """The month a message counts for: its arrival time in the configured zone."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def message_doc(outcome: Outcome, *, mailbox: str, timezone: str, now: datetime) -> Doc:
    msg, verdict, tags = outcome.inbound, outcome.verdict, outcome.tags
    doc: Doc = {
        "key": msg.key,
        "mailbox": mailbox,
        "message_id": msg.message_id,
        "content_hash": msg.content_hash,
        "received_at": iso(msg.received_at),
        "month": month_of(msg.received_at, timezone),
        "date_header": iso(msg.date) if msg.date else None,
        "sender": msg.sender.key if msg.sender else "",
        "sender_name": msg.sender.name if msg.sender else "",
        "subject": msg.subject,
        "text": msg.text,
        "in_reply_to": list(msg.in_reply_to),
        "references": list(msg.references[-20:]),
        "language": msg.content_language,
        "size": msg.size,
        "problems": list(msg.problems),
        "verdict": {"kind": verdict.kind.value, "rule": verdict.rule, "reason": verdict.reason},
        "conversation": outcome.thread.conversation_id if outcome.thread else None,
        "thread_by": outcome.thread.matched_by if outcome.thread else None,
        "tags": tags.labels,
        "topics": list(tags.topics),
        "credits": [{"rep": c.rep, "credited": c.credited, "reason": c.reason,
                     "evidence": c.evidence} for c in tags.credits],
        "confidence": round(tags.confidence, 3),
        "review": tags.review,
        "review_reasons": list(tags.review_reasons),
        "evidence": list(tags.evidence),
        "decision": outcome.decision.rule if outcome.decision else None,
        "held": list(outcome.decision.held) if outcome.decision else [],
        "replies": [r.message_id for r in outcome.replies],
        "status": "parked" if outcome.parked else "done",
        "processed_at": iso(now),
    }
    if msg.report is not None:
        doc["report"] = {"original_message_id": msg.report.original_message_id,
                         "recipient": msg.report.recipient, "status": msg.report.status,
                         "action": msg.report.action, "diagnostic": msg.report.diagnostic,
                         "envelope_token": msg.report.envelope_token}
    if outcome.staff is not None:
        staff = outcome.staff
        doc["staff"] = {"accepted": staff.accepted, "reason": staff.reason,
                        "manager": staff.manager.email if staff.manager else None,
                        "answers": staff.customer_key, "skip": staff.skip, "rep": staff.rep,
                        "mode": staff.mode, "problem": staff.problem,
                        "gesture": staff.gesture, "note": staff.note}
    if outcome.parked:
        doc["error"] = {"step": outcome.failed_step, "message": outcome.error,
                        "traceback": outcome.details.get("traceback", "")}
    return doc


def conversation_doc(outcome: Outcome, existing: Doc | None, *, timezone: str) -> Doc | None:
    ref = outcome.thread
    if ref is None:
        return None
    msg = outcome.inbound
    at = iso(msg.received_at)
    if existing is None:
        doc: Doc = {
            "id": ref.conversation_id,
            "customer": msg.sender.key if msg.sender else "",
            "customer_name": msg.sender.name if msg.sender else "",
            "subject": msg.subject,
            "subject_key": subject_key(msg.subject),
            "started_at": at,
            "month": month_of(msg.received_at, timezone),
            "first_key": msg.key,
            "messages": [],
            "tags": [],
            "topics": [],
            "state": "open",
            "stages": {},
        }
    else:
        doc = {**existing, "messages": list(existing.get("messages", [])),
               "tags": list(existing.get("tags", [])), "topics": list(existing.get("topics", [])),
               "stages": dict(existing.get("stages", {}))}
    if msg.key not in doc["messages"]:
        doc["messages"].append(msg.key)
    doc["last_at"] = max(doc.get("last_at", at), at)
    for tag in outcome.tags.labels:
        if tag not in doc["tags"]:
            doc["tags"].append(tag)
    for topic in outcome.tags.topics:
        if topic not in doc["topics"]:
            doc["topics"].append(topic)
    if outcome.tags.ofora and LISTENED not in doc["stages"]:
        doc["stages"][LISTENED] = at
        doc["stage_by"] = {**doc.get("stage_by", {}), LISTENED: "mailloop: received, tagged "
                           + ("+".join(outcome.tags.labels))}
    return doc


def reply_doc(out: Outgoing, *, month: str, now: datetime, customer: str) -> Doc:
    raw = to_bytes(out, now=now)
    return {
        "id": out.message_id,
        "kind": out.kind,
        "template": out.template,
        "locale": out.locale,
        "template_hash": out.template_hash,
        "state": ReplyState.PLANNED.value,
        "history": [{"state": ReplyState.PLANNED.value, "at": iso(now)}],
        "to": [a.email for a in out.to],
        "customer": customer,
        "subject": out.subject,
        "answers": out.answers,
        "conversation": out.conversation_id,
        "created_at": iso(now),
        "month": month,
        "attempts": 0,
        "next_try": None,
        "mail_from": out.sender.email,
        "raw": raw.decode("ascii", errors="surrogateescape"),
    }


def with_state(doc: Doc, state: ReplyState, now: datetime, **details: Any) -> Doc:
    """A copy of a reply doc moved to `state`, its history extended."""
    entry: dict[str, Any] = {"state": state.value, "at": iso(now)}
    entry.update({k: v for k, v in details.items() if v not in (None, "", {})})
    new = {**doc, "state": state.value, "history": [*doc.get("history", []), entry]}
    for key in ("response", "refused", "error", "next_try", "attempts"):
        if key in details:
            new[key] = details[key]
    return new


def record_outcome(outcome: Outcome, batch: Batch, view: Any, *, mailbox: str, timezone: str,
                   now: datetime) -> None:
    """Add everything `outcome` needs written to `batch`."""
    msg_doc = message_doc(outcome, mailbox=mailbox, timezone=timezone, now=now)
    batch.put_message(msg_doc)
    if outcome.thread is not None:
        cid = outcome.thread.conversation_id
        existing = batch.conversations.get(cid) or view.conversation(cid)
        conv = conversation_doc(outcome, existing, timezone=timezone)
        if conv is not None:
            batch.put_conversation(merge_conversation(conv, outcome.conversation_updates))
    batch.records.update(outcome.records)
    for updated in outcome.message_updates:
        batch.put_message(updated)
    for out in outcome.replies:
        if batch.replies.get(out.message_id) or view.reply(out.message_id):
            continue  # already planned: a re-run of the same decision
        batch.put_reply(reply_doc(out, month=msg_doc["month"], now=now,
                                  customer=msg_doc["sender"]))
    report = outcome.inbound.report
    if outcome.verdict.kind is VerdictKind.BOUNCE and report and report.original_message_id:
        record_bounce(report, batch, view, key=msg_doc["key"], now=now)


def record_bounce(report: DeliveryReport, batch: Batch, view: Any, *, key: str,
                  now: datetime) -> None:
    """A delivery report against the reply it concerns: `failed` turns the reply `bounced`;
    a warning (`delayed`) or a success notice is kept in its history, its state unchanged."""
    rid = report.original_message_id or ""
    doc = batch.replies.get(rid) or view.reply(rid)
    if doc is None or doc.get("state") == ReplyState.BOUNCED.value:
        return
    details = {"status": report.status, "recipient": report.recipient,
               "diagnostic": report.diagnostic, "bounce": key,
               "envelope_token": report.envelope_token}
    action = (report.action or "failed").lower()
    if action in {"delayed", "delivered", "relayed", "expanded"}:
        batch.put_reply(with_state(doc, ReplyState(doc["state"]), now, report=action,
                                   **details))
        return
    batch.put_reply(with_state(doc, ReplyState.BOUNCED, now, **details))


def due_replies(replies: Iterable[Doc], now: datetime) -> Iterator[Doc]:
    """Replies ready to go: planned ones, and deferred ones whose next try has come."""
    stamp = iso(now)
    for doc in replies:
        state = doc.get("state")
        if state == ReplyState.PLANNED.value or (
                state == ReplyState.DEFERRED.value and (doc.get("next_try") or "") <= stamp):
            yield doc


def retry_delay(attempts: int, base: float, cap: float) -> timedelta:
    return timedelta(seconds=min(cap, base * (2 ** max(0, attempts - 1))))
