"""Smiles per rep for a month or an incentive period.

One pass over the period's messages (and the period before it, for the change),
and one over the period's replies for the managers' thank-yous.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mailloop.config import Rep
from mailloop.reports.common import (
    MANAGER_THANKS,
    SENT_STATES,
    credited_reps,
    is_smile,
    thanked_message,
)
from mailloop.reports.periods import add_months, month_range
from mailloop.reports.redact import attributed, excerpt, has_cue, sentences
from mailloop.store.base import Doc


@dataclass
class RepSmiles:
    name: str
    smiles: int = 0
    previous: int = 0
    change: int = 0
    rank: int = 0
    thanked: int = 0
    customers: int = 0
    quotes: list[str] = field(default_factory=list)
    opt_out: bool = False
    on_roster: bool = True


@dataclass
class SmilesReport:
    first: str
    last: str
    reps: list[RepSmiles]
    uncredited: int
    total: int
    previous_total: int

    @property
    def label(self) -> str:
        return self.first if self.first == self.last else f"{self.first} to {self.last}"

    def published(self) -> list[RepSmiles]:
        """The ranking as the newsletter shows it: reps who opted out left out."""
        return [r for r in self.reps if not r.opt_out]

    def to_json(self) -> dict[str, Any]:
        reps = []
        for row in self.reps:
            item = asdict(row)
            item.pop("on_roster")
            if row.on_roster:
                reps.append(item)
            else:
                reps.append({**item, "on_roster": False})
        out: dict[str, Any] = {"month": self.first if self.first == self.last else None}
        if self.first != self.last:
            out.update({"from": self.first, "to": self.last})
        out.update({"reps": reps, "uncredited": self.uncredited, "total": self.total,
                    "previous_total": self.previous_total})
        return out


def period_months(first: str, last: str) -> tuple[list[str], list[str]]:
    """The period's months and the months of the equally long period before it."""
    months = month_range(first, last)
    before = [add_months(m, -len(months)) for m in months]
    return months, before


def smiles_report(messages: Iterable[Doc], replies: Iterable[Doc], roster: Sequence[Rep],
                  first: str, last: str, *, quotes_per_rep: int = 3) -> SmilesReport:
    """Smiles per rep from `first` to `last` (months, included).

    `messages` must hold the period's months and the period before it; `replies`
    the replies of the period and the month after it, and `messages` that month's
    managers' answers, for the thank-yous (a thank-you answers the manager's
    message, which names the Smile it thanks).
    """
    months, before = period_months(first, last)
    current, previous = set(months), set(before)
    rows: dict[str, RepSmiles] = {r.name: RepSmiles(r.name, opt_out=r.opt_out) for r in roster}
    aliases = {r.name: [r.name, *r.aliases, r.name.split()[0]] for r in roster}
    customers: dict[str, set[str]] = {}
    candidates: dict[str, list[tuple[tuple[Any, ...], str, str]]] = {}
    smile_reps: dict[str, list[str]] = {}
    uncredited = total = previous_total = 0
    thanks_for: dict[str, str] = {}  # manager's message key -> the Smile's key
    for doc in messages:
        month = doc.get("month", "")
        smile_key = thanked_message(doc)
        if smile_key is not None:
            thanks_for[doc["key"]] = smile_key
        if (month not in current and month not in previous) or not is_smile(doc):
            continue
        reps = credited_reps(doc)
        if month in previous:
            previous_total += 1
            for rep in reps:
                rows.setdefault(rep, RepSmiles(rep, on_roster=False)).previous += 1
            continue
        total += 1
        if not reps:
            uncredited += 1
        smile_reps[doc["key"]] = reps
        for rep in reps:
            row = rows.setdefault(rep, RepSmiles(rep, on_roster=False))
            row.smiles += 1
            customers.setdefault(rep, set()).add(doc.get("sender", ""))
            cues = [c.get("evidence", "") for c in doc.get("credits") or ()
                    if c.get("rep") == rep] + aliases.get(rep, [rep])
            words = excerpt(doc.get("text", ""), cues)
            if words:
                named = any(has_cue(s, cues) for s in sentences(doc.get("text", ""))[:20])
                key = (not named, abs(len(words) - 100) // 25, doc.get("received_at", ""),
                       doc["key"])
                candidates.setdefault(rep, []).append((key, doc.get("sender", ""),
                                                       attributed(words,
                                                                  doc.get("sender_name", ""))))
    thanked: dict[str, int] = {}
    for reply in replies:
        if reply.get("kind") == MANAGER_THANKS and reply.get("state") in SENT_STATES:
            answers = reply.get("answers") or ""
            for rep in smile_reps.get(thanks_for.get(answers, answers), []):
                thanked[rep] = thanked.get(rep, 0) + 1
    for name, row in rows.items():
        row.change = row.smiles - row.previous
        row.customers = len(customers.get(name, ()))
        row.thanked = thanked.get(name, 0)
        seen: set[str] = set()
        for _key, sender, quote in sorted(candidates.get(name, []), key=lambda c: c[0]):
            if len(row.quotes) >= quotes_per_rep:
                break
            if sender in seen:
                continue
            seen.add(sender)
            row.quotes.append(quote)
    ordered = sorted(rows.values(), key=lambda r: (-r.smiles, not r.on_roster, r.name))
    for index, row in enumerate(ordered):
        row.rank = ordered[index - 1].rank if index and ordered[index - 1].smiles == \
            row.smiles else index + 1
    return SmilesReport(first, last, ordered, uncredited, total, previous_total)
