"""The embedded outbox: each reply is delivered into a Maildir folder.

A file named after the reply's Message-ID makes "was it sent?" an exact question
after a crash: the file is there or it is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mailloop.delivery.base import Envelope
from mailloop.mailbox.maildir import deliver, ensure_maildir
from mailloop.model import ReplyState, SendResult


def _file_name(message_id: str) -> str:
    return hashlib.sha256(message_id.encode()).hexdigest()[:32] + ".mailloop"


class MaildirOutbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"maildir:{path}"
        ensure_maildir(path)

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        results = []
        for env in envelopes:
            try:
                deliver(self.path, env.raw, name=_file_name(env.message_id))
                results.append(SendResult(ReplyState.SENT, f"delivered to {self.path}/new"))
            except OSError as exc:
                results.append(SendResult(ReplyState.DEFERRED, f"outbox not writable: {exc}"))
        return results

    def already_sent(self, message_id: str) -> bool | None:
        name = _file_name(message_id)
        return (self.path / "new" / name).exists() or any(
            (self.path / "cur").glob(name + "*"))

    def status(self) -> dict[str, Any]:
        return {"kind": "maildir", "path": str(self.path), "connected": True}

    def close(self) -> None:
        return None
