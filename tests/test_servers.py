"""Tests of the test harness itself: the real Dovecot and aiosmtpd servers on loopback."""

from __future__ import annotations

import datetime as dt
import email
import smtplib
import time
from collections.abc import Callable

import pytest
from imapclient import IMAPClient

from tests.servers import Dovecot, MailUser, SmtpServer


def _message(
    sender: str, to: str, subject: str, msgid: str, extra: str = "", body: str = "Hello."
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{msgid}>\r\n"
        f"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _send(server: SmtpServer, mail_from: str, rcpts: list[str], raw: bytes) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.sendmail(mail_from, rcpts, raw)


def _wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.1)


# --------------------------------------------------------------------------- Dovecot


def test_imap_append_and_fetch_round_trip(dovecot: Dovecot, feedback_user: MailUser) -> None:
    raw = _message("jo@customer.test", feedback_user.address, "Great service", "a1@customer.test")
    when = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)
    uid = dovecot.append(feedback_user.name, "INBOX", raw, flags=[r"\Flagged"], internaldate=when)
    assert uid == 1

    with IMAPClient(feedback_user.host, port=feedback_user.imap_port, ssl=False) as imap:
        imap.login(feedback_user.name, feedback_user.password)
        caps = set(imap.capabilities())
        assert {b"IDLE", b"MOVE", b"UIDPLUS", b"CONDSTORE", b"QRESYNC"} <= caps
        imap.select_folder("INBOX")
        data = imap.fetch([uid], [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"])[uid]
        imap.logout()
    assert data[b"BODY[]"] == raw
    assert b"\\Flagged" in data[b"FLAGS"]
    assert data[b"INTERNALDATE"].astimezone(dt.UTC) == when
    assert dovecot.messages(feedback_user.name) == [raw]


def test_append_creates_a_missing_folder(dovecot: Dovecot, feedback_user: MailUser) -> None:
    raw = _message("a@x.test", feedback_user.address, "x", "f1@x.test")
    dovecot.append(feedback_user.name, "Parked", raw)
    assert dovecot.messages(feedback_user.name, "Parked") == [raw]
    assert dovecot.messages(feedback_user.name, "INBOX") == []


def test_users_are_separate(make_user: Callable[..., MailUser], dovecot: Dovecot) -> None:
    one, two = make_user(), make_user()
    assert one.name != two.name
    dovecot.append(one.name, "INBOX", _message("a@x.test", one.address, "x", "u1@x.test"))
    assert len(dovecot.messages(one.name)) == 1
    assert dovecot.messages(two.name) == []


def test_lmtp_delivery_lands_in_the_mailbox(dovecot: Dovecot, feedback_user: MailUser) -> None:
    raw = _message("jo@customer.test", feedback_user.address, "Late parcel", "l1@customer.test")
    dovecot.deliver_lmtp(feedback_user.address, raw, mail_from="jo@customer.test")
    [stored] = dovecot.messages(feedback_user.name)
    parsed = email.message_from_bytes(stored)
    assert parsed["Message-ID"] == "<l1@customer.test>"
    assert parsed["Return-Path"] == "<jo@customer.test>"
    assert parsed["Delivered-To"] == feedback_user.address


def test_sieve_vacation_replies_once_per_sender(
    dovecot: Dovecot, customer_user: MailUser, smtp_server: SmtpServer
) -> None:
    dovecot.set_sieve(
        customer_user.name,
        'require ["vacation"];\n'
        'vacation :days 1 :subject "Out of office" "I am away until Monday.";\n',
    )
    for n in (1, 2):
        raw = _message(
            "feedback@company.test", customer_user.address, f"Thanks {n}", f"v{n}@company.test"
        )
        dovecot.deliver_lmtp(customer_user.address, raw, mail_from="feedback@company.test")

    [reply] = smtp_server.wait_for(1, timeout=60)
    assert reply.rcpt_tos == ("feedback@company.test",)
    assert reply.mail_from == ""  # vacation replies go out with a null envelope sender
    parsed = email.message_from_bytes(reply.raw)
    assert parsed["Subject"] == "Out of office"
    assert parsed["Auto-Submitted"].startswith("auto-replied")
    assert parsed["In-Reply-To"] == "<v1@company.test>"
    assert len(dovecot.messages(customer_user.name)) == 2
    _wait_until(lambda: "discarded duplicate vacation response" in dovecot.log_text())
    assert len(smtp_server.messages) == 1


def test_stop_and_start_keep_data_and_port(dovecot: Dovecot, feedback_user: MailUser) -> None:
    raw = _message("a@x.test", feedback_user.address, "kept", "k1@x.test")
    dovecot.append(feedback_user.name, "INBOX", raw)
    port = dovecot.imap_port
    validity = dovecot.uidvalidity(feedback_user.name)

    client = IMAPClient(dovecot.host, port=port, ssl=False, timeout=30)
    client.login(feedback_user.name, feedback_user.password)
    client.select_folder("INBOX")
    dovecot.stop()
    assert not dovecot.running
    with pytest.raises((OSError, IMAPClient.Error, IMAPClient.AbortError)):
        client.noop()
    dovecot.start()

    assert dovecot.imap_port == port
    assert dovecot.messages(feedback_user.name) == [raw]
    assert dovecot.uidvalidity(feedback_user.name) == validity


def test_restart(dovecot: Dovecot, feedback_user: MailUser) -> None:
    raw = _message("a@x.test", feedback_user.address, "kept", "r1@x.test")
    dovecot.deliver_lmtp(feedback_user.address, raw)
    dovecot.restart()
    assert len(dovecot.messages(feedback_user.name)) == 1


def test_recreate_folder_changes_uidvalidity(dovecot: Dovecot, feedback_user: MailUser) -> None:
    raw = _message("a@x.test", feedback_user.address, "x", "rc1@x.test")
    dovecot.append(feedback_user.name, "Archive", raw)
    before = dovecot.uidvalidity(feedback_user.name, "Archive")
    after = dovecot.recreate_folder(feedback_user.name, "Archive")
    assert after != before
    assert dovecot.messages(feedback_user.name, "Archive") == []


def test_recreate_inbox_keeping_messages(dovecot: Dovecot, feedback_user: MailUser) -> None:
    for n in (1, 2):
        dovecot.append(
            feedback_user.name, "INBOX", _message("a@x.test", "b@x.test", "x", f"ri{n}@x.test")
        )
    before_msgs = dovecot.messages(feedback_user.name)
    before = dovecot.uidvalidity(feedback_user.name)
    after = dovecot.recreate_folder(feedback_user.name, "INBOX", keep_messages=True)
    assert after != before
    assert dovecot.messages(feedback_user.name) == before_msgs


def test_recreate_folder_keeping_messages(dovecot: Dovecot, feedback_user: MailUser) -> None:
    raw = _message("a@x.test", "b@x.test", "x", "rk1@x.test")
    dovecot.append(feedback_user.name, "Sent", raw, flags=[r"\Seen"])
    before = dovecot.uidvalidity(feedback_user.name, "Sent")
    after = dovecot.recreate_folder(feedback_user.name, "Sent", keep_messages=True)
    assert after != before
    assert dovecot.messages(feedback_user.name, "Sent") == [raw]


# --------------------------------------------------------------------------- SMTP


def test_smtp_records_messages_and_connections(smtp_server: SmtpServer) -> None:
    raw1 = _message("a@x.test", "b@y.test", "one", "s1@x.test")
    raw2 = _message("a@x.test", "c@y.test", "two", "s2@x.test")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=30) as client:
        client.sendmail("a@x.test", ["b@y.test"], raw1)
        client.sendmail("a@x.test", ["c@y.test", "d@y.test"], raw2)
    _send(smtp_server, "a@x.test", ["b@y.test"], raw1)

    got = smtp_server.wait_for(3)
    assert [m.rcpt_tos for m in got] == [("b@y.test",), ("c@y.test", "d@y.test"), ("b@y.test",)]
    assert got[0].raw.replace(b"\r\n", b"\n") == raw1.replace(b"\r\n", b"\n")
    assert got[0].connection_id == got[1].connection_id != got[2].connection_id
    assert len(smtp_server.connection_ids) == 2


def test_smtp_fail_next_then_success(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(1, code=451)
    raw = _message("a@x.test", "b@y.test", "retry", "f1@x.test")
    with pytest.raises(smtplib.SMTPDataError) as failed:
        _send(smtp_server, "a@x.test", ["b@y.test"], raw)
    assert failed.value.smtp_code == 451
    assert smtp_server.messages == []
    _send(smtp_server, "a@x.test", ["b@y.test"], raw)
    assert len(smtp_server.wait_for(1)) == 1


def test_smtp_fail_at_rcpt_with_permanent_code(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(1, code=554, stage="RCPT")
    raw = _message("a@x.test", "b@y.test", "x", "f2@x.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(smtp_server, "a@x.test", ["b@y.test"], raw)
    assert refused.value.recipients["b@y.test"][0] == 554
    _send(smtp_server, "a@x.test", ["b@y.test"], raw)
    smtp_server.wait_for(1)


def test_smtp_refuse_recipient(smtp_server: SmtpServer) -> None:
    smtp_server.refuse_recipient("gone@y.test")
    raw = _message("a@x.test", "b@y.test", "x", "rr1@x.test")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=30) as client:
        refused = client.sendmail("a@x.test", ["gone@y.test", "b@y.test"], raw)
    assert refused == {"gone@y.test": (550, b"5.1.1 No such user")}
    [got] = smtp_server.wait_for(1)
    assert got.rcpt_tos == ("b@y.test",)
    assert ("RCPT", 550, "gone@y.test") in smtp_server.rejected


def test_smtp_stop_and_start_on_the_same_port(smtp_server: SmtpServer) -> None:
    port = smtp_server.port
    raw = _message("a@x.test", "b@y.test", "x", "ss1@x.test")
    _send(smtp_server, "a@x.test", ["b@y.test"], raw)
    smtp_server.stop()
    with pytest.raises(OSError):
        _send(smtp_server, "a@x.test", ["b@y.test"], raw)
    smtp_server.start()
    assert smtp_server.port == port
    _send(smtp_server, "a@x.test", ["b@y.test"], raw)
    assert len(smtp_server.wait_for(2)) == 2


@pytest.mark.smtp
def test_smtp_auth() -> None:
    with SmtpServer(auth=("mailloop", "s3cret")) as server:
        raw = _message("a@x.test", "b@y.test", "x", "au1@x.test")
        with (
            smtplib.SMTP(server.host, server.port, timeout=30) as client,
            pytest.raises(smtplib.SMTPSenderRefused),
        ):
            client.sendmail("a@x.test", ["b@y.test"], raw)
        with (
            smtplib.SMTP(server.host, server.port, timeout=30) as client,
            pytest.raises(smtplib.SMTPAuthenticationError),
        ):
            client.login("mailloop", "wrong")
        with smtplib.SMTP(server.host, server.port, timeout=30) as client:
            client.login("mailloop", "s3cret")
            client.sendmail("a@x.test", ["b@y.test"], raw)
        [got] = server.wait_for(1)
        assert got.auth_login == "mailloop"


def test_relay_into_dovecot_closes_the_loop(
    relaying_smtp_server: SmtpServer,
    dovecot: Dovecot,
    feedback_user: MailUser,
    customer_user: MailUser,
) -> None:
    dovecot.set_sieve(
        customer_user.name,
        'require ["vacation"];\nvacation :days 1 :subject "Away" "Back on Monday.";\n',
    )
    reply = _message(
        feedback_user.address, customer_user.address, "Thank you!", "reply1@example.test"
    )
    _send(relaying_smtp_server, feedback_user.address, [customer_user.address], reply)

    # The reply lands in the customer's mailbox, their vacation answers it through the same
    # SMTP server, and that auto-reply is relayed into the feedback mailbox.
    got = relaying_smtp_server.wait_for(2, timeout=60)
    assert {m.rcpt_tos for m in got} == {(customer_user.address,), (feedback_user.address,)}
    [delivered] = dovecot.messages(customer_user.name)
    assert email.message_from_bytes(delivered)["Message-ID"] == "<reply1@example.test>"
    _wait_until(lambda: len(dovecot.messages(feedback_user.name)) == 1, timeout=60)
    [auto] = dovecot.messages(feedback_user.name)
    parsed = email.message_from_bytes(auto)
    assert parsed["Subject"] == "Away"
    assert parsed["In-Reply-To"] == "<reply1@example.test>"
    assert relaying_smtp_server.relay_errors == []


def test_feedback_imap_is_logged_in(feedback_imap: IMAPClient) -> None:
    assert b"INBOX" in {name.encode() for _flags, _sep, name in feedback_imap.list_folders()}
    assert feedback_imap.find_special_folder(b"\\Sent") == "Sent"


def test_relay_leaves_other_domains_alone(
    relaying_smtp_server: SmtpServer, dovecot: Dovecot, feedback_user: MailUser
) -> None:
    raw = _message(feedback_user.address, "someone@elsewhere.test", "x", "o1@example.test")
    _send(relaying_smtp_server, feedback_user.address, ["someone@elsewhere.test"], raw)
    relaying_smtp_server.wait_for(1)
    assert dovecot.messages(feedback_user.name) == []
