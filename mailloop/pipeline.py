"""The pure part of the loop: one parsed message -> everything to record and send.

parse -> screen -> thread -> classify -> decide -> render, with no I/O: the
store is read through a view, the clock is passed in. A step that fails turns
the outcome into a parked one naming the step and the error; it never raises,
so one bad message cannot block the messages behind it.
"""

from __future__ import annotations

import traceback
from datetime import datetime, timedelta
from typing import Any, Protocol

from mailloop.decide import Limits, decide
from mailloop.language import customer_locales
from mailloop.model import (
    NO_TAGS,
    Action,
    ActionKind,
    Inbound,
    Outgoing,
    Tags,
    ThreadRef,
    Verdict,
    VerdictKind,
)
from mailloop.optout import unsubscribe_outcome
from mailloop.outcome import Outcome
from mailloop.outgoing import context_for, customer_reply_to, make_outgoing
from mailloop.prepare import Early
from mailloop.problems import auto_links
from mailloop.screen import screen
from mailloop.staff_replies import notifications, ofora_notifications, staff_outcome
from mailloop.thread import ThreadView, thread
from mailloop.tokens import (
    CUSTOMER_TOKEN,
    TokenError,
    recipient_tokens,
    token_kind,
    verify_token,
)
from mailloop.tools import Tools

ACK_KINDS = ("ack_smile", "ack_ofora", "ack_neutral")


class PipelineView(ThreadView, Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def message(self, key: str) -> dict[str, Any] | None: ...
    def replies_to_since(self, address: str, since: datetime, kinds: Any) -> int: ...
    def replies_since(self, since: datetime) -> int: ...
    def record(self, record_id: str) -> dict[str, Any] | None: ...
    def records(self, prefix: str) -> list[dict[str, Any]]: ...


def process(msg: Inbound, tools: Tools, view: PipelineView, now: datetime,
            early: Early | None = None) -> Outcome:
    """`early` carries the store-free steps' results when they ran ahead (prepare.py)."""
    step = "screen"
    verdict: Verdict | None = None
    ref: ThreadRef | None = None
    tags = NO_TAGS
    try:
        verdict = early.verdict if early is not None else screen(msg, tools.settings)
        if verdict.kind is VerdictKind.PARK:
            return Outcome(msg, verdict, failed_step="parse", error=verdict.reason)
        if verdict.kind is VerdictKind.UNSUBSCRIBE:
            step = "unsubscribe"
            return unsubscribe_outcome(msg, verdict, tools, view, now)
        step = "thread"
        ref = thread(msg, view, token_conversation=_token_conversation(msg, tools, now))
        if verdict.kind is VerdictKind.MANAGER_REPLY:
            step = "staff reply"
            return staff_outcome(msg, verdict, ref, tools, view, now)
        if verdict.kind is not VerdictKind.ANSWER:
            return Outcome(msg, verdict, ref, decision=decide(msg, verdict, tags, tools.settings,
                                                              Limits()))
        step = "classify"
        if early is not None and early.tags is not None:
            tags = early.tags
        else:
            tags = tools.classifier.classify(msg.text, subject=msg.subject)
        step = "decide"
        decision = decide(msg, verdict, tags, tools.settings, _limits(msg, ref, view, now))
        step = "render"
        locales = list(early.locales) if early is not None and early.locales is not None \
            else customer_locales(msg.text, msg.content_language)
        replies = tuple(out for action in decision.actions
                        for out in _render(action, msg, ref, tags, tools, now, locales))
        if not tags.ofora:
            return Outcome(msg, verdict, ref, tags, decision, replies)
        step = "link"
        records, updates = auto_links(ref.conversation_id, msg.sender.key if msg.sender else "",
                                      f"{msg.subject}\n{msg.text}", tags.topics, view, now)
        return Outcome(msg, verdict, ref, tags, decision, replies, records=records,
                       conversation_updates=updates)
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
    for token in recipient_tokens(msg, tools.settings.delivery.from_address):
        if token_kind(token) != CUSTOMER_TOKEN:
            continue
        try:
            return verify_token(tools.secret, token, now=now).conversation
        except TokenError:
            continue  # a forged or stale token threads like any other message
    return None


def _limits(msg: Inbound, ref: ThreadRef, view: PipelineView, now: datetime) -> Limits:
    sender = msg.reply_to or msg.sender
    conversation = view.conversation(ref.conversation_id)
    thanked = bool(conversation and conversation.get("thanked_at"))
    if sender is None:
        return Limits(already_thanked=thanked)
    return Limits(
        already_thanked=thanked,
        acks_to_sender_today=view.replies_to_since(sender.email, now - timedelta(days=1),
                                                   ACK_KINDS),
        replies_last_hour=view.replies_since(now - timedelta(hours=1)),
    )


def _render(action: Action, msg: Inbound, ref: ThreadRef | None, tags: Tags, tools: Tools,
            now: datetime, locales: list[str]) -> list[Outgoing]:
    if not action.template or not action.to:
        return []
    context = context_for(msg, ref, tags, tools.settings)
    conversation = ref.conversation_id if ref else None
    if action.kind is ActionKind.ACKNOWLEDGE:
        return [make_outgoing(tools, action.template, context, action.to[0], key=msg.key,
                              locales=locales, conversation=conversation,
                              in_reply_to=msg.message_id,
                              references=(*msg.references, msg.message_id),
                              reply_to=customer_reply_to(tools, ref, now))]
    if action.kind is ActionKind.NOTIFY_MANAGERS and conversation:
        return notifications(tools, action, context, msg.key, conversation, now)
    if action.kind is ActionKind.NOTIFY_STAFF and conversation:
        return ofora_notifications(tools, action, context, msg.key, conversation, now)
    return []
