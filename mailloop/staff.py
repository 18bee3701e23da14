"""Staff replies by email: who may speak for the company, and what they said.

A manager answers a Smile notification, and a staff member an OforA
notification, from their own mail client. Their reply reaches the feedback
mailbox at the signed address the notification carried (`feedback+m.TOKEN@...`).
It is accepted only when all of these hold:

- the token's signature verifies with our secret and it has not expired;
- the sender is configured (a manager for a Smile; OforA staff or a manager for
  an OforA), and the very person the token was issued to (or any manager, for a
  token issued to the shared managers' address);
- optionally, the receiving server's own Authentication-Results header (its
  authserv-id configured) says DKIM or DMARC passed for the sender's domain.

The token's person field also says which notification it answers: `o:KEY` an
OforA notification, `KEY` (or `any`) a Smile notification. The From header alone
proves nothing, which is why the token binds the reply to one person and one
conversation. Everything here is pure.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Protocol

from mailloop.config import Manager, Settings
from mailloop.model import Address, Inbound
from mailloop.tokens import (
    STAFF_TOKEN,
    TokenError,
    make_token,
    recipient_tokens,
    token_kind,
    verify_token,
)
from mailloop.visible import visible_text

ANY_MANAGER = "any"
OFORA = "o:"  # the person field of a token for an OforA notification starts with this
SMILE_MODE, OFORA_MODE = "smile", "ofora"
_COMMAND = re.compile(r"^\s*#(rep|skip|problem|gesture|note)\b[ \t]*(.*)$", re.IGNORECASE)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


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
    mode: str = SMILE_MODE  # which notification it answers: smile or ofora
    problem: str | None = None  # the known problem's slug given with #problem
    gesture: str | None = None  # the goodwill gesture given with #gesture
    note: str | None = None  # the internal note given with #note (nothing is sent)


@dataclass(frozen=True, slots=True)
class Commands:
    """The `#command` lines at the top of a staff reply, and the words below them."""

    words: str
    skip: bool = False
    rep: str | None = None
    problem: str | None = None
    gesture: str | None = None
    note: str | None = None
    given: tuple[str, ...] = ()  # the commands used, in order
    problems: list[str] = field(default_factory=list)  # what is wrong with them


def person_key(email: str) -> str:
    """A short, stable stand-in for an address inside a token (keeps it under 64 chars)."""
    digest = hashlib.sha256(email.casefold().encode()).digest()[:5]
    return base64.b32encode(digest).decode("ascii").lower()


def manager_token(secret: bytes, conversation: str, manager_email: str | None, now: datetime,
                  days: int) -> str:
    person = person_key(manager_email) if manager_email else ANY_MANAGER
    return make_token(secret, STAFF_TOKEN, conversation, person, now + timedelta(days=days))


def ofora_token(secret: bytes, conversation: str, staff_email: str, now: datetime,
                days: int) -> str:
    return make_token(secret, STAFF_TOKEN, conversation, OFORA + person_key(staff_email),
                      now + timedelta(days=days))


def find_manager(settings: Settings, email: str) -> Manager | None:
    folded = email.casefold()
    return next((m for m in settings.managers if m.email.casefold() == folded), None)


def parse_person(entry: str, settings: Settings) -> Address:
    """`Name <address>` or a bare address; a bare address takes its name from the
    managers or the reps when it is one of theirs."""
    name, email = parseaddr(entry)
    email = email or entry.strip()
    if not name:
        folded = email.casefold()
        known = [(m.name, m.email) for m in settings.managers]
        known += [(r.name, r.email) for r in settings.reps]
        name = next((n for n, e in known if e.casefold() == folded), "")
    return Address(name, email)


def find_staff(settings: Settings, email: str) -> Manager | None:
    """The configured person who may answer OforA notifications: OforA staff of any
    topic, the default OforA staff, or a manager."""
    folded = email.casefold()
    entries = [e for team in settings.ofora_staff for e in team.emails]
    for entry in (*entries, *settings.staff.ofora_default):
        person = parse_person(entry, settings)
        if person.key == folded:
            return Manager(name=person.name, email=person.email)
    return find_manager(settings, email)


def parse_commands(text: str, reps: list[str]) -> Commands:
    """Split the `#command` lines at the top of a reply from the person's own words."""
    lines = text.splitlines()
    skip, rep, problem, gesture, note = False, None, None, None, None
    given: list[str] = []
    problems: list[str] = []
    while lines and (not lines[0].strip() or _COMMAND.match(lines[0])):
        match = _COMMAND.match(lines.pop(0))
        if match is None:
            continue
        command, argument = match.group(1).lower(), match.group(2).strip()
        given.append(command)
        if command == "skip":
            skip = True
        elif command == "rep":
            found = _roster_name(argument, reps)
            if found is None:
                problems.append(f"#rep {argument!r} is not a rep on the roster")
            rep = found
        elif command == "problem":
            slug = argument.lower()
            if not SLUG.match(slug):
                problems.append(f"#problem {argument!r} is not a problem name (lower-case "
                                "letters, digits and dashes, e.g. double-charge)")
            problem = slug
        elif not argument:
            problems.append(f"#{command} needs a text on the same line")
        elif command == "gesture":
            gesture = argument
        else:
            note = argument
    return Commands("\n".join(lines).strip(), skip, rep, problem, gesture, note, tuple(given),
                    problems)


