"""The loop story of issue #11 on real servers: the feedback mailbox and every customer's and
staff member's mailbox in Dovecot, everything mailloop sends (and every customer's and staff
member's mail) through aiosmtpd relaying into Dovecot over LMTP. The story itself is in
tests/loop_story.py; the embedded-default run of it is in tests/test_lifecycle.py.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from mailloop.config import load_settings
from mailloop.store import open_store
from tests.helpers import run_once, server_config
from tests.loop_story import Mail, parse, story
from tests.servers import Dovecot, MailUser, SmtpServer

TIMEOUT = 60.0


def _config(tmp_path: Path, dovecot: Dovecot, smtp: SmtpServer, feedback: MailUser,
            billing: MailUser) -> Path:
    return server_config(tmp_path, dovecot, feedback, smtp, extra=f"""
secret = "loop-story-secret"

[[ofora_staff]]
topic = "billing"
emails = ["Bill Okafor <{billing.address}>"]

[[topics]]
name = "billing"
keywords = ["invoice", "charged twice", "refund", "bill", "payment"]
""")


def _sent(settings: object) -> list[tuple[str, str]]:
    store = open_store(settings)  # type: ignore[arg-type]
    try:
        return [(r["kind"], r["to"][0]) for r in store.replies() if r["state"] == "sent"]
    finally:
        store.close()


def test_the_whole_loop_story_on_dovecot_and_aiosmtpd(
        tmp_path: Path, dovecot: Dovecot, make_user: Callable[..., MailUser],
        relaying_smtp_server: SmtpServer) -> None:
    feedback, billing = make_user("feedback"), make_user("billing")
    customers = {name: make_user(name) for name in ("ana", "ben", "cara")}
    config = _config(tmp_path, dovecot, relaying_smtp_server, feedback, billing)
    settings = load_settings(config)
    people = [billing, *customers.values()]
    seen: list[EmailMessage] = []
    seen_ids: set[tuple[str, str]] = set()

    def sent_count() -> int:
        store = open_store(settings)
        try:
            return sum(1 for r in store.replies() if r["state"] == "sent")
        finally:
            store.close()

    def received() -> list[EmailMessage]:
        """Everything mailloop sent, once it has all arrived, in the order first seen."""
        deadline = time.monotonic() + TIMEOUT
        expected = sent_count()
        while True:
            boxes = {u.name: dovecot.messages(u.name) for u in people}
            if sum(len(b) for b in boxes.values()) >= expected:
                break
            assert time.monotonic() < deadline, f"not all of these arrived: {_sent(settings)}"
            time.sleep(0.2)
        for user, raws in boxes.items():
            for raw in raws:
                msg = parse(raw)
                key = (user, str(msg["Message-ID"]))
                if key not in seen_ids:
                    seen_ids.add(key)
                    seen.append(msg)
        return list(seen)

    def send(raw: bytes) -> None:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # SMTP wants CRLF lines
        msg = parse(raw)
        before = len(dovecot.messages(feedback.name))
        sender = parseaddr(str(msg["From"]))[1]
        recipient = parseaddr(str(msg["To"]))[1]
        with smtplib.SMTP(relaying_smtp_server.host, relaying_smtp_server.port,
                          timeout=30) as smtp:
            smtp.sendmail(sender, [recipient], raw)
        deadline = time.monotonic() + TIMEOUT
        while len(dovecot.messages(feedback.name)) <= before:
            assert time.monotonic() < deadline, f"{recipient} never reached the feedback box"
            time.sleep(0.1)

    mail = Mail(feedback=feedback.address,
                customers={name: user.address for name, user in customers.items()},
                staff=billing.address, send=send, received=received,
                run=lambda: run_once(settings))
    report = story(mail, config)
    assert report["champions"] == 1
    assert not relaying_smtp_server.relay_errors
