"""The repository interface the daemon, the commands and the reports use.

Documents are plain JSON-able dicts with a documented shape (see docs/store.md):
messages keyed by `key`, replies by `id` (their Message-ID), conversations by
`id`. Writes are grouped into a Batch and applied in one commit, so one message
(or one backlog batch) costs one write whatever the history holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Doc = dict[str, Any]


class StoreError(Exception):
    """The store cannot be read or written; the message says which file and why."""


@dataclass
class Batch:
    """Everything one commit writes. Later entries for the same id replace earlier ones."""

    messages: dict[str, Doc] = field(default_factory=dict)  # key -> message doc
    replies: dict[str, Doc] = field(default_factory=dict)  # id -> reply doc
    conversations: dict[str, Doc] = field(default_factory=dict)  # id -> conversation doc
    checkpoints: dict[str, Doc] = field(default_factory=dict)  # mailbox name -> checkpoint
    records: dict[str, Doc] = field(default_factory=dict)  # id -> small record (sends, events)

    def __bool__(self) -> bool:
        return bool(self.messages or self.replies or self.conversations or self.checkpoints
                    or self.records)

    def put_message(self, doc: Doc) -> None:
        self.messages[doc["key"]] = doc

    def put_reply(self, doc: Doc) -> None:
        self.replies[doc["id"]] = doc

    def put_conversation(self, doc: Doc) -> None:
        self.conversations[doc["id"]] = doc


CLAIMABLE_STATES = ("planned", "deferred")


def claimed(doc: Doc, owner: str, now: datetime) -> Doc | None:
    """The reply `doc` moved to `sending` by `owner`, or None when it is not due.

    The same transition as `records.with_state(doc, SENDING, now, attempts=n + 1)`,
    with the claimer's name in the history entry; every store claims through it.
    """
    stamp = now.isoformat(timespec="seconds")
    state = doc.get("state")
    if state == "deferred" and (doc.get("next_try") or "") > stamp:
        return None
    if state not in CLAIMABLE_STATES:
        return None
    attempts = int(doc.get("attempts") or 0) + 1
    entry = {"state": "sending", "at": stamp, "attempts": attempts, "owner": owner}
    return {**doc, "state": "sending", "attempts": attempts,
            "history": [*doc.get("history", []), entry]}


class Repository(Protocol):
    """What every store offers. Reads see everything committed so far."""

    # Messages
    def message(self, key: str) -> Doc | None: ...
    def messages_by_message_id(self, message_id: str) -> list[Doc]: ...
    def has_content(self, content_hash: str) -> bool: ...
    def iter_messages(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def parked(self) -> list[Doc]: ...
    def months(self) -> list[str]: ...

    # Conversations
    def conversation(self, conversation_id: str) -> Doc | None: ...
    def recent_conversation(self, sender: str, subject: str, since: datetime) -> Doc | None: ...

    # Replies
    def reply(self, reply_id: str) -> Doc | None: ...
    def replies(self, states: Iterable[str] | None = None) -> list[Doc]: ...
    def replies_to_since(self, address: str, since: datetime, kinds: Iterable[str]) -> int: ...
    def replies_since(self, since: datetime) -> int: ...
    def iter_replies(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def iter_conversations(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def claim_replies(self, ids: Iterable[str], owner: str, now: datetime) -> list[Doc]:
        """Move the given replies that are due (planned, or deferred whose next try has
        come) to `sending`, atomically, and return them as stored now. A reply someone
        else already claimed is left out: only the claimer sends it."""
        ...

    # Mailbox checkpoints and small records
    def checkpoint(self, mailbox: str) -> Doc | None: ...
    def record(self, record_id: str) -> Doc | None: ...
    def records(self, prefix: str) -> list[Doc]: ...

    def commit(self, batch: Batch) -> None: ...
    def close(self) -> None: ...
