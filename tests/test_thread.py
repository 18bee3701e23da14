"""thread: parents, duplicate Message-IDs, subject fallback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from mailloop.thread import subject_key, thread
from tests.helpers import NOW, inbound


class FakeView:
    """An in-memory stand-in for the store's read side (the real one is tested in test_store)."""

    def __init__(self) -> None:
        self.replies: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.conversations: list[dict[str, Any]] = []

    def reply(self, reply_id: str) -> dict[str, Any] | None:
        return self.replies.get(reply_id)

    def messages_by_message_id(self, message_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["message_id"] == message_id]

    def recent_conversation(self, sender: str, subject: str, since: datetime
                            ) -> dict[str, Any] | None:
        for conv in self.conversations:
            if conv["customer"] == sender and conv["subject_key"] == subject and (
                    conv["last_at"] >= since.isoformat()):
                return conv
        return None


@pytest.mark.parametrize(("subject", "key"), [
    ("Re: My order", "my order"),
    ("RE: Re: FW: My order", "my order"),
    ("AW: WG: Meine Bestellung", "meine bestellung"),
    ("SV: Vs: Min ordre", "min ordre"),
    ("Antw: Mijn bestelling", "mijn bestelling"),
    ("RE[2]: My order", "my order"),
    ("Re^3: My order", "my order"),
    ("[Support] Re: [Ticket #12] My   order", "my order"),
    ("Fwd: TR: RV: Mi pedido", "mi pedido"),
    ("回复: 订单", "订单"),
    ("Réf : Ma commande", "ma commande"),
])
def test_subject_key_strips_prefixes_in_many_languages(subject: str, key: str) -> None:
    assert subject_key(subject) == key


def test_new_message_starts_a_conversation() -> None:
    ref = thread(inbound(), FakeView())
    assert ref.is_new and ref.matched_by == "new"
    assert ref.conversation_id == thread(inbound(), FakeView()).conversation_id  # deterministic


def test_reply_to_our_reply_joins_its_conversation() -> None:
    view = FakeView()
    view.replies["mailloop.ack.1@example.com"] = {"conversation": "c1", "to": ["maria@example.org"]}
    msg = inbound(headers={"In-Reply-To": "<mailloop.ack.1@example.com>"})
    ref = thread(msg, view)
    assert (ref.conversation_id, ref.matched_by) == ("c1", "in_reply_to")


def test_references_are_walked_from_the_nearest_ancestor() -> None:
    view = FakeView()
    view.messages.append({"key": "k0", "message_id": "root@x", "conversation": "c-root",
                          "sender": "maria@example.org"})
    view.messages.append({"key": "k1", "message_id": "mid@x", "conversation": "c-mid",
                          "sender": "maria@example.org"})
    msg = inbound(headers={"References": "<root@x> <unknown@x> <mid@x>"})
    ref = thread(msg, view)
    assert (ref.conversation_id, ref.matched_by) == ("c-mid", "references")


def test_missing_parents_fall_back_to_older_references() -> None:
    view = FakeView()
    view.messages.append({"key": "k0", "message_id": "root@x", "conversation": "c-root",
                          "sender": "maria@example.org"})
    msg = inbound(headers={"In-Reply-To": "<gone@x>", "References": "<root@x> <gone@x>"})
    assert thread(msg, view).conversation_id == "c-root"


def test_in_reply_to_wins_when_it_disagrees_with_references() -> None:
    view = FakeView()
    view.messages.append({"key": "a", "message_id": "a@x", "conversation": "c-a",
                          "sender": "maria@example.org"})
    view.messages.append({"key": "b", "message_id": "b@x", "conversation": "c-b",
                          "sender": "maria@example.org"})
    msg = inbound(headers={"In-Reply-To": "<a@x>", "References": "<b@x>"})
    assert thread(msg, view).conversation_id == "c-a"


def test_duplicate_message_ids_from_different_senders_do_not_merge() -> None:
    view = FakeView()
    view.messages.append({"key": "k1", "message_id": "dup@x", "conversation": "c-other",
                          "sender": "someone.else@example.net"})
    # A new message reusing an id that another sender already used is a new conversation.
    msg = inbound(message_id="dup@x")
    assert thread(msg, view).is_new
    # A reply whose parent id is shared by two conversations goes to the sender's own.
    view.messages.append({"key": "k2", "message_id": "dup@x", "conversation": "c-mine",
                          "sender": "maria@example.org"})
    reply = inbound(message_id="r@x", headers={"In-Reply-To": "<dup@x>"})
    assert thread(reply, view).conversation_id == "c-mine"


def test_subject_fallback_same_sender_within_window() -> None:
    view = FakeView()
    view.conversations.append({"id": "c-subj", "customer": "maria@example.org",
                               "subject_key": "my order", "last_at": NOW.isoformat()})
    later = inbound(subject="Re: My order", received_at=NOW + timedelta(days=2))
    ref = thread(later, view)
    assert (ref.conversation_id, ref.matched_by) == ("c-subj", "subject")
    too_late = inbound(subject="Re: My order", received_at=NOW + timedelta(days=30))
    assert thread(too_late, view).is_new
    other_sender = inbound(sender="tom@example.net", subject="Re: My order")
    assert thread(other_sender, view).is_new
