"""A read-only view of the store that also sees the batch being built.

Messages of one backlog batch are processed before the batch is written, so a
message must see the ones before it in the same batch (a follow-up threads onto
a conversation started three messages earlier; a rate limit counts replies
planned a moment ago).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from mailloop.store.base import Batch, Doc, Repository


class BatchView:
    def __init__(self, repo: Repository, batch: Batch) -> None:
        self.repo = repo
        self.batch = batch

    def reply(self, reply_id: str) -> Doc | None:
        return self.batch.replies.get(reply_id) or self.repo.reply(reply_id)

    def conversation(self, conversation_id: str) -> Doc | None:
        return self.batch.conversations.get(conversation_id) or self.repo.conversation(
            conversation_id)

    def message(self, key: str) -> Doc | None:
        return self.batch.messages.get(key) or self.repo.message(key)

    def messages_by_message_id(self, message_id: str) -> list[Doc]:
        found = {d["key"]: d for d in self.repo.messages_by_message_id(message_id)}
        for doc in self.batch.messages.values():
            if doc.get("message_id") == message_id:
                found[doc["key"]] = doc
        return list(found.values())

    def recent_conversation(self, sender: str, subject: str, since: datetime) -> Doc | None:
        cutoff = since.isoformat()
        folded = sender.casefold()
        for doc in reversed(list(self.batch.conversations.values())):
            if (doc.get("customer") == folded and doc.get("subject_key") == subject
                    and doc.get("last_at", "") >= cutoff):
                return doc
        return self.repo.recent_conversation(sender, subject, since)

    def record(self, record_id: str) -> Doc | None:
        return self.batch.records.get(record_id) or self.repo.record(record_id)

    def records(self, prefix: str) -> list[Doc]:
        found = {d["id"]: d for d in self.repo.records(prefix)}
        found.update({rid: {**d, "id": rid} for rid, d in self.batch.records.items()
                      if rid.startswith(prefix)})
        return list(found.values())

    def _pending_replies(self) -> Iterable[Doc]:
        return (d for rid, d in self.batch.replies.items() if self.repo.reply(rid) is None)

    def replies_to_since(self, address: str, since: datetime, kinds: Iterable[str]) -> int:
        wanted, folded, cutoff = set(kinds), address.casefold(), since.isoformat()
        pending = sum(1 for d in self._pending_replies()
                      if d.get("kind") in wanted and d.get("created_at", "") >= cutoff
                      and folded in {str(a).casefold() for a in d.get("to", [])})
        return self.repo.replies_to_since(address, since, wanted) + pending

    def replies_since(self, since: datetime) -> int:
        cutoff = since.isoformat()
        pending = sum(1 for d in self._pending_replies() if d.get("created_at", "") >= cutoff)
        return self.repo.replies_since(since) + pending
