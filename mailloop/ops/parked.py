"""Parked mail: list, show, retry after a fix, discard with a reason.

A message is parked when a step failed on it (an unreadable message, a template
error, a broken store); its raw bytes are kept under `<state_dir>/parked/`. A retry
runs it through the pipeline again, exactly as if it had just arrived (same key,
same arrival time), in arrival order; it is answered if the cause is fixed, and
stays parked with the new error if not. A discard keeps the message's record with
the reason, marked `discarded`, and removes its raw copy.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailloop.ops.requests import RequestError, handler
from mailloop.parse import parse
from mailloop.pipeline import process
from mailloop.records import iso, record_outcome
from mailloop.store.base import Batch, Doc, Repository
from mailloop.view import BatchView

if TYPE_CHECKING:
    from mailloop.daemon import Daemon

log = logging.getLogger("mailloop")


def raw_path(state_path: Path, key: str) -> Path:
    """Where a parked message's raw bytes are kept, for a retry after a fix."""
    return state_path / "parked" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".eml")


def find(store: Repository, ident: str) -> Doc | None:
    """A parked (or discarded) message by its key or Message-ID."""
    ident = ident.strip().strip("<>")
    doc = store.message(ident)
    if doc is not None:
        return doc
    found = [d for d in store.messages_by_message_id(ident)
             if d.get("status") in ("parked", "discarded")]
    return found[0] if found else None


def summary(doc: Doc, state_path: Path) -> dict[str, Any]:
    """The JSON shape of one parked message in `mailloop parked list --format json`."""
    error = doc.get("error") or {}
    return {
        "id": doc["key"],
        "message_id": doc.get("message_id"),
        "received_at": doc.get("received_at"),
        "sender": doc.get("sender"),
        "subject": doc.get("subject", ""),
        "status": doc.get("status"),
        "step": error.get("step"),
        "error": error.get("message"),
        "retries": len(doc.get("retries", [])),
        "raw_kept": raw_path(state_path, doc["key"]).exists(),
    }


def retry(daemon: Daemon, keys: list[str]) -> list[dict[str, Any]]:
    """Run parked messages through the pipeline again, in arrival order."""
    store = daemon.store
    docs: list[Doc] = []
    for key in keys:
        doc = find(store, key)
        if doc is None or doc.get("status") != "parked":
            raise RequestError(f"no parked message {key!r} (see `mailloop parked list`)")
        docs.append(doc)
    docs.sort(key=lambda d: (d.get("received_at", ""), d["key"]))
    results = []
    for doc in docs:
        key = doc["key"]
        raw = daemon.parked_raw(key)
        if raw is None:
            results.append({"id": key, "status": "parked",
                            "error": "its raw copy is gone: it cannot be retried"})
            continue
        now = daemon.clock()
        batch = Batch()
        view = BatchView(store, batch)
        received = datetime.fromisoformat(doc["received_at"])
        outcome = process(parse(raw, key=key, received_at=received), daemon.tools, view, now)
        record_outcome(outcome, batch, view, mailbox=doc.get("mailbox", daemon.mailbox.name),
                       timezone=daemon.settings.timezone, now=now)
        new = batch.messages[key]
        previous = (doc.get("error") or {}).get("message")
        new["retries"] = [*doc.get("retries", []), {"at": iso(now), "previous_error": previous}]
        store.commit(batch)
        if not outcome.parked:
            raw_path(daemon.settings.state_path, key).unlink(missing_ok=True)
        log.info("retried parked %s: %s", key, new["status"],
                 extra={"message_id": new.get("message_id")})
        results.append({"id": key, "status": new["status"], "verdict": new["verdict"]["kind"],
                        "replies": new.get("replies", []),
                        "error": (new.get("error") or {}).get("message")})
    return results


def discard(daemon: Daemon, key: str, reason: str, by: str = "operator") -> dict[str, Any]:
    store = daemon.store
    doc = find(store, key)
    if doc is None or doc.get("status") != "parked":
        raise RequestError(f"no parked message {key!r} (see `mailloop parked list`)")
    if not reason.strip():
        raise RequestError("a discard needs --reason")
    now = daemon.clock()
    batch = Batch()
    batch.put_message({**doc, "status": "discarded",
                       "discarded": {"at": iso(now), "reason": reason, "by": by}})
    store.commit(batch)
    raw_path(daemon.settings.state_path, doc["key"]).unlink(missing_ok=True)
    log.info("discarded parked %s: %s", doc["key"], reason,
             extra={"message_id": doc.get("message_id")})
    return {"id": doc["key"], "status": "discarded", "reason": reason}


@handler("parked-retry")
def _retry_request(daemon: Daemon, params: dict[str, Any]) -> dict[str, Any]:
    keys = [d["key"] for d in daemon.store.parked()] if params.get("all") else \
        list(params.get("ids", []))
    return {"results": retry(daemon, keys)}


@handler("parked-discard")
def _discard_request(daemon: Daemon, params: dict[str, Any]) -> dict[str, Any]:
    return discard(daemon, str(params["id"]), str(params.get("reason", "")),
                   by=str(params.get("by", "operator")))
