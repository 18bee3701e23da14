"""Opting out of follow-ups: the `List-Unsubscribe` mailto address and what it records.

Every follow-up and problem update carries
`List-Unsubscribe: <mailto:feedback+u.TOKEN@example.com?subject=unsubscribe>`, the
token signed for the conversation and the customer it went to. Any message that
reaches a `u.` address is an opt-out: with a valid token it writes the record
`optout:CUSTOMER` (once; later ones change nothing), and it is never answered.
(`List-Unsubscribe-Post` is for HTTPS one-click links, so it is not sent.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from mailloop.model import Inbound, Verdict
from mailloop.outcome import Outcome
from mailloop.staff import person_key
from mailloop.tokens import (
    CUSTOMER_TOKEN_DAYS,
    UNSUBSCRIBE_TOKEN,
    TokenError,
    make_token,
    recipient_tokens,
    token_address,
    token_kind,
    verify_token,
)
from mailloop.tools import Tools

PREFIX = "optout:"


class OptOutView(Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def record(self, record_id: str) -> dict[str, Any] | None: ...


def optout_id(customer: str) -> str:
    return PREFIX + customer.casefold()


def unsubscribe_header(tools: Tools, conversation: str, customer: str, now: datetime) -> str:
    """The `List-Unsubscribe` value for a message to `customer` about `conversation`."""
    token = make_token(tools.secret, UNSUBSCRIBE_TOKEN, conversation, person_key(customer),
                       now + timedelta(days=CUSTOMER_TOKEN_DAYS))
    address = token_address(tools.settings.delivery.from_address, token)
    return f"<mailto:{address}?subject=unsubscribe>"


def unsubscribe_outcome(msg: Inbound, verdict: Verdict, tools: Tools, view: OptOutView,
                        now: datetime) -> Outcome:
    """Record the opt-out a message to a `u.` address asks for; never answer it."""
    tokens = [t for t in recipient_tokens(msg, tools.settings.delivery.from_address)
              if token_kind(t) == UNSUBSCRIBE_TOKEN]

    def refused(reason: str) -> Outcome:
        return Outcome(msg, Verdict(verdict.kind, verdict.rule, f"opt-out refused: {reason}"))

    if not tokens:
        return refused("no unsubscribe token")
    try:
        token = verify_token(tools.secret, tokens[0], now=now)
    except TokenError as exc:
        return refused(str(exc))
    conversation = view.conversation(token.conversation)
    customer = str(conversation.get("customer", "")) if conversation else ""
    if not customer or person_key(customer) != token.person:
        return refused("the token does not name a customer we wrote to")
    record = optout_id(customer)
    reason = f"{customer} opted out of follow-ups"
    if view.record(record) is not None:
        return Outcome(msg, Verdict(verdict.kind, verdict.rule, reason + " (already)"))
    return Outcome(msg, Verdict(verdict.kind, verdict.rule, reason), records={record: {
        "customer": customer, "at": now.isoformat(timespec="seconds"),
        "conversation": token.conversation, "message": msg.key,
        "from": msg.sender.email if msg.sender else ""}})
