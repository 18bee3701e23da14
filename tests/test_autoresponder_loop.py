"""No mail loops with real auto-responders: Dovecot's Sieve vacation and a forwarding rule.

The customer's mailbox is a real Dovecot account with a Sieve script; our replies reach
it through aiosmtpd relaying into Dovecot over LMTP, and whatever Sieve sends back is
relayed into the feedback mailbox, which mailloop reads over IMAP.
"""

from __future__ import annotations

import email
import time
from collections.abc import Callable
from pathlib import Path

from mailloop.config import Settings
from mailloop.store.tinydb import TinyStore
from tests.helpers import run_cycles, server_settings
from tests.servers import Dovecot, MailUser, SmtpServer


def settings_for(tmp_path: Path, dovecot: Dovecot, feedback: MailUser, smtp: SmtpServer
                 ) -> Settings:
    return server_settings(tmp_path, dovecot, feedback, smtp, secret="loop-test-secret",
                           mailbox={"poll_interval": 0.5})


def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def customer_mail(customer: MailUser, feedback: MailUser, message_id: str) -> bytes:
    return (f"From: Maria Garcia <{customer.address}>\r\nTo: {feedback.address}\r\n"
            f"Subject: Where is my parcel?\r\nMessage-ID: <{message_id}>\r\n"
            "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\n"
            "My parcel was due last week and still has not arrived. Can you check?\r\n"
            ).encode()


def test_vacation_auto_reply_never_starts_a_loop(
        tmp_path: Path, dovecot: Dovecot, feedback_user: MailUser, customer_user: MailUser,
        relaying_smtp_server: SmtpServer) -> None:
    dovecot.set_sieve(customer_user.name,
                      'require ["vacation"];\n'
                      'vacation :days 1 :subject "Out of office" "I am away until Monday.";\n')
    settings = settings_for(tmp_path, dovecot, feedback_user, relaying_smtp_server)
    dovecot.deliver_lmtp(feedback_user.address, customer_mail(customer_user, feedback_user,
                                                              "parcel@example.test"),
                         mail_from=customer_user.address)
    run_cycles(settings, 1, pause=1.0)
    wait_until(lambda: len(dovecot.messages(customer_user.name)) == 1)
    run_cycles(settings, 4, pause=1.0)

    to_customer = [m for m in relaying_smtp_server.messages
                   if m.rcpt_tos == (customer_user.address,)]
    from_customer = [m for m in relaying_smtp_server.messages
                     if m.rcpt_tos == (feedback_user.address,)]
    assert len(to_customer) == 1  # exactly one acknowledgement
    ack = email.message_from_bytes(to_customer[0].raw)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert len(from_customer) <= 1  # at most one vacation reply, and nothing after it
    # Everything in the feedback mailbox was seen; the original was answered, nothing else.
    store = TinyStore(settings.store_path)
    docs = list(store.iter_messages())
    assert len(docs) == len(dovecot.messages(feedback_user.name))
    answered = [d for d in docs if d["verdict"]["kind"] == "answer"]
    assert [d["message_id"] for d in answered] == ["parcel@example.test"]
    for doc in docs:
        if doc["message_id"] != "parcel@example.test":
            assert doc["verdict"]["kind"] == "skip"
            assert doc["conversation"] == answered[0]["conversation"]
    assert len(store.replies()) == 1


def test_a_forwarding_rule_that_sends_our_reply_back_is_recognised(
        tmp_path: Path, dovecot: Dovecot, feedback_user: MailUser, customer_user: MailUser,
        relaying_smtp_server: SmtpServer) -> None:
    # A misconfigured forward: everything the customer receives goes to the feedback address.
    dovecot.set_sieve(customer_user.name, f'redirect "{feedback_user.address}";\n')
    settings = settings_for(tmp_path, dovecot, feedback_user, relaying_smtp_server)
    dovecot.deliver_lmtp(feedback_user.address, customer_mail(customer_user, feedback_user,
                                                              "fwd@example.test"),
                         mail_from=customer_user.address)
    run_cycles(settings, 1, pause=1.0)
    # Our acknowledgement comes straight back into the feedback mailbox.
    wait_until(lambda: len(dovecot.messages(feedback_user.name)) == 2)
    run_cycles(settings, 3, pause=1.0)
    to_customer = [m for m in relaying_smtp_server.messages
                   if m.rcpt_tos == (customer_user.address,)]
    assert len(to_customer) == 1
    docs = {d["message_id"]: d for d in TinyStore(settings.store_path).iter_messages()}
    assert len(docs) == 2
    bounced_back = next(d for mid, d in docs.items() if mid != "fwd@example.test")
    assert bounced_back["verdict"] == {"kind": "skip", "rule": "own-mail",
                                       "reason": bounced_back["verdict"]["reason"]}
