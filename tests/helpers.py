"""Small builders shared by the unit tests."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailloop.config import Settings, load_settings
from mailloop.daemon import Daemon, utcnow
from mailloop.factory import make_delivery, make_mailbox
from mailloop.model import Inbound
from mailloop.parse import parse
from mailloop.store import open_store

if TYPE_CHECKING:
    from tests.servers import Dovecot, MailUser, SmtpServer

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


ROOT = Path(__file__).resolve().parent.parent


def example_settings(folder: Path, **overrides: Any) -> Settings:
    """The shipped example configuration and templates, copied into `folder` (so the state
    lives there), with `overrides` applied on top."""
    config = folder / "mailloop.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    shutil.copytree(ROOT / "templates", folder / "templates")
    return load_settings(config, **overrides)


def run_once(settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
    """`mailloop run --once` in this process: everything waiting is processed and sent."""
    store = open_store(settings)
    try:
        Daemon(settings, mailbox=make_mailbox(settings), delivery=make_delivery(settings),
               store=store, clock=clock or utcnow).run(once=True)
    finally:
        store.close()


def run_cycles(settings: Settings, cycles: int = 1, pause: float = 0.0) -> None:
    """Run the daemon `--once` several times, as traffic trickles back through the servers."""
    for _ in range(cycles):
        run_once(settings)
        time.sleep(pause)


def server_settings(folder: Path, dovecot: Dovecot, feedback: MailUser, smtp: SmtpServer,
                    **overrides: Any) -> Settings:
    """Settings for the test servers: `feedback`'s Dovecot INBOX over IMAP, replies over SMTP
    to `smtp`, the shipped templates, the state in `folder`; `mailbox` merges into the IMAP
    settings, anything else is a top-level override."""
    mailbox = {"kind": "imap", "host": dovecot.host, "port": dovecot.imap_port, "tls": "none",
               "allow_plaintext_loopback": True, "username": feedback.name,
               "password": feedback.password, **overrides.pop("mailbox", {})}
    return load_settings(
        None, base_dir=str(folder), state_dir=str(folder / "var"),
        templates={"path": str(ROOT / "templates")}, mailbox=mailbox,
        delivery={"kind": "smtp", "host": smtp.host, "port": smtp.port, "tls": "none",
                  "from_address": feedback.address, "from_name": "Customer Care"},
        **overrides)


def server_config(folder: Path, dovecot: Dovecot, feedback: MailUser, smtp: SmtpServer, *,
                  password: str | None = None, extra: str = "") -> Path:
    """`folder/mailloop.toml` for the test servers, as `server_settings` builds them, for
    the commands that read a file. `extra` (top-level keys, other tables) goes before the
    server tables; `password` replaces the mailbox's."""
    config = folder / "mailloop.toml"
    config.write_text(f"""state_dir = "{folder / 'var'}"
{extra}
[templates]
path = "{ROOT / 'templates'}"

[mailbox]
kind = "imap"
host = "{dovecot.host}"
port = {dovecot.imap_port}
tls = "none"
allow_plaintext_loopback = true
username = "{feedback.name}"
password = "{feedback.password if password is None else password}"

[delivery]
kind = "smtp"
host = "{smtp.host}"
port = {smtp.port}
tls = "none"
from_address = "{feedback.address}"
from_name = "Customer Care"
""", encoding="utf-8")
    return config
