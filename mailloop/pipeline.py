"""The pure part of the loop: one parsed message -> everything to record and send.

parse -> screen -> thread -> classify -> decide -> render, with no I/O: the
store is read through a view, the clock is passed in. A step that fails turns
the outcome into a parked one naming the step and the error; it never raises,
so one bad message cannot block the messages behind it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from mailloop.classify import Classifier
from mailloop.compose import reply_message_id
from mailloop.config import Settings
from mailloop.context import Company, Person, TemplateContext
from mailloop.decide import Decision, Limits, decide
from mailloop.model import (
    NO_TAGS,
    Action,
    ActionKind,
    Address,
    Inbound,
    Outgoing,
    Tags,
    ThreadRef,
    Verdict,
    VerdictKind,
)
from mailloop.render import TemplateSet
from mailloop.screen import screen
from mailloop.thread import ThreadView, thread
from mailloop.tokens import (
    CUSTOMER_TOKEN,
    CUSTOMER_TOKEN_DAYS,
    TokenError,
    find_token,
    make_token,
    token_address,
    token_kind,
    verify_token,
)

ACK_KINDS = ("ack_smile", "ack_ofora", "ack_neutral")


class PipelineView(ThreadView, Protocol):
    def replies_to_since(self, address: str, since: datetime, kinds: Any) -> int: ...
    def replies_since(self, since: datetime) -> int: ...


@dataclass(frozen=True)
class Tools:
    """What the steps need besides the message: built once, shared by every message."""

    settings: Settings
    classifier: Classifier
    templates: TemplateSet
    secret: bytes


@dataclass(frozen=True)
class Outcome:
    inbound: Inbound
    verdict: Verdict
    thread: ThreadRef | None = None
    tags: Tags = NO_TAGS
    decision: Decision | None = None
    replies: tuple[Outgoing, ...] = ()
    failed_step: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def parked(self) -> bool:
        return self.verdict.kind is VerdictKind.PARK


def process(msg: Inbound, tools: Tools, view: PipelineView, now: datetime) -> Outcome:
    step = "screen"
    verdict: Verdict | None = None
    ref: ThreadRef | None = None
    tags = NO_TAGS
    try:
        verdict = screen(msg, tools.settings)
        if verdict.kind is VerdictKind.PARK:
            return Outcome(msg, verdict, failed_step="parse", error=verdict.reason)
        step = "thread"
        ref = thread(msg, view, token_conversation=_token_conversation(msg, tools, now))
        if verdict.kind is not VerdictKind.ANSWER:
            return Outcome(msg, verdict, ref, decision=decide(msg, verdict, tags, tools.settings,
                                                              Limits()))
        step = "classify"
        tags = tools.classifier.classify(msg.text, subject=msg.subject)
        step = "decide"
        decision = decide(msg, verdict, tags, tools.settings, _limits(msg, view, now))
        step = "render"
        replies = tuple(out for action in decision.actions
                        if (out := _render(action, msg, ref, tags, tools, now)) is not None)
        return Outcome(msg, verdict, ref, tags, decision, replies)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        return Outcome(
            msg,
            Verdict(VerdictKind.PARK, f"error:{step}", f"{step} failed: {error}"),
            ref,
            tags,
            failed_step=step,
            error=error,
            details={"traceback": traceback.format_exc(limit=8)},
        )


def _token_conversation(msg: Inbound, tools: Tools, now: datetime) -> str | None:
    """The conversation named by a valid customer token in the addresses it was sent to."""
    ours = tools.settings.delivery.from_address
    for addr in (*msg.to, *msg.cc):
        token = find_token(addr.email, ours)
        if token is None or token_kind(token) != CUSTOMER_TOKEN:
            continue
        try:
            return verify_token(tools.secret, token, now=now).conversation
        except TokenError:
            continue  # a forged or stale token threads like any other message
    return None


def _limits(msg: Inbound, view: PipelineView, now: datetime) -> Limits:
    sender = msg.reply_to or msg.sender
    if sender is None:
        return Limits()
    return Limits(
        acks_to_sender_today=view.replies_to_since(sender.email, now - timedelta(days=1),
                                                   ACK_KINDS),
        replies_last_hour=view.replies_since(now - timedelta(hours=1)),
    )


def first_name(full: str) -> str:
    parts = full.replace(",", " ").split()
    if not parts:
        return ""
    if "," in full:  # "Alvarez, Jenny"
        return full.split(",", 1)[1].split()[0] if full.split(",", 1)[1].split() else parts[0]
    return parts[0]


def context_for(msg: Inbound, ref: ThreadRef | None, tags: Tags, settings: Settings
                ) -> TemplateContext:
    who = msg.reply_to if msg.reply_to and msg.reply_to.name else msg.sender
    name = who.name if who else ""
    roster = {r.name: r for r in settings.reps}
    reps = [Person(name=r.name, first_name=first_name(r.name), email=r.email)
            for n in tags.credited_reps if (r := roster.get(n)) is not None]
    return TemplateContext(
        customer=Person(name=name, first_name=first_name(name),
                        email=(msg.reply_to or msg.sender or Address("", "")).email),
        reps=reps,
        rep=reps[0] if reps else None,
        words=msg.text,
        subject=msg.subject,
        conversation=ref.conversation_id if ref else "",
        tags=tags.labels,
        topics=list(tags.topics),
        company=Company(name=settings.company.name, website=settings.company.website,
                        signature=settings.company.signature),
    )


def _reply_to(tools: Tools, ref: ThreadRef | None, now: datetime) -> Address | None:
    delivery = tools.settings.delivery
    if delivery.reply_to:
        return Address("", delivery.reply_to)
    if not delivery.reply_tokens or ref is None:
        return None
    token = make_token(tools.secret, CUSTOMER_TOKEN, ref.conversation_id, "",
                       now + timedelta(days=CUSTOMER_TOKEN_DAYS))
    return Address(delivery.from_name, token_address(delivery.from_address, token))


def _render(action: Action, msg: Inbound, ref: ThreadRef | None, tags: Tags, tools: Tools,
            now: datetime) -> Outgoing | None:
    if action.kind is not ActionKind.ACKNOWLEDGE or not action.template or not action.to:
        return None
    settings = tools.settings
    locales = [msg.content_language] if msg.content_language else []
    rendered = tools.templates.render(action.template, context_for(msg, ref, tags, settings),
                                      locales)
    sender = Address(settings.delivery.from_name, settings.delivery.from_address)
    references = tuple(dict.fromkeys((*msg.references, msg.message_id)))
    return Outgoing(
        message_id=reply_message_id(msg.key, action.template, action.to[0].email, sender.domain),
        kind=action.template,
        template=rendered.template,
        locale=rendered.locale,
        sender=sender,
        to=action.to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=_reply_to(tools, ref, now),
        in_reply_to=msg.message_id,
        references=references[-20:],
        answers=msg.key,
        conversation_id=ref.conversation_id if ref else None,
        template_hash=rendered.set_hash,
    )
