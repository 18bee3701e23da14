"""The lifecycle of an OforA conversation: its stages, its outcome, what is overdue.

    listened -> acknowledged -> moved -> fixed -> boosted -> champion | still_unhappy | no_answer

Stages the loop itself writes are kept on the conversation document (`stages`:
stage -> time, `stage_by`: stage -> who or what): `listened` (received and tagged
OforA), `moved` (a staff answer, a `#problem` link or gesture, or a match by
`problem open`) and `fixed` (`problem fixed`). The two stages that are a reply
being sent are read from the reply ledger, so they are true even when a send
was retried or interrupted: `acknowledged` (the acknowledgement reached `sent`)
and `boosted` (the second chance reached `sent`). The outcome is read from the
customer's messages after the second chance: a Smile within the window makes a
`champion`, any other answer on the conversation `still_unhappy`, silence for
the whole window `no_answer`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mailloop.config import Settings, parse_duration
from mailloop.store.base import Doc

LISTENED, ACKNOWLEDGED, MOVED, FIXED, BOOSTED = (
    "listened", "acknowledged", "moved", "fixed", "boosted")
STAGES = (LISTENED, ACKNOWLEDGED, MOVED, FIXED, BOOSTED)
CHAMPION, STILL_UNHAPPY, NO_ANSWER = "champion", "still_unhappy", "no_answer"
OUTCOMES = (CHAMPION, STILL_UNHAPPY, NO_ANSWER)
STATES = (*STAGES, *OUTCOMES)
# Each stage's target is measured from this earlier stage.
TARGET_FROM = {ACKNOWLEDGED: LISTENED, MOVED: LISTENED, FIXED: LISTENED, BOOSTED: FIXED}
ACK_KINDS = ("ack_ofora", "ack_smile", "ack_neutral")
SECOND_CHANCE = "second_chance"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def reached(stage: str, at: datetime | str, by: str) -> dict[str, Any]:
    """Conversation updates recording that `stage` was reached (first time wins)."""
    stamp = at if isinstance(at, str) else at.isoformat(timespec="seconds")
    return {"stages": {stage: stamp}, "stage_by": {stage: by}}


def merge_conversation(conv: Doc, updates: dict[str, Any]) -> Doc:
    """`conv` with `updates` applied: a stage keeps the first time it was reached, and
    lists of problems, gestures and notes grow; everything else is replaced."""
    new = {**conv, **updates}
    for key in ("stages", "stage_by"):
        if key in updates:
            new[key] = {**updates[key], **conv.get(key, {})}
    if "problems" in updates:
        new["problems"] = list(dict.fromkeys([*conv.get("problems", []), *updates["problems"]]))
    for key in ("gestures", "notes"):
        if key in updates:
            new[key] = [*conv.get(key, []), *updates[key]]
    return new


def first_sent(reply: Doc | None) -> str | None:
    """When a reply first reached `sent`, from its ledger history."""
    if reply is None:
        return None
    return next((h["at"] for h in reply.get("history", []) if h.get("state") == "sent"), None)


@dataclass
class Lifecycle:
    """One OforA conversation as the loop sees it now."""

    conversation: Doc
    stages: dict[str, str] = field(default_factory=dict)
    by: dict[str, str] = field(default_factory=dict)
    outcome: str | None = None
    outcome_at: str | None = None
    answered: bool = False  # the customer answered the second chance
    overdue: list[str] = field(default_factory=list)  # stages past their target

    @property
    def id(self) -> str:
        return str(self.conversation["id"])

    @property
    def customer(self) -> str:
        return str(self.conversation.get("customer", ""))

    @property
    def state(self) -> str:
        if self.outcome:
            return self.outcome
        return next((s for s in reversed(STAGES) if s in self.stages), "open")

    def seconds_to(self, stage: str) -> float | None:
        """Seconds from `listened` to `stage`, when both were reached."""
        if LISTENED not in self.stages or stage not in self.stages:
            return None
        delta = parse_time(self.stages[stage]) - parse_time(self.stages[LISTENED])
        return max(0.0, delta.total_seconds())

    def to_json(self) -> dict[str, Any]:
        conv = self.conversation
        return {
            "id": self.id,
            "customer": self.customer,
            "customer_name": conv.get("customer_name", ""),
            "subject": conv.get("subject", ""),
            "topics": list(conv.get("topics", [])),
            "tags": list(conv.get("tags", [])),
            "problems": list(conv.get("problems", [])),
            "state": self.state,
            "stages": {s: {"at": self.stages[s], "by": self.by.get(s, "")}
                       for s in STAGES if s in self.stages},
            "outcome": self.outcome,
            "outcome_at": self.outcome_at,
            "overdue": list(self.overdue),
            "started_at": conv.get("started_at"),
            "last_at": conv.get("last_at"),
        }


class LoopData:
    """What the lifecycle of many conversations is read from, loaded once.

    `messages` are the message documents of the months read; `reply` and `record`
    look documents up in the store."""

    def __init__(self, messages: Iterable[Doc], conversation: Any, reply: Any,
                 records: list[Doc]) -> None:
        self.by_key: dict[str, Doc] = {}
        self.by_sender: dict[str, list[Doc]] = {}
        conversation_ids: list[str] = []
        for doc in messages:
            self.by_key[doc["key"]] = doc
            self.by_sender.setdefault(doc.get("sender", ""), []).append(doc)
            cid = doc.get("conversation")
            if cid and "ofora" in doc.get("tags", []) and cid not in conversation_ids:
                conversation_ids.append(cid)
        for docs in self.by_sender.values():
            docs.sort(key=lambda d: d.get("received_at", ""))
        self._reply = reply
        self.conversations: list[Doc] = [c for cid in conversation_ids
                                         if (c := conversation(cid)) is not None]
        # (problem, customer) -> the follow-up record
        self.followups: dict[tuple[str, str], Doc] = {
            (r["problem"], r["customer"]): r for r in records
            if str(r.get("id", "")).startswith("followup:")}

    @classmethod
    def from_store(cls, store: Any, months: Iterable[str] | None = None) -> LoopData:
        return cls(store.iter_messages(months), store.conversation, store.reply,
                   store.records("followup:"))

    def reply(self, reply_id: str) -> Doc | None:
        return self._reply(reply_id)  # type: ignore[no-any-return]

    def message(self, key: str) -> Doc | None:
        return self.by_key.get(key)

    def followup_sent(self, problem: str, customer: str) -> tuple[str, Doc] | None:
        """(sent time, record) of the second chance for `customer` about `problem`."""
        record = self.followups.get((problem, customer))
        if record is None:
            return None
        at = first_sent(self.reply(record["reply"]))
        return (at, record) if at else None

    def lifecycle(self, conv: Doc, settings: Settings, now: datetime) -> Lifecycle:
        life = Lifecycle(conv, dict(conv.get("stages", {})), dict(conv.get("stage_by", {})))
        customer = life.customer
        if ACKNOWLEDGED not in life.stages:
            acks = []
            for key in conv.get("messages", []):
                doc = self.message(key)
                if doc is None or doc.get("sender") != customer:
                    continue
                for rid in doc.get("replies", []):
                    reply = self.reply(rid)
                    at = first_sent(reply)
                    if at and reply and reply.get("kind") in ACK_KINDS:
                        acks.append((at, reply["kind"]))
            if acks:
                at, kind = min(acks)
                life.stages[ACKNOWLEDGED] = at
                life.by[ACKNOWLEDGED] = f"mailloop: {kind} sent"
        boosts = [(found[0], slug, found[1]) for slug in conv.get("problems", [])
                  if (found := self.followup_sent(slug, customer)) is not None]
        if boosts:
            at, slug, record = min(boosts, key=lambda b: b[0])
            life.stages[BOOSTED] = at
            life.by[BOOSTED] = f"mailloop followup {slug} (by {record.get('by', '?')})"
            self._outcome(life, record, parse_time(at), settings, now)
        life.overdue = overdue(life, settings, now)
        return life

    def _outcome(self, life: Lifecycle, record: Doc, sent: datetime, settings: Settings,
                 now: datetime) -> None:
        found = self.followup_outcome(record, sent, settings, now, also=life.id)
        life.outcome, life.outcome_at, life.answered = found

    def followup_outcome(self, record: Doc, sent: datetime, settings: Settings, now: datetime,
                         also: str | None = None) -> tuple[str | None, str | None, bool]:
        """(outcome, when, answered) of one second chance: a Smile from the customer within
        the window makes a champion; another answer on a linked conversation leaves them
        still unhappy; silence for the whole window is no answer."""
        end = sent + timedelta(days=settings.loop.champion_window_days)
        linked = set(record.get("conversations", [])) | ({also} if also else set())
        before = set(record.get("messages", []))  # what the customer had written by then
        later = [d for d in self.by_sender.get(record["customer"], [])
                 if sent <= parse_time(d["received_at"]) <= end  # stamps are to the second
                 and d["key"] not in before and d.get("verdict", {}).get("kind") == "answer"]
        answers = [d for d in later if d.get("conversation") in linked]
        smile = next((d for d in later if "smile" in d.get("tags", [])), None)
        if smile is not None:
            return CHAMPION, smile["received_at"], bool(answers)
        if answers:
            return STILL_UNHAPPY, answers[0]["received_at"], True
        if now > end:
            return NO_ANSWER, end.isoformat(timespec="seconds"), False
        return None, None, False

    def lifecycles(self, settings: Settings, now: datetime) -> list[Lifecycle]:
        return [self.lifecycle(c, settings, now) for c in self.conversations]


def overdue(life: Lifecycle, settings: Settings, now: datetime) -> list[str]:
    """The stages not reached within their target (none once the outcome is known)."""
    if life.outcome:
        return []
    late: list[str] = []
    for stage, target in settings.loop.targets.items():
        start = life.stages.get(TARGET_FROM[stage])
        if stage in life.stages or start is None:
            continue
        if (now - parse_time(start)).total_seconds() > parse_duration(target):
            late.append(stage)
    return late
