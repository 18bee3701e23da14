"""What every report agrees on: which documents are customer feedback."""

from __future__ import annotations

from typing import Any

from mailloop.store.base import Doc

SENT_STATES = frozenset({"sent", "answered"})
MANAGER_THANKS = "manager_thanks"


def is_feedback(doc: Doc) -> bool:
    """A customer's message the loop answered (not a robot, a bounce or a manager)."""
    verdict: dict[str, Any] = doc.get("verdict") or {}
    return verdict.get("kind") == "answer" and doc.get("status") != "parked"


def is_smile(doc: Doc) -> bool:
    return is_feedback(doc) and "smile" in (doc.get("tags") or ())


def is_ofora(doc: Doc) -> bool:
    return is_feedback(doc) and "ofora" in (doc.get("tags") or ())


def credited_reps(doc: Doc) -> list[str]:
    """The reps a message credits with a Smile, each once, in the order named."""
    seen: list[str] = []
    for credit in doc.get("credits") or ():
        rep = credit.get("rep")
        if credit.get("credited") and rep and rep not in seen:
            seen.append(rep)
    return seen


def sent_at(reply: Doc) -> str | None:
    """When a reply reached `sent` (ISO), from its history."""
    for entry in reply.get("history") or ():
        if entry.get("state") == "sent":
            return str(entry.get("at"))
    return None


def thanked_message(doc: Doc) -> str | None:
    """For a manager's accepted answer, the key of the customer's Smile it thanks."""
    verdict: dict[str, Any] = doc.get("verdict") or {}
    staff: dict[str, Any] = doc.get("staff") or {}
    if verdict.get("kind") != "manager_reply" or not staff.get("accepted") or staff.get("skip"):
        return None
    answers = staff.get("answers")
    return str(answers) if answers else None
