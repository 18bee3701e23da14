"""decide: configurable rules turn a verdict and tags into actions.

The first rule whose `when` matches the tags decides. Two things no rule can
override: an uncertain message gets the neutral acknowledgement (never a
thank-you), and the per-sender and global limits hold acknowledgements back.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailloop.config import Rule, Settings
from mailloop.model import Action, ActionKind, Address, Inbound, Tags, Verdict
from mailloop.staff import parse_person

NEUTRAL_TEMPLATE = "ack_neutral"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much we have already sent: read from the store before deciding."""

    acks_to_sender_today: int = 0
    replies_last_hour: int = 0
    already_thanked: bool = False  # a manager already thanked this conversation


@dataclass(frozen=True, slots=True)
class Decision:
    actions: tuple[Action, ...]
    rule: str  # which `when` matched, or why nothing is sent
    held: tuple[str, ...] = ()  # why an acknowledgement was held back


def tag_class(tags: Tags) -> str:
    if tags.review:
        return "review"
    if tags.smile and tags.ofora:
        return "both"
    if tags.ofora:
        return "ofora"
    if tags.smile:
        return "smile"
    return "neither"


def _matches(rule: Rule, klass: str) -> bool:
    return rule.when == "any" or rule.when == klass


def reply_address(msg: Inbound) -> Address | None:
    """Where a person reads replies: Reply-To when given, else From."""
    return msg.reply_to or msg.sender


def _manager_addresses(settings: Settings) -> tuple[Address, ...]:
    if settings.staff.managers_address:
        return (Address("Managers", settings.staff.managers_address),)
    return tuple(Address(m.name, m.email) for m in settings.managers)


def staff_for_topics(settings: Settings, topics: tuple[str, ...] | list[str]
                     ) -> tuple[Address, ...]:
    """Who answers OforAs about these topics: the [[ofora_staff]] teams for them, else
    staff.ofora_default (which may be nobody)."""
    found: dict[str, Address] = {}
    for team in settings.ofora_staff:
        if team.topic in topics:
            for entry in team.emails:
                person = parse_person(entry, settings)
                found.setdefault(person.key, person)
    if not found:
        for entry in settings.staff.ofora_default:
            person = parse_person(entry, settings)
            found.setdefault(person.key, person)
    return tuple(found.values())


def decide(msg: Inbound, verdict: Verdict, tags: Tags, settings: Settings,
           limits: Limits) -> Decision:
    if not verdict.answerable:
        return Decision((Action(ActionKind.RECORD_ONLY, reason=verdict.reason),), verdict.rule)
    klass = tag_class(tags)
    rule = next((r for r in settings.rules if _matches(r, klass)), None)
    if rule is None:
        return Decision((Action(ActionKind.RECORD_ONLY, reason="no rule matches"),), klass)

    actions: list[Action] = []
    held: list[str] = []
    to = reply_address(msg)
    if rule.acknowledge and to is not None:
        template = NEUTRAL_TEMPLATE if tags.review else rule.acknowledge
        if limits.acks_to_sender_today >= settings.screening.max_acks_per_sender_per_day:
            held.append(f"rate limit: {limits.acks_to_sender_today} acknowledgements to "
                        f"{to.email} in the last 24 hours")
        elif limits.replies_last_hour >= settings.screening.max_replies_per_hour:
            held.append(f"global brake: {limits.replies_last_hour} replies in the last hour")
        else:
            actions.append(Action(ActionKind.ACKNOWLEDGE, template=template, to=(to,),
                                  reason=f"rule when={rule.when}"))
    if rule.notify_managers and tags.smile and not tags.review and not limits.already_thanked:
        recipients = _manager_addresses(settings)
        if recipients:
            actions.append(Action(ActionKind.NOTIFY_MANAGERS, template="manager_notification",
                                  to=recipients, reason=f"rule when={rule.when}"))
    if rule.notify_staff and tags.ofora:
        recipients = staff_for_topics(settings, tags.topics)
        if recipients:
            actions.append(Action(ActionKind.NOTIFY_STAFF, template="ofora_notification",
                                  to=recipients, reason=f"rule when={rule.when}"))
    if not actions:
        reason = "; ".join(held) or "rule sends nothing"
        actions.append(Action(ActionKind.RECORD_ONLY, reason=reason))
    return Decision(tuple(actions), rule.when, tuple(held))
