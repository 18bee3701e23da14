"""explain: what mailloop makes of a message and why, step by step.

Runs the same pure steps as the daemon (parse, screen, thread, classify, decide,
render) against a read-only view of the store, and reports each step's result and
its reason. Nothing is sent and nothing is recorded: the store is only read, and
where no signing secret exists yet a throwaway one is used rather than creating it.
Any input, however malformed, gives an object; a failure shows in `problems`.
"""

from __future__ import annotations

import secrets
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailloop.classify import Classifier
from mailloop.config import Settings
from mailloop.decide import tag_class
from mailloop.model import ActionKind, Inbound, Outgoing, VerdictKind
from mailloop.outcome import Outcome
from mailloop.parse import parse
from mailloop.pipeline import process
from mailloop.render.live import LiveTemplates
from mailloop.store.base import Batch, Doc, Repository
from mailloop.tokens import existing_secret
from mailloop.tools import Tools
from mailloop.view import BatchView

MAX_TEXT = 4000


class EmptyStore:
    """The view of a store that holds nothing yet (no store file exists)."""

    def message(self, key: str) -> Doc | None:
        return None

    def messages_by_message_id(self, message_id: str) -> list[Doc]:
        return []

    def conversation(self, conversation_id: str) -> Doc | None:
        return None

    def recent_conversation(self, sender: str, subject: str, since: datetime) -> Doc | None:
        return None

    def reply(self, reply_id: str) -> Doc | None:
        return None

    def replies_to_since(self, address: str, since: datetime, kinds: Any) -> int:
        return 0

    def replies_since(self, since: datetime) -> int:
        return 0


def _secret(settings: Settings) -> bytes:
    """The daemon's key when readable; explain never creates one (nothing it signs is sent)."""
    try:
        key = existing_secret(settings)
    except OSError:
        key = None
    return key if key is not None else secrets.token_bytes(32)


def make_tools(settings: Settings) -> tuple[Tools, list[str]]:
    problems: list[str] = []
    templates = LiveTemplates.from_settings(settings)
    if templates.error:
        problems.append(f"templates: {templates.error}")
    return Tools(settings=settings, classifier=Classifier.from_settings(settings),
                 templates=templates, secret=_secret(settings)), problems


def explain_bytes(raw: bytes, *, file: str, tools: Tools, store: Repository | EmptyStore,
                  key: str | None = None, received_at: datetime | None = None,
                  now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    key = key or f"explain:{file}"
    try:
        msg = parse(raw, key=key, received_at=received_at or now)
        view = BatchView(store, Batch())  # type: ignore[arg-type]
        outcome = process(msg, tools, view, now)
        return describe(outcome, file=file)
    except Exception as exc:  # the steps never raise; this guards explain itself
        return failed(file, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=5))


def explain_file(path: Path, *, tools: Tools, store: Repository | EmptyStore,
                 now: datetime | None = None) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return failed(str(path), f"cannot read the file: {exc.strerror or exc}")
    return explain_bytes(raw, file=str(path), tools=tools, store=store, now=now)


def failed(file: str, problem: str, detail: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": file, "message_id": None, "from": None, "subject": None,
        "problems": [problem], "visible_text": "",
        "screen": {"verdict": "park", "rule": "unreadable", "reason": problem},
        "bounce": None, "thread": None, "tags": None, "reps": [], "topics": [],
        "actions": [], "replies": [], "parked": {"step": "explain", "error": problem},
    }
    if detail:
        out["traceback"] = detail
    return out


