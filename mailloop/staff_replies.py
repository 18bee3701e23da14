"""The replies around Smiles and OforAs that people at the company send by email.

1. When a Smile arrives, each manager gets a notification whose Reply-To carries
   a token bound to the conversation and to that manager. When an OforA arrives,
   the staff for its topic get one the same way (`ofora_notification`).
2. A manager's answer (checked in `staff.py`) becomes a thank-you to the customer
   on the original conversation, from the feedback address with the manager's
   name; a recognition note to each credited rep; and a one-line confirmation
   to the manager.
3. A staff member's answer to an OforA becomes a personal answer to the customer
   (`staff_answer`, from the feedback address with their name) and moves the
   conversation; `#problem SLUG` links it to a known problem, `#gesture TEXT`
   records a goodwill gesture, `#note TEXT` keeps an internal note and sends
   nothing, `#skip` sends nothing. They get a `staff_confirmation`.
4. A refused answer is never sent on: the real person is told why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from mailloop.context import Person, TemplateContext
from mailloop.language import customer_locales
from mailloop.lifecycle import MOVED, merge_conversation, reached
from mailloop.model import Action, Address, Credit, Inbound, Outgoing, Tags, ThreadRef, Verdict
from mailloop.outcome import Outcome
from mailloop.outgoing import context_for, customer_reply_to, first_name, make_outgoing
from mailloop.problems import link, new_problem, record_id
from mailloop.staff import OFORA_MODE, StaffReply, check_reply, manager_token, ofora_token
from mailloop.tokens import token_address
from mailloop.tools import Tools


class StaffView(Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def message(self, key: str) -> dict[str, Any] | None: ...
    def record(self, record_id: str) -> dict[str, Any] | None: ...


def _person(name: str, email: str) -> Person:
    return Person(name=name, first_name=first_name(name), email=email)


def notifications(tools: Tools, action: Action, context: TemplateContext, key: str,
                  conversation: str, now: datetime) -> list[Outgoing]:
    """One Smile notification per manager (or one to the shared managers' address)."""
    settings = tools.settings
    shared = settings.staff.managers_address

    def token(person: Address) -> str:
        return manager_token(tools.secret, conversation, None if shared else person.email,
                             now, settings.staff.token_days)

    return _notify(tools, "manager_notification", action, context, key, conversation, token)


def ofora_notifications(tools: Tools, action: Action, context: TemplateContext, key: str,
                        conversation: str, now: datetime) -> list[Outgoing]:
    """One OforA notification per staff member for the topic, each with their own token."""

    def token(person: Address) -> str:
        return ofora_token(tools.secret, conversation, person.email, now,
                           tools.settings.staff.token_days)

    return _notify(tools, "ofora_notification", action, context, key, conversation, token)


def _notify(tools: Tools, template: str, action: Action, context: TemplateContext, key: str,
            conversation: str, token: Callable[[Address], str]) -> list[Outgoing]:
    """`template` to each of `action.to`, its Reply-To the feedback address with that
    person's signed token, so only they can answer it."""
    delivery = tools.settings.delivery
    out = []
    for person in action.to:
        reply_to = Address(delivery.from_name, token_address(delivery.from_address,
                                                             token(person)))
        ctx = context.model_copy(update={"manager": _person(person.name, person.email)})
        out.append(make_outgoing(tools, template, ctx, person, key=key,
                                 locales=[tools.settings.templates.default_locale],
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
    if reply.mode == OFORA_MODE:
        assert ref is not None
        return _ofora_outcome(msg, verdict, ref, reply, tools, view, now)
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


def _ofora_outcome(msg: Inbound, verdict: Verdict, ref: ThreadRef, reply: StaffReply,
                   tools: Tools, view: StaffView, now: datetime) -> Outcome:
    assert reply.manager is not None and reply.customer_key is not None
    customer = view.message(reply.customer_key)
    conv = view.conversation(ref.conversation_id)
    if customer is None or conv is None:  # check_reply found them a moment ago
        raise LookupError(f"customer message {reply.customer_key} vanished")
    settings = tools.settings
    staff = _person(reply.manager.name, reply.manager.email)
    context = TemplateContext(
        customer=_person(customer.get("sender_name", ""), customer.get("sender", "")),
        manager=staff,
        words=customer.get("text", ""),
        subject=customer.get("subject", ""),
        conversation=ref.conversation_id,
        tags=list(customer.get("tags", [])),
        topics=list(customer.get("topics", [])),
        message=reply.words,
        company=context_for(msg, ref, Tags(False, False), settings).company,
    )
    who = reply.manager.email
    at = now.isoformat(timespec="seconds")
    replies: list[Outgoing] = []
    updates: dict[str, Any] = {}
    records: dict[str, dict[str, Any]] = {}
    done: list[str] = []
    if not reply.skip and reply.words:
        replies.append(make_outgoing(
            tools, "staff_answer", context,
            Address(context.customer.name, context.customer.email), key=msg.key,
            locales=_customer_locales(customer), conversation=ref.conversation_id,
            in_reply_to=customer["message_id"],
            references=(*customer.get("references", []), customer["message_id"]),
            sender=Address(reply.manager.name, settings.delivery.from_address),
            reply_to=customer_reply_to(tools, ref, now)))
        updates = merge_conversation(updates, reached(MOVED, now, f"{who}: answered personally"))
        done.append(f"Your answer was sent to {context.customer.email}.")
    if reply.problem:
        problem = view.record(record_id(reply.problem)) or new_problem(reply.problem)
        if ref.conversation_id not in problem.get("conversations", []):
            problem, linked = link(problem, ref.conversation_id, conv.get("customer", ""), now,
                                   who, "#problem")
            records[problem["id"]] = problem
            updates = merge_conversation(updates, linked)
        status = "" if problem.get("status") != "proposed" else (
            " (not opened yet: open it with `mailloop problem open "
            f"{reply.problem} --title ...`)")
        done.append(f"The conversation is linked to problem {reply.problem}{status}.")
    notes = view.record(f"notes:{ref.conversation_id}") or {
        "conversation": ref.conversation_id, "events": []}
    events = list(notes.get("events", []))
    if reply.gesture:
        events.append({"kind": "gesture", "text": reply.gesture, "by": who, "at": at,
                       "message": msg.key})
        updates = merge_conversation(updates, reached(MOVED, now, f"{who}: goodwill gesture"))
        done.append(f"Goodwill gesture recorded: {reply.gesture}.")
    if reply.note:
        events.append({"kind": "note", "text": reply.note, "by": who, "at": at,
                       "message": msg.key})
        done.append("Your note was added to the conversation; nothing was sent.")
    if events != notes.get("events", []):
        records[f"notes:{ref.conversation_id}"] = {**notes, "events": events}
    if reply.skip and not reply.note:
        done.append("#skip: nothing was sent to the customer.")
    if settings.staff.confirm:
        replies.append(make_outgoing(
            tools, "staff_confirmation", context.model_copy(update={"note": " ".join(done)}),
            Address(staff.name, staff.email), key=msg.key,
            locales=[settings.templates.default_locale], conversation=ref.conversation_id,
            in_reply_to=msg.message_id, references=(*msg.references, msg.message_id)))
    return Outcome(msg, verdict, ref, staff=reply, replies=tuple(replies),
                   conversation_updates=updates, records=records)


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
