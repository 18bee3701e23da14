"""Data protection: body retention, `forget` (erasure) and `export` (access).

Retention (`[retention] body_days`, default 365): the daemon removes the bodies of
messages older than that: the visible text, the subject, the sender's display name,
threading headers, the words that drove the tags (evidence) and the rendered
replies (`raw`, subject), and the raw copy of a parked message. What reports count
stays: month, tags, topics, credited reps, verdicts, reply states.

`forget ADDRESS` erases one customer: every message they sent, every reply to them
and every conversation they started keeps only its anonymous counting fields (its
sender becomes a random `forgotten-…` pseudonym, not derived from the address, so
their messages still count once per customer); replies still waiting to go out are
cancelled (`failed`); their parked raw copies are deleted; any other document or
record mentioning the address has it replaced by `[forgotten]`. The TinyDB files
are rewritten (segments, main file, journal), so no trace is left in them.

`export ADDRESS` prints everything held about one customer, as JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailloop.config import Settings
from mailloop.ops.parked import raw_path
from mailloop.ops.requests import handler
from mailloop.records import iso
from mailloop.store.base import Batch, Doc, Repository
from mailloop.store.tinydb import TinyStore

if TYPE_CHECKING:
    from mailloop.daemon import Daemon

log = logging.getLogger("mailloop")

SCRUBBED = "[forgotten]"
PENDING = {"planned", "deferred", "uncertain"}

MESSAGE_KEEP = ("key", "mailbox", "month", "received_at", "verdict", "conversation", "thread_by",
                "tags", "topics", "credits", "confidence", "review", "decision", "replies",
                "status", "processed_at", "language", "size", "content_hash", "staff",
                "discarded", "retries")
REPLY_KEEP = ("id", "kind", "template", "locale", "template_hash", "state", "history",
              "answers", "conversation", "created_at", "month", "attempts", "next_try",
              "mail_from")
CONVERSATION_KEEP = ("id", "started_at", "last_at", "month", "first_key", "messages", "tags",
                     "topics", "state", "stages")
HISTORY_KEEP = ("state", "at", "attempts", "owner", "report")


def _mentions(value: Any, folded: str) -> bool:
    return folded in json.dumps(value, ensure_ascii=False).casefold()


def scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    """`value` with every occurrence of the address replaced, at any depth."""
    if isinstance(value, str):
        return pattern.sub(SCRUBBED, value)
    if isinstance(value, list):
        return [scrub(v, pattern) for v in value]
    if isinstance(value, dict):
        return {scrub(k, pattern): scrub(v, pattern) for k, v in value.items()}
    return value


def _forgotten_id(text: str) -> str:
    return f"forgotten-{hashlib.sha256(text.encode()).hexdigest()[:16]}@forgotten.invalid"


def _message(doc: Doc, pseudonym: str, stamp: str) -> Doc:
    new = {k: doc[k] for k in MESSAGE_KEEP if k in doc}
    new["credits"] = [{k: c.get(k) for k in ("rep", "credited", "reason")}
                      for c in doc.get("credits", [])]
    staff = doc.get("staff")
    if isinstance(staff, dict):
        new["staff"] = {k: staff.get(k) for k in ("accepted", "manager", "rep", "skip")}
    new["message_id"] = _forgotten_id(str(doc.get("message_id", "")))
    new["sender"] = pseudonym
    new["forgotten_at"] = stamp
    if new.get("status") == "parked":
        new["status"] = "discarded"
        new["discarded"] = {"at": stamp, "reason": "the customer's data was erased",
                            "by": "forget"}
    return new


def _reply(doc: Doc, pseudonym: str, stamp: str) -> Doc:
    new = {k: doc[k] for k in REPLY_KEEP if k in doc}
    new["history"] = [{k: h[k] for k in HISTORY_KEEP if k in h} for h in doc.get("history", [])]
    new["to"], new["customer"], new["forgotten_at"] = [], pseudonym, stamp
    if new.get("state") in PENDING:  # never send a reply whose recipient is erased
        new["state"] = "failed"
        new["error"] = "cancelled: the customer's data was erased"
        new["history"].append({"state": "failed", "at": stamp, "error": new["error"]})
    return new


def _conversation(doc: Doc, pseudonym: str, stamp: str) -> Doc:
    new = {k: doc[k] for k in CONVERSATION_KEEP if k in doc}
    new["customer"], new["forgotten_at"] = pseudonym, stamp
    return new


def forget(store: Repository, address: str, state_path: Path, now: datetime) -> dict[str, Any]:
    """Erase one customer (see the module's doc); returns what was done, by collection."""
    folded = address.strip().casefold()
    if "@" not in folded:
        raise ValueError(f"{address!r} is not an email address")
    pattern = re.compile(re.escape(folded), re.IGNORECASE)
    pseudonym = f"forgotten-{secrets.token_hex(6)}"
    stamp = iso(now)
    done: dict[str, Any] = {"address": address, "messages": 0, "replies": 0,
                            "conversations": 0, "cancelled_replies": 0, "records": 0,
                            "other_documents_scrubbed": 0, "parked_files_deleted": 0}
    batch = Batch()
    for doc in store.iter_messages():
        if not _mentions(doc, folded):
            continue
        if str(doc.get("sender", "")).casefold() == folded:
            if raw_path(state_path, doc["key"]).exists():
                raw_path(state_path, doc["key"]).unlink()
                done["parked_files_deleted"] += 1
            batch.put_message(scrub(_message(doc, pseudonym, stamp), pattern))
            done["messages"] += 1
        else:
            batch.put_message(scrub(doc, pattern))
            done["other_documents_scrubbed"] += 1
    for doc in store.iter_replies():
        if not _mentions(doc, folded):
            continue
        if folded in {str(a).casefold() for a in doc.get("to", [])} or \
                str(doc.get("customer", "")).casefold() == folded:
            new = _reply(doc, pseudonym, stamp)
            done["cancelled_replies"] += new.get("state") != doc.get("state")
            batch.put_reply(scrub(new, pattern))
            done["replies"] += 1
        else:
            batch.put_reply(scrub(doc, pattern))
            done["other_documents_scrubbed"] += 1
    for doc in _conversations(store):
        if not _mentions(doc, folded):
            continue
        if str(doc.get("customer", "")).casefold() == folded:
            batch.put_conversation(scrub(_conversation(doc, pseudonym, stamp), pattern))
            done["conversations"] += 1
        else:
            batch.put_conversation(scrub(doc, pattern))
            done["other_documents_scrubbed"] += 1
    store.commit(batch)

    def change_record(record: Doc) -> Doc | None:
        if not _mentions(record, folded):
            return record
        done["records"] += 1
        new: Doc = dict(scrub(record, pattern))
        if new.get("id") != record.get("id"):
            new["id"] = f"forgotten:{hashlib.sha256(str(record.get('id')).encode()).hexdigest()}"
        return new

    if isinstance(store, TinyStore):
        store.rewrite_records(change_record)
        store.reindex()  # the journal is rewritten: no lookup value of theirs is left
    else:
        merged = Batch()
        for record in store.records(""):
            changed = change_record(record)
            if changed is not None and changed != record and \
                    changed.get("id") == record.get("id"):
                merged.records[str(record["id"])] = changed
        store.commit(merged)
    log.info("forgot a customer: %d messages, %d replies, %d conversations",
             done["messages"], done["replies"], done["conversations"])
    return done


def _conversations(store: Repository) -> list[Doc]:
    iterate = getattr(store, "iter_conversations", None)
    return list(iterate()) if iterate is not None else []


def export(store: Repository, address: str, state_path: Path, now: datetime) -> dict[str, Any]:
    """Everything held about one customer."""
    folded = address.strip().casefold()
    messages = [d for d in store.iter_messages() if str(d.get("sender", "")).casefold() == folded]
    replies = [d for d in store.iter_replies()
               if folded in {str(a).casefold() for a in d.get("to", [])}
               or str(d.get("customer", "")).casefold() == folded]
    conversations = [d for d in _conversations(store)
                     if str(d.get("customer", "")).casefold() == folded]
    records = [r for r in store.records("") if _mentions(r, folded)]
    parked = []
    for doc in messages:
        path = raw_path(state_path, doc["key"])
        if path.exists():
            parked.append({"id": doc["key"], "file": str(path),
                           "raw": path.read_bytes().decode("utf-8", errors="replace")})
    return {"address": address, "exported_at": iso(now), "messages": messages,
            "replies": replies, "conversations": conversations, "records": records,
            "parked": parked}


@handler("forget")
def _forget_request(daemon: Daemon, params: dict[str, Any]) -> dict[str, Any]:
    return forget(daemon.store, str(params["address"]), daemon.settings.state_path,
                  daemon.clock())


# ---- retention -------------------------------------------------------------

def sweep(store: Repository, settings: Settings, now: datetime, *,
          chunk: int = 500) -> dict[str, int]:
    """Remove the bodies of messages older than `[retention] body_days`."""
    days = settings.retention.body_days
    counts = {"messages": 0, "replies": 0, "conversations": 0, "parked_files_deleted": 0}
    if days <= 0:
        return counts
    cutoff = now - timedelta(days=days)
    stamp, cut = iso(now), iso(cutoff)
    state = store.record("retention") or {}
    through = str(state.get("through", ""))
    cutoff_month = cutoff.strftime("%Y-%m")
    months = [m for m in store.months() if through < m <= cutoff_month]
    batch = Batch()
    for month in months:
        old: set[str] = set()  # messages whose bodies are gone: their replies' go too
        for doc in store.iter_messages([month]):
            if str(doc.get("received_at", "")) < cut:
                old.add(doc["key"])
            if doc.get("bodies_removed_at") or str(doc.get("received_at", "")) >= cut:
                continue
            batch.put_message(_strip_message(doc, stamp, settings.state_path, counts, days))
            counts["messages"] += 1
            if len(batch.messages) >= chunk:
                store.commit(batch)
                batch = Batch()
        for doc in store.iter_replies([month]):
            if doc.get("bodies_removed_at") or doc.get("state") in PENDING | {"sending"} or (
                    str(doc.get("created_at", "")) >= cut and doc.get("answers") not in old):
                continue
            new = {k: v for k, v in doc.items() if k not in ("raw", "subject")}
            batch.put_reply({**new, "bodies_removed_at": stamp})
            counts["replies"] += 1
        for doc in _conversations_of(store, month):
            if doc.get("bodies_removed_at") or str(doc.get("last_at", "")) >= cut:
                continue
            new = {k: v for k, v in doc.items() if k not in ("subject", "customer_name")}
            batch.put_conversation({**new, "bodies_removed_at": stamp})
            counts["conversations"] += 1
    # A month wholly before the cutoff is done for good; the cutoff's own month is not.
    finished = [m for m in months if m < cutoff_month]
    if finished:
        batch.records["retention"] = {"through": max(finished), "at": stamp}
    store.commit(batch)
    if counts["messages"] or counts["replies"]:
        log.info("retention: removed the bodies of %d messages and %d replies older than "
                 "%d days", counts["messages"], counts["replies"], days)
    return counts


def _conversations_of(store: Repository, month: str) -> list[Doc]:
    iterate = getattr(store, "iter_conversations", None)
    return list(iterate([month])) if iterate is not None else []


def _strip_message(doc: Doc, stamp: str, state_path: Path, counts: dict[str, int],
                   days: int) -> Doc:
    new = {k: v for k, v in doc.items()
           if k not in ("text", "subject", "sender_name", "references", "in_reply_to",
                        "evidence")}
    new["credits"] = [{k: v for k, v in c.items() if k != "evidence"}
                      for c in doc.get("credits", [])]
    if isinstance(new.get("error"), dict):
        new["error"] = {k: v for k, v in new["error"].items() if k != "traceback"}
    path = raw_path(state_path, doc["key"])
    if path.exists():
        path.unlink()
        counts["parked_files_deleted"] += 1
    if new.get("status") == "parked":
        new["status"] = "discarded"
        new["discarded"] = {"at": stamp, "by": "retention",
                            "reason": f"its body was removed after {days} days"}
    new["bodies_removed_at"] = stamp
    return new


class RetentionTask:
    """A daemon task: sweep at start, then every few hours."""

    def __init__(self, every: float = 6 * 3600) -> None:
        self.every = every
        self.last = float("-inf")

    def __call__(self, daemon: Daemon) -> None:
        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        sweep(daemon.store, daemon.settings, daemon.clock())
