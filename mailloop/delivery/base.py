"""The protocol every sender (Maildir outbox, SMTP) offers the daemon."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mailloop.model import SendResult


@dataclass(frozen=True, slots=True)
class Envelope:
    message_id: str
    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes


class Delivery(Protocol):
    name: str

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        """Try each envelope once; one result per envelope, in order. Never raises
        for a delivery problem: that is a DEFERRED or FAILED result."""
        ...

    def already_sent(self, message_id: str) -> bool | None:
        """Whether the message provably went out (True/False), or None if unknowable."""
        ...

    def status(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
