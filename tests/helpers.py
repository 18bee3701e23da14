"""Small builders shared by the unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from mailloop.model import Inbound
from mailloop.parse import parse

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def email_bytes(*, sender: str = "Maria Garcia <maria@example.org>", to: str =
                "feedback@example.com", subject: str = "Hello", body: str = "Hello there.",
                message_id: str = "m1@example.org", headers: dict[str, str] | None = None
                ) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
             f"Message-ID: <{message_id}>", "Date: Wed, 25 Nov 2026 11:00:00 +0000",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def inbound(key: str = "test:1", received_at: datetime = NOW, **kwargs: object) -> Inbound:
    return parse(email_bytes(**kwargs), key=key, received_at=received_at)  # type: ignore[arg-type]