def describe(outcome: Outcome, *, file: str) -> dict[str, Any]:
    msg: Inbound = outcome.inbound
    verdict, tags, ref = outcome.verdict, outcome.tags, outcome.thread
    report = msg.report
    answered = verdict.kind is VerdictKind.ANSWER
    text = msg.text
    out: dict[str, Any] = {
        "file": file,
        "message_id": msg.message_id,
        "from": msg.sender.email if msg.sender else None,
        "subject": msg.subject,
        "problems": list(msg.problems),
        "visible_text": text[:MAX_TEXT] + (" …" if len(text) > MAX_TEXT else ""),
        "screen": {"verdict": verdict.kind.value, "rule": verdict.rule,
                   "reason": verdict.reason},
        "bounce": None if report is None else {
            "original_message_id": report.original_message_id,
            "recipient": report.recipient, "status": report.status,
            "action": report.action, "diagnostic": report.diagnostic},
        "thread": None if ref is None else {
            "conversation": ref.conversation_id, "by": ref.matched_by, "new": ref.is_new},
        "tags": None if not answered else {
            "labels": tags.labels, "class": tag_class(tags),
            "confidence": round(tags.confidence, 3), "review": tags.review,
            "review_reasons": list(tags.review_reasons), "evidence": list(tags.evidence)},
        "reps": [{"rep": c.rep, "credited": c.credited, "reason": c.reason,
                  "evidence": c.evidence} for c in tags.credits],
        "topics": list(tags.topics),
        "actions": [],
        "replies": [_reply(r) for r in outcome.replies],
        "parked": None,
    }
    if outcome.decision is not None:
        out["decision"] = {"rule": outcome.decision.rule, "held": list(outcome.decision.held)}
        out["actions"] = [{"action": a.kind.value, "template": a.template,
                           "to": [t.email for t in a.to], "reason": a.reason}
                          for a in outcome.decision.actions]
    if outcome.staff is not None:
        out["staff"] = {"accepted": outcome.staff.accepted, "reason": outcome.staff.reason,
                        "manager": outcome.staff.manager.email if outcome.staff.manager
                        else None}
        out["actions"] += [{"action": r.kind, "template": r.template,
                            "to": [t.email for t in r.to], "reason": "staff reply"}
                           for r in outcome.replies]
    if outcome.parked:
        out["parked"] = {"step": outcome.failed_step, "error": outcome.error}
        out["actions"] = [{"action": "park", "template": None, "to": [],
                           "reason": outcome.error or verdict.reason}]
    return out


def _reply(out: Outgoing) -> dict[str, Any]:
    return {"kind": out.kind, "template": out.template, "locale": out.locale,
            "to": [a.email for a in out.to], "subject": out.subject,
            "message_id": out.message_id}


def from_record(doc: Doc) -> dict[str, Any]:
    """What the store recorded about a message whose raw bytes are no longer kept."""
    verdict = doc.get("verdict") or {}
    error = doc.get("error") or {}
    return {
        "file": None, "stored": doc.get("key"), "as_recorded": True,
        "message_id": doc.get("message_id"), "from": doc.get("sender"),
        "subject": doc.get("subject"), "problems": list(doc.get("problems", [])),
        "visible_text": doc.get("text", ""),
        "screen": {"verdict": verdict.get("kind"), "rule": verdict.get("rule"),
                   "reason": verdict.get("reason")},
        "bounce": {k: (doc.get("report") or {}).get(k) for k in
                   ("original_message_id", "recipient", "status", "action", "diagnostic")}
        if doc.get("report") else None,
        "thread": {"conversation": doc.get("conversation"), "by": doc.get("thread_by"),
                   "new": doc.get("thread_by") == "new"} if doc.get("conversation") else None,
        "tags": {"labels": doc.get("tags", []), "confidence": doc.get("confidence"),
                 "review": doc.get("review"), "review_reasons": doc.get("review_reasons", []),
                 "evidence": doc.get("evidence", [])},
        "reps": doc.get("credits", []), "topics": doc.get("topics", []),
        "decision": {"rule": doc.get("decision"), "held": doc.get("held", [])},
        "actions": [{"action": ActionKind.ACKNOWLEDGE.value if r.startswith("mailloop.ack")
                     else "reply", "reply": r} for r in doc.get("replies", [])],
        "replies": doc.get("replies", []),
        "parked": {"step": error.get("step"), "error": error.get("message")} if error else None,
        "status": doc.get("status"), "processed_at": doc.get("processed_at"),
    }
