"""Campaigns to the customers linked to a known problem: the second chance and updates.

`followup SLUG` (template `second_chance`) goes once per customer per problem,
whatever the number of complaints they sent; `problem notify SLUG` (template
`problem_update`) once per customer per update. Each message is planned in the
same store commit as its once-only record (`followup:SLUG:CUSTOMER`,
`notify:SLUG:UPDATE:CUSTOMER`), and only then sent, through the reply ledger. Its
Message-ID is derived from that record's id, so a campaign killed at any point
and run again neither repeats nor misses anyone: a planned message is sent by the
next run, one caught mid-send is settled by the ledger's recovery.

Never to a customer who opted out, whose address bounced, or who is an automated
sender; a second chance never to one who got a second chance (about any problem)
within `loop.followup_quiet_days`. At most `loop.followup_per_minute` a minute,
and never past the global brake `screening.max_replies_per_hour`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mailloop.compose import reply_message_id
from mailloop.context import Company, Person, Problem, TemplateContext
from mailloop.lifecycle import SECOND_CHANCE, LoopData
from mailloop.model import Address, Outgoing, ThreadRef
from mailloop.optout import optout_id, unsubscribe_header
from mailloop.outgoing import customer_reply_to, first_name, make_outgoing
from mailloop.problems import FIXED_STATUS, ProblemError, last_event, require, with_event
from mailloop.records import month_of, reply_doc
from mailloop.screen import _ROBOT_LOCAL_PARTS
from mailloop.store.base import Batch, Doc
from mailloop.tools import Tools

log = logging.getLogger("mailloop")

PROBLEM_UPDATE = "problem_update"


@dataclass
class Recipient:
    address: str
    name: str
    conversations: list[str]
    words: list[str]  # what they wrote, one entry per complaint
    first: Doc  # their first complaint about it: threading and language
    latest_conversation: str
    messages: list[str] = field(default_factory=list)  # their conversations' messages so far

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "conversations": list(self.conversations)}


@dataclass
class Plan:
    """Who a campaign would write to, and why the others are skipped."""

    problem: Doc
    kind: str  # "followup" or "notify"
    template: str
    update: str  # the notify update id ("" for a follow-up)
    recipients: list[Recipient] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    repair: list[Recipient] = field(default_factory=list)  # in the ledger, record missing

    def record_id(self, customer: str) -> str:
        slug = self.problem["slug"]
        if self.kind == "followup":
            return f"followup:{slug}:{customer}"
        return f"notify:{slug}:{self.update}:{customer}"

    def to_json(self) -> dict[str, Any]:
        return {"recipients": [r.to_json() for r in self.recipients],
                "skipped": list(self.skipped)}


def update_id(text: str) -> str:
    return "u" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def is_automated(address: str, settings: Any) -> bool:
    local = address.rpartition("@")[0]
    if _ROBOT_LOCAL_PARTS.match(local):
        return True
    letters = re.sub(r"[^a-z]", "", local.lower())
    return any(re.sub(r"[^a-z]", "", p.lower()) in letters
               for p in settings.screening.noreply_patterns)


def plan(store: Any, settings: Any, slug: str, *, kind: str, template: str, now: datetime,
         note: str = "") -> Plan:
    """Who gets the campaign's message (one per customer), and who is skipped and why."""
    problem = require(store, slug)
    if kind == "followup" and problem.get("status") != FIXED_STATUS:
        raise ProblemError(f"problem {slug!r} is not fixed yet: "
                           f"`mailloop problem fixed {slug} --note ...` first")
    update = "" if kind == "followup" else update_id(note or problem.get("title", "") or slug)
    result = Plan(problem, kind, template, update)
    data = LoopData.from_store(store)
    by_customer: dict[str, list[Doc]] = {}
    for cid in problem.get("conversations", []):
        conv = store.conversation(cid)
        if conv is not None and conv.get("customer"):
            by_customer.setdefault(conv["customer"], []).append(conv)
    bounced = {str(a).casefold() for r in store.replies(["bounced"]) for a in r.get("to", [])}
    quiet = now - timedelta(days=settings.loop.followup_quiet_days)
    for customer, convs in by_customer.items():
        done = store.record(result.record_id(customer))
        if done is None:
            done = _in_ledger(store, settings, result, customer)
            if done is not None:  # planned by a commit whose record was lost: write it again
                result.repair.append(_recipient(customer, convs, data))
        optout = store.record(optout_id(customer))
        if done is not None:
            what = "a second chance" if kind == "followup" else "this update"
            reason = f"already sent {what} on {done.get('planned_at', '?')[:10]}"
        elif optout is not None:
            reason = f"opted out on {optout.get('at', '?')[:10]}"
        elif customer.casefold() in bounced:
            reason = "a reply to this address bounced"
        elif is_automated(customer, settings):
            reason = "an automated sender"
        elif kind == "followup" and settings.loop.followup_quiet_days and \
                store.replies_to_since(customer, quiet, [SECOND_CHANCE]):
            reason = (f"got a second chance in the last {settings.loop.followup_quiet_days} "
                      "days")
        else:
            result.recipients.append(_recipient(customer, convs, data))
            continue
        result.skipped.append({"address": customer, "reason": reason})
    return result


def _in_ledger(store: Any, settings: Any, result: Plan, customer: str) -> Doc | None:
    """The campaign's message to `customer` if the ledger already holds it (its Message-ID
    is derived from the once-only record's id, so it is found even without the record)."""
    domain = settings.delivery.from_address.rpartition("@")[2]
    reply = store.reply(reply_message_id(result.record_id(customer), result.template, customer,
                                         domain))
    if reply is None:
        return None
    return {"planned_at": reply.get("created_at", "")}


