"""The whole manager story on real servers: Dovecot mailboxes, aiosmtpd relaying into them.

A customer's Smile reaches the feedback mailbox; the acknowledgement reaches the
customer; the notification reaches the manager's mailbox; the manager answers it the
way a mail client does (their words, a signature, the quoted notification); the
customer gets the thank-you crediting the rep, the rep a recognition note, the
manager a confirmation.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from mailloop.store import open_store
from tests.helpers import run_cycles, server_settings
from tests.servers import Dovecot, MailUser, SmtpServer


def wait_for_mail(dovecot: Dovecot, user: MailUser, count: int, timeout: float = 60.0
                  ) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        raw = dovecot.messages(user.name)
        if len(raw) >= count:
            return [email.message_from_bytes(r, policy=email.policy.default)  # type: ignore[misc]
                    for r in raw]
        assert time.monotonic() < deadline, f"{user.name} has {len(raw)} of {count} messages"
        time.sleep(0.2)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def test_manager_thanks_a_smile_from_their_mail_client(
        tmp_path: Path, dovecot: Dovecot, make_user: Callable[..., MailUser],
        relaying_smtp_server: SmtpServer) -> None:
    feedback, customer = make_user("feedback"), make_user("customer")
    manager, rep = make_user("dana"), make_user("jenny")
    settings = server_settings(
        tmp_path, dovecot, feedback, relaying_smtp_server, secret="story-secret",
        reps=[{"name": "Jenny Alvarez", "email": rep.address, "aliases": ["Jenny"]}],
        managers=[{"name": "Dana Lee", "email": manager.address}])
    smile = (f"From: Maria Garcia <{customer.address}>\r\nTo: {feedback.address}\r\n"
             "Subject: Jenny was wonderful\r\nMessage-ID: <smile-story@example.test>\r\n"
             "Date: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\n"
             "Jenny on your phone line sorted out my delivery address in two minutes.\r\n"
             "She was patient and kind. Please thank her from me!\r\n\r\nMaria\r\n").encode()
    dovecot.deliver_lmtp(feedback.address, smile, mail_from=customer.address)
    run_cycles(settings)

    (ack,) = wait_for_mail(dovecot, customer, 1)
    assert ack["In-Reply-To"] == "<smile-story@example.test>"
    assert ack["Auto-Submitted"] == "auto-replied"
    (notification,) = wait_for_mail(dovecot, manager, 1)
    assert "Jenny Alvarez" in str(notification["Subject"])
    assert "patient and kind" in " ".join(text_of(notification).split())
    reply_to = notification["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith(feedback.address.split("@")[0] + "+m.")

    # Dana answers from Thunderbird: her words on top, her signature, the quote below.
    answer = EmailMessage()
    answer["From"] = f"Dana Lee <{manager.address}>"
    answer["To"] = reply_to
    answer["Subject"] = "Re: " + str(notification["Subject"])
    answer["Message-ID"] = "<dana-answer@example.test>"
    answer["In-Reply-To"] = str(notification["Message-ID"])
    answer["References"] = str(notification["Message-ID"])
    quoted = "\n".join("> " + line for line in text_of(notification).splitlines())
    answer.set_content(
        "Dear Maria,\n\nThank you so much for taking the time to tell us about Jenny. "
        "Hearing this made our week, and I have made sure she knows.\n\n"
        "-- \nDana Lee\nHead of Customer Care, Example Co.\n+1 555 0100\n\n"
        f"On 25/11/2026 09:01, Customer Care wrote:\n{quoted}\n")
    with smtplib.SMTP(relaying_smtp_server.host, relaying_smtp_server.port, timeout=30) as smtp:
        smtp.send_message(answer, from_addr=manager.address, to_addrs=[reply_to])
    wait_for_mail(dovecot, feedback, 2)
    run_cycles(settings)

    thanks = wait_for_mail(dovecot, customer, 2)[1]
    assert thanks["From"].addresses[0].display_name == "Dana Lee"
    assert thanks["From"].addresses[0].addr_spec == feedback.address
    assert thanks["In-Reply-To"] == "<smile-story@example.test>"
    body = " ".join(text_of(thanks).split())
    assert body.startswith("Dear Maria, Thank you so much")  # her greeting, not a second one
    assert "Hearing this made our week" in body
    assert "Head of Customer Care" not in body and "> " not in body
    assert "Jenny" in body
    (recognition,) = wait_for_mail(dovecot, rep, 1)
    assert "patient and kind" in " ".join(text_of(recognition).split())
    assert "Hearing this made our week" in " ".join(text_of(recognition).split())
    confirmation = wait_for_mail(dovecot, manager, 2)[1]
    assert customer.address in text_of(confirmation)

    # Nothing more goes out on later cycles: no loops, no second thank-you.
    run_cycles(settings, 2)
    time.sleep(1)
    assert len(dovecot.messages(customer.name)) == 2
    assert len(dovecot.messages(manager.name)) == 2
    assert len(dovecot.messages(rep.name)) == 1
    store = open_store(settings)
    try:
        kinds = sorted(r["kind"] for r in store.replies())
        assert kinds == ["ack_smile", "manager_confirmation", "manager_notification",
                         "manager_thanks", "rep_recognition"]
        assert {r["state"] for r in store.replies()} == {"sent"}
    finally:
        store.close()
