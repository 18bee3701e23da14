"""The result of running the pure steps on one message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailloop.decide import Decision
from mailloop.model import NO_TAGS, Inbound, Outgoing, Tags, ThreadRef, Verdict, VerdictKind
from mailloop.staff import StaffReply


@dataclass(frozen=True)
class Outcome:
    inbound: Inbound
    verdict: Verdict
    thread: ThreadRef | None = None
    tags: Tags = NO_TAGS
    decision: Decision | None = None
    replies: tuple[Outgoing, ...] = ()
    staff: StaffReply | None = None
    # Changes this message makes to documents of other messages and its conversation.
    message_updates: tuple[dict[str, Any], ...] = ()
    conversation_updates: dict[str, Any] = field(default_factory=dict)
    # Small records to write with it (problem links, opt-outs, staff notes), by id.
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def parked(self) -> bool:
        return self.verdict.kind is VerdictKind.PARK
