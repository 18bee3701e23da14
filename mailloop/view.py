"""A read-only view of the store that also sees the batch being built.

Messages of one backlog batch are processed before the batch is written, so a
message must see the ones before it in the same batch (a follow-up threads onto
a conversation started three messages earlier; a rate limit counts replies
planned a moment ago).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from datetime import datetime

from mailloop.store.base import Batch, Doc, Repository


class BatchView:
    def __init__(self, repo: Repository, batch: Batch) -> None:
        self.repo = repo
        self.batch = batch
        # Replies are only ever added to a batch while it is built (see _pending).
        self._pending_seen = 0
        self._pending_to: dict[str, list[tuple[str, str]]] = {}
        self._pending_at: list[str] = []  # sorted, for a bisect
        # The batch's messages by Message-ID and conversations by (customer, subject
        # key), extended as the batch grows; both fields never change once written.
        self._messages_seen = 0
        self._by_message_id: dict[str, list[str]] = {}
        self._conversations_seen = 0
        self._by_customer_subject: dict[tuple[str, str], list[str]] = {}

    def reply(self, reply_id: str) -> Doc | None:
        return self.batch.replies.get(reply_id) or self.repo.reply(reply_id)

    def conversation(self, conversation_id: str) -> Doc | None:
        return self.batch.conversations.get(conversation_id) or self.repo.conversation(
            conversation_id)

    def message(self, key: str) -> Doc | None:
        return self.batch.messages.get(key) or self.repo.message(key)

    def messages_by_message_id(self, message_id: str) -> list[Doc]:
        found = {d["key"]: d for d in self.repo.messages_by_message_id(message_id)}
        messages = self.batch.messages
        if len(messages) != self._messages_seen:
            for key, doc in itertools.islice(messages.items(), self._messages_seen, None):
                self._by_message_id.setdefault(str(doc.get("message_id")), []).append(key)
            self._messages_seen = len(messages)
        for key in self._by_message_id.get(message_id, ()):
            found[key] = messages[key]
        return list(found.values())

    def recent_conversation(self, sender: str, subject: str, since: datetime) -> Doc | None:
        cutoff = since.isoformat()
        folded = sender.casefold()
        conversations = self.batch.conversations
        if len(conversations) != self._conversations_seen:
            for cid, doc in itertools.islice(conversations.items(), self._conversations_seen,
                                             None):
                where = (str(doc.get("customer")), str(doc.get("subject_key")))
                self._by_customer_subject.setdefault(where, []).append(cid)
            self._conversations_seen = len(conversations)
        for cid in reversed(self._by_customer_subject.get((folded, subject), ())):
            if conversations[cid].get("last_at", "") >= cutoff:
                return conversations[cid]
        return self.repo.recent_conversation(sender, subject, since)

    def record(self, record_id: str) -> Doc | None:
        return self.batch.records.get(record_id) or self.repo.record(record_id)

    def records(self, prefix: str) -> list[Doc]:
        found = {d["id"]: d for d in self.repo.records(prefix)}
        found.update({rid: {**d, "id": rid} for rid, d in self.batch.records.items()
                      if rid.startswith(prefix)})
        return list(found.values())

    def _pending(self) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
        """The batch's replies the store does not hold yet: (created_at, kind) per
        recipient, and every created_at. Kept up to date as the batch grows, so a
        backlog batch costs each message a look at its own recipient, not the batch."""
        replies = self.batch.replies
        if len(replies) != self._pending_seen:
            for rid, doc in itertools.islice(replies.items(), self._pending_seen, None):
                if self.repo.reply(rid) is not None:
                    continue
                at = str(doc.get("created_at", ""))
                bisect.insort(self._pending_at, at)
                for addr in {str(a).casefold() for a in doc.get("to", [])}:
                    self._pending_to.setdefault(addr, []).append((at, str(doc.get("kind"))))
            self._pending_seen = len(replies)
        return self._pending_to, self._pending_at

    def replies_to_since(self, address: str, since: datetime, kinds: Iterable[str]) -> int:
        wanted, folded, cutoff = set(kinds), address.casefold(), since.isoformat()
        by_address, _ = self._pending()
        pending = sum(1 for at, kind in by_address.get(folded, ())
                      if kind in wanted and at >= cutoff)
        return self.repo.replies_to_since(address, since, wanted) + pending

    def replies_since(self, since: datetime) -> int:
        cutoff = since.isoformat()
        _, stamps = self._pending()
        pending = len(stamps) - bisect.bisect_left(stamps, cutoff)
        return self.repo.replies_since(since) + pending
