"""The Sent folder on the real test Dovecot: copies of replies, and the crash check."""

from __future__ import annotations

import email
from pathlib import Path

from mailloop.config import load_settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.mailbox.maildir import deliver
from mailloop.store import open_store
from mailloop.store.base import Batch
from tests.helpers import email_bytes
from tests.servers import Dovecot, MailUser, SmtpServer
from tests.test_ledger import FROM, write_config


def sent_folder_config(path: Path, user: MailUser, *, append: bool) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f'''
[delivery.sent_folder]
folder = "Sent"
append = {str(append).lower()}
host = "{user.host}"
port = {user.imap_port}
tls = "none"
allow_plaintext_loopback = true
username = "{user.name}"
password = "{user.password}"
''')


def feedback(inbox: Path, n: int) -> None:
    deliver(inbox, email_bytes(sender=f"C{n} <c{n}@customer.test>", to=FROM,
                               subject=f"Late parcel {n}", message_id=f"sf-{n}@customer.test",
                               body="My parcel is three weeks late."))


def run_once(config: Path) -> None:
    settings = load_settings(config)
    store = open_store(settings)
    delivery = make_delivery(settings)
    try:
        Daemon(settings, mailbox=make_mailbox(settings), delivery=delivery,
               store=store).run(once=True)
    finally:
        delivery.close()
        store.close()


def test_each_sent_reply_is_appended(tmp_path: Path, smtp_server: SmtpServer,
                                     dovecot: Dovecot, feedback_user: MailUser) -> None:
    config = write_config(tmp_path, smtp_server)
    sent_folder_config(config, feedback_user, append=True)
    settings = load_settings(config)
    for n in range(3):
        feedback(settings.inbox_path, n)
    run_once(config)
    sent = smtp_server.wait_for(3)
    copies = dovecot.messages(feedback_user.name, "Sent")
    assert sorted(email.message_from_bytes(c)["Message-ID"] for c in copies) == sorted(
        email.message_from_bytes(m.raw)["Message-ID"] for m in sent)


def test_after_a_crash_the_sent_folder_decides(tmp_path: Path, smtp_server: SmtpServer,
                                               dovecot: Dovecot,
                                               feedback_user: MailUser) -> None:
    config = write_config(tmp_path, smtp_server)
    sent_folder_config(config, feedback_user, append=False)
    settings = load_settings(config)
    for n in range(3):
        feedback(settings.inbox_path, n)
    # Plan the replies, then leave them in `sending` as a crash would.
    store = open_store(settings)
    delivery = make_delivery(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=delivery, store=store)
    daemon.receive()
    planned = sorted(store.replies(), key=lambda d: d["id"])
    batch = Batch()
    for doc in planned:
        batch.put_reply({**doc, "state": "sending", "attempts": 1})
    store.commit(batch)
    delivery.close()
    store.close()
    # The submission server had filed the first one in Sent before the crash.
    dovecot.append(feedback_user.name, "Sent", planned[0]["raw"].encode())

    run_once(config)
    store = open_store(settings)
    try:
        states = {d["id"]: d["state"] for d in store.replies()}
        first = store.reply(planned[0]["id"])
    finally:
        store.close()
    assert set(states.values()) == {"sent"}
    assert first is not None and first["response"] == "found at the transport after a restart"
    got = smtp_server.wait_for(2)
    smtp_server.assert_no_more(2, settle=0.3)
    assert {email.message_from_bytes(m.raw)["Message-ID"].strip("<>") for m in got} == {
        d["id"] for d in planned[1:]}
