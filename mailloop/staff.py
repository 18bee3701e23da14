"""Staff replies by email: who may speak for the company, and what they said.

A manager answers a Smile notification from their own mail client. Their reply
reaches the feedback mailbox at the signed address the notification carried
(`feedback+m.TOKEN@...`). It is accepted only when all of these hold:

- the token's signature verifies with our secret and it has not expired;
- the sender is a configured manager, and the very manager the token was issued
  to (or any manager, for a token issued to the shared managers' address);
- optionally, the receiving server's own Authentication-Results header (its
  authserv-id configured) says DKIM or DMARC passed for the sender's domain.

The From header alone proves nothing, which is why the token binds the reply to
one manager and one conversation. Everything here is pure.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mailloop.config import Manager, Settings
from mailloop.model import Inbound
from mailloop.tokens import (
    STAFF_TOKEN,
    TokenError,
    find_token,
    make_token,
    token_kind,
    verify_token,
)
from mailloop.visible import visible_text

ANY_MANAGER = "any"
_COMMAND = re.compile(r"^\s*#(rep|skip)\b[ \t]*(.*)$", re.IGNORECASE)


class StaffView(Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def message(self, key: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class StaffReply:
    """What a staff reply says, once checked."""

    accepted: bool
    reason: str  # why it was refused, or "accepted"
    manager: Manager | None = None  # the configured manager who sent it, if any
    conversation_id: str | None = None
    customer_key: str | None = None  # the customer's message being answered
    words: str = ""  # the manager's own words, quotes, signature and commands removed
    skip: bool = False
    rep: str | None = None  # a roster name given with #rep
    problems: tuple[str, ...] = ()


def person_key(email: str) -> str:
    """A short, stable stand-in for an address inside a token (keeps it under 64 chars)."""
    digest = hashlib.sha256(email.casefold().encode()).digest()[:5]
    return base64.b32encode(digest).decode("ascii").lower()


def manager_token(secret: bytes, conversation: str, manager_email: str | None, now: datetime,
                  days: int) -> str:
    person = person_key(manager_email) if manager_email else ANY_MANAGER
    return make_token(secret, STAFF_TOKEN, conversation, person, now + timedelta(days=days))


def find_manager(settings: Settings, email: str) -> Manager | None:
    folded = email.casefold()
    return next((m for m in settings.managers if m.email.casefold() == folded), None)


def read_commands(text: str, reps: list[str]) -> tuple[str, bool, str | None, list[str]]:
    """Split the `#rep NAME` / `#skip` lines at the top from the manager's words.

    Returns (words, skip, rep roster name or None, problems)."""
    lines = text.splitlines()
    skip, rep, problems = False, None, []
    while lines and (not lines[0].strip() or _COMMAND.match(lines[0])):
        match = _COMMAND.match(lines.pop(0))
        if match is None:
            continue
        command, argument = match.group(1).lower(), match.group(2).strip()
        if command == "skip":
            skip = True
        else:
            found = _roster_name(argument, reps)
            if found is None:
                problems.append(f"#rep {argument!r} is not a rep on the roster")
            rep = found
    return "\n".join(lines).strip(), skip, rep, problems


def _roster_name(given: str, reps: list[str]) -> str | None:
    folded = " ".join(given.split()).casefold()
    exact = [r for r in reps if r.casefold() == folded]
    if exact:
        return exact[0]
    # A unique first name or surname is enough: "#rep jenny".
    partial = [r for r in reps if folded in {p.casefold() for p in r.split()}]
    return partial[0] if len(partial) == 1 else None


def authentication_passes(header: str | None, authserv_id: str, sender_domain: str) -> bool:
    """True when a header added by our receiving server reports DKIM or DMARC pass for the
    sender's domain. Headers naming any other server are ignored: a sender can write those."""
    if not header:
        return False
    for value in header.split("\n"):
        server, _, results = value.partition(";")
        if server.strip().split()[0:1] != [authserv_id]:
            continue
        for method in results.split(";"):
            text = " ".join(method.split()).lower()
            if text.startswith("dmarc=pass") and f"header.from={sender_domain}" in text:
                return True
            if text.startswith("dkim=pass") and (
                    f"header.d={sender_domain}" in text or f"header.i=@{sender_domain}" in text):
                return True
    return False


def check_reply(msg: Inbound, settings: Settings, secret: bytes, view: StaffView,
                now: datetime) -> StaffReply:
    sender = msg.sender.email if msg.sender else ""
    manager = find_manager(settings, sender) if sender else None

    def refuse(reason: str, **extra: Any) -> StaffReply:
        return StaffReply(False, reason, manager=manager, **extra)

    tokens = [t for a in (*msg.to, *msg.cc)
              if (t := find_token(a.email, settings.delivery.from_address)) is not None
              and token_kind(t) == STAFF_TOKEN]
    if not tokens:
        return refuse("no staff reply token in the recipient address")
    try:
        token = verify_token(secret, tokens[0], now=now)
    except TokenError as exc:
        return refuse(str(exc))
    if manager is None:
        return refuse(f"{sender or 'the sender'} is not a configured manager",
                      conversation_id=token.conversation)
    if token.person not in {ANY_MANAGER, person_key(manager.email)}:
        return refuse("the token was issued to another manager",
                      conversation_id=token.conversation)
    if settings.staff.require_authentication_results and not authentication_passes(
            msg.header("authentication-results"), settings.staff.authserv_id,
            manager.email.rpartition("@")[2].lower()):
        return refuse("no passing DKIM/DMARC result from "
                      f"{settings.staff.authserv_id or 'the receiving server'}",
                      conversation_id=token.conversation)
    conversation = view.conversation(token.conversation)
    if conversation is None:
        return refuse("the conversation no longer exists", conversation_id=token.conversation)
    if conversation.get("thanked_at"):
        return refuse(f"this Smile was already answered on {conversation['thanked_at'][:10]}",
                      conversation_id=token.conversation)
    customer_key = _smile_message(conversation, view)
    if customer_key is None:
        return refuse("the conversation has no Smile to answer",
                      conversation_id=token.conversation)
    words, skip, rep, problems = read_commands(visible_text(msg.full_text),
                                               [r.name for r in settings.reps])
    if problems:
        return refuse("; ".join(problems), conversation_id=token.conversation)
    if not skip and not words:
        return refuse("the reply has no words of its own to send (write a message, "
                      "or #skip)", conversation_id=token.conversation)
    return StaffReply(True, "accepted", manager=manager, conversation_id=token.conversation,
                      customer_key=customer_key, words=words, skip=skip, rep=rep)


def _smile_message(conversation: dict[str, Any], view: StaffView) -> str | None:
    """The customer's latest Smile in the conversation."""
    for key in reversed(conversation.get("messages", [])):
        doc = view.message(key)
        if doc and "smile" in doc.get("tags", []) and doc.get("sender") == conversation.get(
                "customer"):
            return str(key)
    return None
