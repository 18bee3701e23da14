"""A Maildir folder as the mailbox: the embedded default.

Messages delivered into `new/` are fetched in arrival order (the file's delivery
time), and moved to `cur/` once their decisions are recorded. Nothing is marked
read. A message found in `new/` whose key the store already holds (a crash
between the store commit and the move) is simply moved again by the daemon.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailloop.mailbox.base import Fetched, FetchResult, Processed


def ensure_maildir(path: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def unique_name(filename: str) -> str:
    return filename.split(":", 1)[0]


class MaildirMailbox:
    def __init__(self, path: Path, *, poll_interval: float = 1.0) -> None:
        self.path = path
        self.name = f"maildir:{path}"
        self.poll_interval = poll_interval
        self._last_error: str | None = None

    def connect(self) -> None:
        ensure_maildir(self.path)

    def _waiting(self) -> list[os.DirEntry[str]]:
        with os.scandir(self.path / "new") as it:
            entries = [e for e in it if e.is_file() and not e.name.startswith(".")]
        entries.sort(key=lambda e: (e.stat().st_mtime, e.name))
        return entries

    def fetch(self, checkpoint: dict[str, Any] | None, limit: int) -> FetchResult:
        entries = self._waiting()
        items = []
        for entry in entries[:limit]:
            try:
                raw = Path(entry.path).read_bytes()
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue  # taken by another reader between listing and reading
            items.append(Fetched(key=f"maildir:{unique_name(entry.name)}", raw=raw,
                                 received_at=datetime.fromtimestamp(mtime, UTC)))
        backlog = max(0, len(entries) - limit)
        return FetchResult(items=items, checkpoint=None, more=backlog > 0, backlog=backlog)

    def done(self, processed: Sequence[Processed]) -> None:
        names = {p.item.key.removeprefix("maildir:") for p in processed}
        with os.scandir(self.path / "new") as it:
            for entry in it:
                if unique_name(entry.name) in names:
                    target = self.path / "cur" / (unique_name(entry.name) + ":2,")
                    os.replace(entry.path, target)

    def wait(self, timeout: float, stop: threading.Event) -> None:
        deadline = timeout
        while deadline > 0 and not stop.is_set():
            if self._waiting():
                return
            stop.wait(min(self.poll_interval, deadline))
            deadline -= self.poll_interval

    def status(self) -> dict[str, Any]:
        return {"kind": "maildir", "path": str(self.path), "connected": True,
                "backlog": len(self._waiting()), "last_error": self._last_error}

    def close(self) -> None:
        return None


def deliver(path: Path, raw: bytes, name: str | None = None) -> Path:
    """Deliver a message into a Maildir the way an MDA does: write in tmp/, rename into new/."""
    import socket
    import time
    import uuid

    ensure_maildir(path)
    unique = name or f"{time.time_ns()}.{uuid.uuid4().hex[:12]}.{socket.gethostname()}"
    tmp = path / "tmp" / unique
    with tmp.open("wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    target = path / "new" / unique
    os.replace(tmp, target)
    return target