def read_commands(text: str, reps: list[str]) -> tuple[str, bool, str | None, list[str]]:
    """Split the `#rep NAME` / `#skip` lines at the top from the manager's words.

    Returns (words, skip, rep roster name or None, problems)."""
    found = parse_commands(text, reps)
    return found.words, found.skip, found.rep, found.problems


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
    tokens = [t for t in recipient_tokens(msg, settings.delivery.from_address)
              if token_kind(t) == STAFF_TOKEN]
    token = None
    if tokens:
        try:
            token = verify_token(secret, tokens[0], now=now)
        except TokenError as exc:
            problem = str(exc)
        mode = OFORA_MODE if token and token.person.startswith(OFORA) else SMILE_MODE
    else:
        problem, mode = "no staff reply token in the recipient address", SMILE_MODE
    if mode == OFORA_MODE:
        person = find_staff(settings, sender) if sender else None
    else:
        person = find_manager(settings, sender) if sender else None
        if person is None and sender:  # a staff member answering a stale or forged token
            person = find_staff(settings, sender) if token is None else None

    def refuse(reason: str, **extra: Any) -> StaffReply:
        return StaffReply(False, reason, manager=person, mode=mode, **extra)

    if token is None:
        return refuse(problem)
    conversation_id = token.conversation
    if person is None:
        who = "OforA staff member" if mode == OFORA_MODE else "manager"
        return refuse(f"{sender or 'the sender'} is not a configured {who}",
                      conversation_id=conversation_id)
    issued_to = token.person.removeprefix(OFORA) if mode == OFORA_MODE else token.person
    if issued_to not in {ANY_MANAGER, person_key(person.email)} or (
            mode == OFORA_MODE and issued_to == ANY_MANAGER):
        other = "staff member" if mode == OFORA_MODE else "manager"
        return refuse(f"the token was issued to another {other}",
                      conversation_id=conversation_id)
    if settings.staff.require_authentication_results and not authentication_passes(
            msg.header("authentication-results"), settings.staff.authserv_id,
            person.email.rpartition("@")[2].lower()):
        return refuse("no passing DKIM/DMARC result from "
                      f"{settings.staff.authserv_id or 'the receiving server'}",
                      conversation_id=conversation_id)
    conversation = view.conversation(conversation_id)
    if conversation is None:
        return refuse("the conversation no longer exists", conversation_id=conversation_id)
    commands = parse_commands(visible_text(msg.full_text), [r.name for r in settings.reps])
    if commands.problems:
        return refuse("; ".join(commands.problems), conversation_id=conversation_id)
    if mode == OFORA_MODE:
        return _check_ofora(person, conversation, conversation_id, commands, view, refuse)
    if conversation.get("thanked_at"):
        return refuse(f"this Smile was already answered on {conversation['thanked_at'][:10]}",
                      conversation_id=conversation_id)
    customer_key = _customer_message(conversation, view, "smile")
    if customer_key is None:
        return refuse("the conversation has no Smile to answer", conversation_id=conversation_id)
    wrong = [c for c in commands.given if c not in {"rep", "skip"}]
    if wrong:
        return refuse(f"#{wrong[0]} answers OforA notifications, not Smiles",
                      conversation_id=conversation_id)
    if not commands.skip and not commands.words:
        return refuse("the reply has no words of its own to send (write a message, "
                      "or #skip)", conversation_id=conversation_id)
    return StaffReply(True, "accepted", manager=person, conversation_id=conversation_id,
                      customer_key=customer_key, words=commands.words, skip=commands.skip,
                      rep=commands.rep)


def _check_ofora(person: Manager, conversation: dict[str, Any], conversation_id: str,
                 commands: Commands, view: StaffView,
                 refuse: Callable[..., StaffReply]) -> StaffReply:
    customer_key = _customer_message(conversation, view, "ofora")
    if customer_key is None:
        return refuse("the conversation has no OforA to answer",
                      conversation_id=conversation_id)
    if commands.rep is not None or "rep" in commands.given:
        return refuse("#rep answers Smile notifications, not OforAs",
                      conversation_id=conversation_id)
    acts = commands.skip or commands.note or commands.problem or commands.gesture
    if not commands.words and not acts:
        return refuse("the reply has no words of its own to send (write a message, or use "
                      "#problem, #gesture, #note or #skip)", conversation_id=conversation_id)
    note = commands.note
    if note is not None and commands.words:
        note = f"{note}\n\n{commands.words}"
    return StaffReply(True, "accepted", manager=person, conversation_id=conversation_id,
                      customer_key=customer_key, words=commands.words,
                      skip=commands.skip or note is not None, mode=OFORA_MODE,
                      problem=commands.problem, gesture=commands.gesture, note=note)


def _customer_message(conversation: dict[str, Any], view: StaffView, tag: str) -> str | None:
    """The customer's latest message in the conversation tagged `tag`."""
    for key in reversed(conversation.get("messages", [])):
        doc = view.message(key)
        if doc and tag in doc.get("tags", []) and doc.get("sender") == conversation.get(
                "customer"):
            return str(key)
    return None
