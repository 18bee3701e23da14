"""The protocol every mailbox (Maildir, IMAP) offers the daemon.

The daemon owns the checkpoint: `fetch` is given the last committed checkpoint
and returns the one that holds after the fetched messages; the daemon writes it
in the same store commit as the messages' decisions, so the checkpoint can never
run ahead of what was recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Fetched:
    key: str  # stable identity: "imap:folder:uidvalidity:uid" or "maildir:name"
    raw: bytes
    received_at: datetime  # the mailbox's own arrival time
    uid: int | None = None


@dataclass
class FetchResult:
    items: list[Fetched]
    checkpoint: dict[str, Any] | None  # to store with these messages' decisions
    more: bool = False  # more messages are waiting beyond this batch
    resync: bool = False  # the mailbox was reset (e.g. UIDVALIDITY changed)
    backlog: int = 0  # messages still waiting after this batch, where known


@dataclass(frozen=True, slots=True)
class Processed:
    item: Fetched
    tags: Sequence[str] = field(default_factory=tuple)
    verdict: str = "answer"


class Mailbox(Protocol):
    name: str

    def connect(self) -> None: ...
    def fetch(self, checkpoint: dict[str, Any] | None, limit: int) -> FetchResult: ...
    def done(self, processed: Sequence[Processed]) -> None: ...
    def wait(self, timeout: float, stop: threading.Event) -> None: ...
    def status(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
