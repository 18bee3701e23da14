"""The value types that flow between the steps of the pipeline.

Every type here is immutable: a step takes values and returns new ones, so each
step can be tested on its own and nothing downstream can change what an earlier
step decided.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: a display name (possibly empty) and an address.

    The address is kept as written except for the domain, which is lower-cased
    (the local part is case-sensitive in principle, but `key` folds it for lookups).
    """

    name: str
    email: str

    @property
    def key(self) -> str:
        """A case-folded form for comparisons and lookups."""
        return self.email.casefold()

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].lower()

    @property
    def local_part(self) -> str:
        return self.email.rpartition("@")[0]

    def __str__(self) -> str:
        return self.email


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What a bounce says about one failed recipient (RFC 3464 or a common variant)."""

    original_message_id: str | None
    recipient: str | None
    status: str | None  # e.g. "5.1.1"
    action: str | None  # failed, delayed, delivered, relayed, expanded
    diagnostic: str | None
    envelope_token: str | None = None  # a token found in the envelope address it came back to


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message, parsed once; never raises, never mutates.

    `key` is the source's stable identity for the message (for IMAP
    `folder:uidvalidity:uid`, for Maildir `maildir:unique-name`). `message_id` is
    the Message-ID without angle brackets, or a synthetic one derived from the
    content hash when the message has none.
    """

    key: str
    message_id: str
    content_hash: str
    received_at: datetime  # the mailbox's own time (INTERNALDATE / delivery time), tz-aware
    sender: Address | None
    reply_to: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    return_path: str | None = None  # "" for the null reverse-path "<>"
    subject: str = ""
    date: datetime | None = None  # the sender's Date header, when readable
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names, unfolded
    text: str = ""  # the visible text: quotes and signature removed
    full_text: str = ""  # the whole body as text
    content_language: str | None = None
    report: DeliveryReport | None = None
    problems: tuple[str, ...] = ()
    unreadable: bool = False
    size: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled between worker processes (mailloop/prepare.py); the read-only
        # header mapping cannot be pickled as it is, so it travels as a dict.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["headers"] = dict(self.headers)
        return (_inbound, (values,))


def _inbound(values: dict[str, Any]) -> Inbound:
    return Inbound(**{**values, "headers": MappingProxyType(values["headers"])})


class VerdictKind(enum.StrEnum):
    ANSWER = "answer"  # feedback from a customer: classify and acknowledge
    SKIP = "skip"  # recorded, never answered (robots, loops, our own mail, rate limits)
    BOUNCE = "bounce"  # a delivery report for one of our replies
    MANAGER_REPLY = "manager_reply"  # a staff answer to a notification
    UNSUBSCRIBE = "unsubscribe"  # sent to a List-Unsubscribe address: recorded, never answered
    PARK = "park"  # cannot be handled now: kept for an operator


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    rule: str  # a short stable name of the rule that decided, e.g. "auto-submitted"
    reason: str  # one sentence for people

    @property
    def answerable(self) -> bool:
        return self.kind is VerdictKind.ANSWER


ThreadKey = Literal["token", "message_id", "in_reply_to", "references", "subject", "new"]


@dataclass(frozen=True, slots=True)
class ThreadRef:
    """The conversation a message belongs to, and how it was found."""

    conversation_id: str
    matched_by: ThreadKey
    is_new: bool


class Tag(enum.StrEnum):
    SMILE = "smile"
    OFORA = "ofora"


@dataclass(frozen=True, slots=True)
class Credit:
    """A rep the customer named, and whether the message credits them with praise."""

    rep: str  # the roster name
    credited: bool  # praised as the person who helped (counts as a Smile)
    reason: str  # how the rep was recognised: "name", "alias", "first name", "surname", ...
    evidence: str = ""  # the words that named them


@dataclass(frozen=True, slots=True)
class Tags:
    """What the classifier makes of a message's visible text."""

    smile: bool
    ofora: bool
    topics: tuple[str, ...] = ()
    credits: tuple[Credit, ...] = ()
    confidence: float = 0.0  # 0..1: how sure the classifier is of smile/ofora
    review: bool = False  # a person should look (uncertain, ambiguous rep, ...)
    review_reasons: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # the sentences or cues that drove the tags

    @property
    def labels(self) -> list[str]:
        """The tags as the sorted list the JSON interfaces use."""
        out = []
        if self.ofora:
            out.append(Tag.OFORA.value)
        if self.smile:
            out.append(Tag.SMILE.value)
        return out

    @property
    def credited_reps(self) -> tuple[str, ...]:
        return tuple(c.rep for c in self.credits if c.credited)

    @property
    def named_reps(self) -> tuple[str, ...]:
        return tuple(c.rep for c in self.credits)


NO_TAGS = Tags(smile=False, ofora=False)


class ActionKind(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    NOTIFY_MANAGERS = "notify_managers"
    NOTIFY_STAFF = "notify_staff"  # an OforA notification staff can answer by email
    NOTIFY_REP = "notify_rep"
    FORWARD = "forward"
    RECORD_ONLY = "record_only"


@dataclass(frozen=True, slots=True)
class Action:
    """One thing to do about a message; `template` names the reply template."""

    kind: ActionKind
    template: str | None = None
    to: tuple[Address, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A fully rendered reply, ready for any transport.

    `message_id` is deterministic (derived from what it answers and its kind), so
    the same decision always produces the same Message-ID and a transport can
    recognise a message it has already sent.
    """

    message_id: str
    kind: str  # the action kind or reply kind, e.g. "ack_smile"
    template: str
    locale: str
    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str
    html: str | None = None
    reply_to: Address | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = ()
    answers: str | None = None  # the store key of the inbound message it answers
    conversation_id: str | None = None
    template_hash: str = ""


class ReplyState(enum.StrEnum):
    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    UNCERTAIN = "uncertain"
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a transport says about one send attempt."""

    state: ReplyState  # SENT, DEFERRED or FAILED
    response: str = ""
    refused: Mapping[str, str] = field(default_factory=dict)  # recipient -> server reply