def _recipient(customer: str, convs: list[Doc], data: LoopData) -> Recipient:
    convs = sorted(convs, key=lambda c: c.get("started_at", ""))
    complaints = [d for c in convs for k in c.get("messages", [])
                  if (d := data.message(k)) is not None and d.get("sender") == customer
                  and "ofora" in d.get("tags", [])]
    complaints.sort(key=lambda d: d.get("received_at", ""))
    first = complaints[0] if complaints else {"message_id": None, "subject": convs[0].get(
        "subject", ""), "sender_name": convs[0].get("customer_name", ""), "references": []}
    words = list(dict.fromkeys(d.get("text", "").strip() for d in complaints if d.get("text")))
    return Recipient(customer, first.get("sender_name", "") or convs[0].get("customer_name", ""),
                     [c["id"] for c in convs], words, first, convs[-1]["id"],
                     [k for c in convs for k in c.get("messages", [])])


def render(tools: Tools, result: Plan, recipient: Recipient, now: datetime, *,
           offer: str = "", note: str = "") -> Outgoing:
    """The one message `recipient` gets, with its deterministic Message-ID."""
    problem = result.problem
    fixed = last_event(problem, "fixed") or {}
    settings = tools.settings
    context = TemplateContext(
        customer=Person(name=recipient.name, first_name=first_name(recipient.name),
                        email=recipient.address),
        words="\n\n".join(recipient.words),
        subject=str(recipient.first.get("subject", "")),
        conversation=recipient.latest_conversation,
        topics=[problem["topic"]] if problem.get("topic") else [],
        problem=Problem(slug=problem["slug"], title=problem.get("title", ""),
                        note=note if result.kind == "notify" else fixed.get("note", ""),
                        ref=fixed.get("ref", "") or ""),
        offer=offer,
        company=Company(name=settings.company.name, website=settings.company.website,
                        signature=settings.company.signature),
    )
    first = recipient.first
    message_id = first.get("message_id")
    language = first.get("language")
    ref = ThreadRef(recipient.latest_conversation, "token", is_new=False)
    out = make_outgoing(
        tools, result.template, context, Address(recipient.name, recipient.address),
        key=result.record_id(recipient.address), locales=[language] if language else [],
        conversation=recipient.latest_conversation, in_reply_to=message_id,
        references=(*first.get("references", []), message_id) if message_id else (),
        reply_to=customer_reply_to(tools, ref, now))
    header = unsubscribe_header(tools, recipient.latest_conversation, recipient.address, now)
    return replace(out, kind=SECOND_CHANCE if result.kind == "followup" else PROBLEM_UPDATE,
                   extra_headers=(*out.extra_headers, ("List-Unsubscribe", header)))


@dataclass
class CampaignResult:
    planned: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0


def run(store: Any, tools: Tools, result: Plan, *, send: Callable[[], tuple[int, int, int]],
        now: Callable[[], datetime], by: str, offer: str = "", note: str = "",
        sleep: Callable[[float], None] = time.sleep) -> CampaignResult:
    """Plan and send the campaign in rounds of at most `followup_per_minute`. Each round
    commits its records and planned messages together, then sends them (`send` runs the
    reply ledger)."""
    settings = tools.settings
    per_minute = settings.loop.followup_per_minute
    counts = CampaignResult()
    send_counts = send()  # whatever an interrupted run left planned goes first
    counts.sent += send_counts[0]
    pending = [*result.repair, *result.recipients]
    slug = result.problem["slug"]
    while pending:
        started = time.monotonic()
        moment = now()
        brake = settings.screening.max_replies_per_hour - store.replies_since(
            moment - timedelta(hours=1))
        if brake <= 0:
            log.warning("global brake: %d replies in the last hour; %d customers left for "
                        "the next run", settings.screening.max_replies_per_hour, len(pending))
            break
        chunk, pending = pending[:min(per_minute, brake)], pending[min(per_minute, brake):]
        batch = Batch()
        for recipient in chunk:
            record = result.record_id(recipient.address)
            if store.record(record) is not None:
                continue  # planned by a run that was interrupted after its commit
            out = render(tools, result, recipient, moment, offer=offer, note=note)
            planned = store.reply(out.message_id)
            batch.records[record] = {
                "problem": slug, "customer": recipient.address, "kind": result.kind,
                "update": result.update, "conversations": recipient.conversations,
                "messages": recipient.messages,
                "reply": out.message_id, "planned_at": planned["created_at"] if planned else
                moment.isoformat(timespec="seconds"), "by": by, "offer": offer}
            if planned is not None:
                continue  # in the ledger already: a commit whose record was lost; never again
            batch.put_reply(reply_doc(out, month=month_of(moment, settings.timezone),
                                      now=moment, customer=recipient.address))
            counts.planned += 1
        if batch:
            store.commit(batch)
        sent, deferred, failed = send()
        counts.sent, counts.deferred = counts.sent + sent, counts.deferred + deferred
        counts.failed += failed
        if pending:
            sleep(max(0.0, 60.0 - (time.monotonic() - started)))
    return counts


def record_notified(store: Any, result: Plan, *, by: str, note: str, count: int,
                    now: datetime) -> None:
    """Append the `notified` event to the problem (once per update)."""
    problem = store.record(result.problem["id"])
    if any(e.get("update") == result.update for e in problem.get("events", [])
           if e["event"] == "notified"):
        return
    batch = Batch()
    batch.records[problem["id"]] = with_event(problem, "notified", now, by, update=result.update,
                                              note=note, customers=count)
    store.commit(batch)
