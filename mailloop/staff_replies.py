"""The replies around a Smile that people at the company send by email.

1. When a Smile arrives, each manager gets a notification whose Reply-To carries
   a token bound to the conversation and to that manager.
2. A manager's answer (checked in `staff.py`) becomes a thank-you to the customer
   on the original conversation, from the feedback address with the manager's
   name; a recognition note to each credited rep; and a one-line confirmation
   to the manager. A refused answer is never sent on: the manager is told why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from mailloop.context import Person, TemplateContext
from mailloop.model import Action, Address, Credit, Inbound, Outgoing, Tags, ThreadRef, Verdict
from mailloop.outcome import Outcome
from mailloop.outgoing import context_for, first_name, make_outgoing
from mailloop.render.language import customer_locales
from mailloop.staff import StaffReply, check_reply, manager_token
from mailloop.tokens import token_address
from mailloop.tools import Tools


class StaffView(Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def message(self, key: str) -> dict[str, Any] | None: ...


def _person(name: str, email: str) -> Person:
    return Person(name=name, first_name=first_name(name), email=email)


def notifications(tools: Tools, action: Action, context: TemplateContext, key: str,
                  conversation: str, now: datetime) -> list[Outgoing]:
    """One Smile notification per manager (or one to the shared managers' address)."""
    settings = tools.settings
    shared = settings.staff.managers_address
    out = []
    for manager in action.to:
        token = manager_token(tools.secret, conversation, None if shared else manager.email,
                              now, settings.staff.token_days)
        reply_to = Address(settings.delivery.from_name,
                           token_address(settings.delivery.from_address, token))
        ctx = context.model_copy(update={"manager": _person(manager.name, manager.email)})
        out.append(make_outgoing(tools, "manager_notification", ctx, manager, key=key,
                                 locales=[settings.templates.default_locale],
                                 conversation=conversation, reply_to=reply_to))
    return out


def staff_outcome(msg: Inbound, verdict: Verdict, ref: ThreadRef | None, tools: Tools,
                  view: StaffView, now: datetime) -> Outcome:
    reply = check_reply(msg, tools.settings, tools.secret, view, now)
    if reply.conversation_id:
        ref = ThreadRef(reply.conversation_id, "token", is_new=False)
    if not reply.accepted:
        return Outcome(msg, verdict, ref, staff=reply,
                       replies=tuple(_refusal(msg, reply, tools)))
    assert reply.manager is not None and reply.customer_key is not None
    customer = view.message(reply.customer_key)
    if customer is None:  # check_reply found it a moment ago
        raise LookupError(f"customer message {reply.customer_key} vanished")
    manager = _person(reply.manager.name, reply.manager.email)
    credits = _credits(customer, reply)
    roster = {r.name: r for r in tools.settings.reps}
    reps = [_person(r.name, r.email) for c in credits if c["credited"]
            and (r := roster.get(c["rep"])) is not None]
    context = TemplateContext(
        customer=_person(customer.get("sender_name", ""), customer.get("sender", "")),
        reps=reps,
        rep=reps[0] if reps else None,
        manager=manager,
        words=customer.get("text", ""),
        subject=customer.get("subject", ""),
        conversation=reply.conversation_id or "",
        tags=list(customer.get("tags", [])),
        topics=list(customer.get("topics", [])),
        message=reply.words,
        company=context_for(msg, ref, Tags(False, False), tools.settings).company,
    )
    settings = tools.settings
    conversation = reply.conversation_id
    replies: list[Outgoing] = []
    if not reply.skip:
        replies.append(make_outgoing(
            tools, "manager_thanks", context, Address(context.customer.name,
                                                      context.customer.email),
            key=msg.key, locales=_customer_locales(customer), conversation=conversation,
            in_reply_to=customer["message_id"],
            references=(*customer.get("references", []), customer["message_id"]),
            sender=Address(reply.manager.name, settings.delivery.from_address)))
        if settings.staff.notify_rep:
            for rep in reps:
                replies.append(make_outgoing(
                    tools, "rep_recognition", context.model_copy(update={"rep": rep}),
                    Address(rep.name, rep.email), key=msg.key,
                    locales=[settings.templates.default_locale], conversation=conversation))
    if settings.staff.confirm:
        note = ("#skip: nothing was sent to the customer." if reply.skip else
                f"Your thank-you was sent to {context.customer.email}"
                + (f", crediting {', '.join(r.name for r in reps)}." if reps else "."))
        replies.append(make_outgoing(
            tools, "manager_confirmation", context.model_copy(update={"note": note}),
            Address(manager.name, manager.email), key=msg.key,
            locales=[settings.templates.default_locale], conversation=conversation,
            in_reply_to=msg.message_id, references=(*msg.references, msg.message_id)))
    updates: tuple[dict[str, Any], ...] = ()
    if reply.rep is not None:
        updates = ({**customer, "credits": credits},)
    conversation_updates = {} if reply.skip else {
        "thanked_at": now.isoformat(timespec="seconds"), "thanked_by": reply.manager.email}
    return Outcome(msg, verdict, ref, staff=reply, replies=tuple(replies),
                   message_updates=updates, conversation_updates=conversation_updates)


def _credits(customer: dict[str, Any], reply: StaffReply) -> list[dict[str, Any]]:
    """The customer message's credits, corrected by a manager's `#rep` when given."""
    credits = [dict(c) for c in customer.get("credits", [])]
    if reply.rep is None:
        return credits
    kept = [{**c, "credited": False} for c in credits if c["rep"] != reply.rep]
    manager = reply.manager.email if reply.manager else ""
    corrected = Credit(reply.rep, True, "corrected by a manager with #rep", f"#rep by {manager}")
    return [*kept, {"rep": corrected.rep, "credited": True, "reason": corrected.reason,
                    "evidence": corrected.evidence}]


def _customer_locales(customer: dict[str, Any]) -> list[str]:
    return customer_locales(str(customer.get("text") or ""), customer.get("language"))


def _refusal(msg: Inbound, reply: StaffReply, tools: Tools) -> list[Outgoing]:
    """Tell a real manager why their reply was not sent on; tell nobody else anything."""
    if reply.manager is None or msg.sender is None:
        return []
    manager = _person(reply.manager.name, reply.manager.email)
    context = context_for(msg, None, Tags(False, False), tools.settings).model_copy(
        update={"manager": manager, "note": reply.reason, "words": msg.text})
    return [make_outgoing(tools, "manager_rejected", context,
                          Address(manager.name, manager.email), key=msg.key,
                          locales=[tools.settings.templates.default_locale],
                          conversation=reply.conversation_id, in_reply_to=msg.message_id,
                          references=(*msg.references, msg.message_id))]
