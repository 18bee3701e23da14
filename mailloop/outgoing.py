"""Building replies: the template context for a message, and a rendered Outgoing."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailloop.compose import reply_message_id
from mailloop.config import Settings
from mailloop.context import Company, Person, TemplateContext
from mailloop.model import Address, Inbound, Outgoing, Tags, ThreadRef
from mailloop.render import one_line
from mailloop.tokens import CUSTOMER_TOKEN, CUSTOMER_TOKEN_DAYS, make_token, token_address
from mailloop.tools import Tools


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
    name = one_line(who.name) if who else ""
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
        received=msg.received_at.astimezone(ZoneInfo(settings.timezone)),
        tags=tags.labels,
        topics=list(tags.topics),
        company=Company(name=settings.company.name, website=settings.company.website,
                        signature=settings.company.signature),
    )


def customer_reply_to(tools: Tools, ref: ThreadRef | None, now: datetime) -> Address | None:
    delivery = tools.settings.delivery
    if delivery.reply_to:
        return Address("", delivery.reply_to)
    if not delivery.reply_tokens or ref is None:
        return None
    token = make_token(tools.secret, CUSTOMER_TOKEN, ref.conversation_id, "",
                       now + timedelta(days=CUSTOMER_TOKEN_DAYS))
    return Address(delivery.from_name, token_address(delivery.from_address, token))


def make_outgoing(tools: Tools, template: str, context: TemplateContext, to: Address, *,
                  key: str, locales: list[str], conversation: str | None,
                  in_reply_to: str | None = None, references: tuple[str, ...] = (),
                  sender: Address | None = None, reply_to: Address | None = None) -> Outgoing:
    """Render `template` for one recipient into an Outgoing with a deterministic Message-ID
    (derived from `key`, the template and the recipient)."""
    settings = tools.settings
    rendered = tools.templates.render(template, context, locales)
    sender = sender or Address(settings.delivery.from_name, settings.delivery.from_address)
    return Outgoing(
        message_id=reply_message_id(key, template, to.email, sender.domain),
        kind=template,
        template=rendered.template,
        locale=rendered.locale,
        sender=sender,
        to=(to,),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=reply_to,
        in_reply_to=in_reply_to,
        references=tuple(dict.fromkeys(references))[-20:],
        answers=key,
        conversation_id=conversation,
        template_hash=rendered.set_hash,
    )
