"""thread: which conversation a message belongs to.

In order of trust: the signed token in our reply address; the message's own
parents (In-Reply-To, then References from the nearest ancestor outwards, as
JWZ threading does), matched against our replies and the messages we received;
and only then the normalised subject from the same sender within a window. A
Message-ID is only trusted as a parent when it points at one conversation
involving this sender, so a Message-ID that two senders happen to share cannot
merge their conversations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from mailloop.model import Inbound, ThreadRef

SUBJECT_WINDOW = timedelta(days=14)

# Reply and forward prefixes in the languages and clients seen in the wild,
# with counters ("RE[2]:", "Re^2:", "AW (3):") and list tags ("[Support]").
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|vb|antw|antwort|doorst|rv|r|tr|ref|réf|odp|pd|ynt|"
    r"yml|atb|vá|továbbítás|回复|回覆|转发|答复)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]|\[[^\]]{0,40}\])\s*",
    re.IGNORECASE,
)


class ThreadView(Protocol):
    def reply(self, reply_id: str) -> dict[str, Any] | None: ...
    def messages_by_message_id(self, message_id: str) -> list[dict[str, Any]]: ...
    def recent_conversation(self, sender: str, subject: str,
                            since: datetime) -> dict[str, Any] | None: ...


def subject_key(subject: str) -> str:
    """The subject with reply/forward prefixes and list tags removed, folded."""
    previous = None
    text = subject
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text, count=1)
    return " ".join(text.split()).casefold()


def new_conversation_id(msg: Inbound) -> str:
    digest = hashlib.sha256(f"{msg.key}\0{msg.message_id}".encode()).hexdigest()
    return f"c{digest[:11]}"


def thread(msg: Inbound, view: ThreadView, *, token_conversation: str | None = None) -> ThreadRef:
    """The conversation for `msg`. `token_conversation` comes from a verified token."""
    if token_conversation:
        return ThreadRef(token_conversation, "token", is_new=False)
    sender = msg.sender.key if msg.sender else ""

    for label, ids in (("in_reply_to", msg.in_reply_to), ("references", reversed(msg.references))):
        found = _conversation_of_parents(ids, sender, view)
        if found:
            return ThreadRef(found, label, is_new=False)  # type: ignore[arg-type]

    # The message itself may be one we already hold (a resend or a copy): same sender only.
    for doc in view.messages_by_message_id(msg.message_id):
        if doc.get("sender") == sender and doc.get("conversation"):
            return ThreadRef(doc["conversation"], "message_id", is_new=False)

    key = subject_key(msg.subject)
    if key and sender:
        conv = view.recent_conversation(sender, key, msg.received_at - SUBJECT_WINDOW)
        if conv is not None:
            return ThreadRef(conv["id"], "subject", is_new=False)
    return ThreadRef(new_conversation_id(msg), "new", is_new=True)


def _conversation_of_parents(ids: Iterable[str], sender: str, view: ThreadView) -> str | None:
    for parent in ids:
        reply = view.reply(parent)
        if reply is not None and reply.get("conversation"):
            # Our own Message-IDs are unique by construction: always trusted.
            return str(reply["conversation"])
        docs = [d for d in view.messages_by_message_id(parent) if d.get("conversation")]
        candidates = {d["conversation"] for d in docs}
        if len(candidates) == 1:
            return str(candidates.pop())
        if len(candidates) > 1:
            # The same Message-ID in several conversations: only the sender's own is safe.
            own = {d["conversation"] for d in docs
                   if d.get("sender") == sender}
            if len(own) == 1:
                return str(own.pop())
    return None
