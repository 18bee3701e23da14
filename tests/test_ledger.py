"""The reply ledger end to end: the daemon on a Maildir inbox, sending to a real aiosmtpd."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mailloop.cli import app
from mailloop.config import Settings, load_settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.mailbox.maildir import deliver
from mailloop.store import open_store
from mailloop.store.base import Batch, Repository
from mailloop.verp import message_id_for
from tests.helpers import email_bytes
from tests.servers import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
BOUNCES = ROOT / "tests" / "data" / "bounces"
FROM = "feedback@company.test"


def write_config(folder: Path, server: SmtpServer, **delivery: Any) -> Path:
    shutil.copytree(ROOT / "templates", folder / "templates", dirs_exist_ok=True)
    values = {"kind": "smtp", "host": server.host, "port": server.port, "tls": "none",
              "from_address": FROM, "from_name": "Customer Care", "timeout": 5.0,
              "retry_base": 60.0, "retry_cap": 600.0, "max_attempts": 3, **delivery}
    lines = ['state_dir = "var"', 'secret = "test-secret-test-secret"', "", "[delivery]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = folder / "mailloop.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Loop:
    settings: Settings
    daemon: Daemon
    store: Repository
    clock: Clock

    def feedback(self, n: int, body: str = "Your app keeps crashing when I log in.") -> str:
        mid = f"fb-{n}@customer.test"
        deliver(self.settings.inbox_path, email_bytes(
            sender=f"Customer {n} <customer{n}@customer.test>", to=FROM,
            subject=f"Problem {n}", body=body, message_id=mid))
        return mid

    def cycle(self) -> None:
        self.daemon.cycle()

    def reply_to(self, inbound_mid: str) -> dict[str, Any]:
        found = [r for r in self.store.replies() if
                 inbound_mid in email.message_from_string(r["raw"]).get("In-Reply-To", "")]
        assert len(found) == 1, found
        return found[0]


@pytest.fixture
def loop(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Loop]:
    settings = load_settings(write_config(tmp_path, smtp_server))
    settings.state_path.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    clock = Clock()
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=make_delivery(settings),
                    store=store, clock=clock)
    daemon.mailbox.connect()
    daemon.recover()
    yield Loop(settings, daemon, store, clock)
    daemon.delivery.close()
    store.close()


def states(doc: dict[str, Any]) -> list[str]:
    return [h["state"] for h in doc["history"]]


def test_replies_go_out_with_threading_headers(loop: Loop, smtp_server: SmtpServer) -> None:
    mids = [loop.feedback(n) for n in range(5)]
    loop.cycle()
    got = smtp_server.wait_for(5)
    assert len(smtp_server.connection_ids) == 1  # one connection carried them all
    for mid in mids:
        reply = loop.reply_to(mid)
        assert reply["state"] == "sent" and reply["response"].startswith("250")
        assert states(reply) == ["planned", "sending", "sent"]
        [raw] = [m.raw for m in got if f"<{reply['id']}>".encode() in m.raw]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["In-Reply-To"] == f"<{mid}>"
        assert f"<{mid}>" in msg["References"]
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["From"] == f"Customer Care <{FROM}>"
        assert msg["Message-ID"] == f"<{reply['id']}>"
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    loop.cycle()
    smtp_server.assert_no_more(5, settle=0.2)


def test_a_4xx_is_retried_later_and_then_succeeds(loop: Loop, smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    smtp_server.fail_next(1, 451, "4.3.0 Try again later")
    loop.cycle()
    reply = loop.reply_to(mid)
    assert reply["state"] == "deferred" and reply["attempts"] == 1
    assert "451" in reply["response"]
    assert reply["next_try"] == (loop.clock.now + timedelta(seconds=60)).isoformat(
        timespec="seconds")
    loop.cycle()  # not due yet: nothing is sent
    assert loop.reply_to(mid)["state"] == "deferred"
    assert smtp_server.messages == []
    loop.clock.advance(61)
    loop.cycle()
    reply = loop.reply_to(mid)
    assert reply["state"] == "sent" and reply["attempts"] == 2
    assert states(reply) == ["planned", "sending", "deferred", "sending", "sent"]
    assert len(smtp_server.wait_for(1)) == 1


def test_retries_back_off_and_give_up(loop: Loop, smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    smtp_server.fail_next(5, 421, "4.7.0 Busy")
    delays = []
    for _ in range(3):
        loop.cycle()
        reply = loop.reply_to(mid)
        if reply["state"] == "deferred":
            delays.append(datetime.fromisoformat(reply["next_try"]) - loop.clock.now)
            loop.clock.advance(delays[-1].total_seconds())
    assert delays == [timedelta(seconds=60), timedelta(seconds=120)]
    assert reply["state"] == "failed"
    assert reply["error"].startswith("gave up after 3 attempts")


def test_a_5xx_fails_with_its_reason(loop: Loop, smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    smtp_server.fail_next(1, 554, "5.7.1 Message rejected as spam")
    loop.cycle()
    reply = loop.reply_to(mid)
    assert reply["state"] == "failed"
    assert reply["error"] == "554 5.7.1 Message rejected as spam"
    loop.clock.advance(10_000)
    loop.cycle()
    assert smtp_server.messages == []


def test_partial_refusals_are_recorded_per_recipient(loop: Loop,
                                                     smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    reply = None
    # A reply to two people: widen the planned one before it is sent.
    loop.daemon.receive()
    reply = loop.reply_to(mid)
    batch = Batch()
    batch.put_reply({**reply, "to": [*reply["to"], "gone@customer.test"]})
    loop.store.commit(batch)
    smtp_server.refuse_recipient("gone@customer.test", 550, "5.1.1 No such user")
    loop.cycle()
    reply = loop.reply_to(mid)
    assert reply["state"] == "sent"
    assert reply["refused"] == {"gone@customer.test": "550 5.1.1 No such user"}
    assert reply["history"][-1]["refused"] == reply["refused"]


def test_a_server_that_is_down_is_survived(loop: Loop, smtp_server: SmtpServer) -> None:
    smtp_server.stop()
    mids = [loop.feedback(n) for n in range(3)]
    loop.cycle()
    for mid in mids:
        reply = loop.reply_to(mid)
        assert reply["state"] == "deferred"
        assert "cannot connect" in reply["response"]
    smtp_server.start()
    loop.clock.advance(61)
    loop.cycle()
    assert {loop.reply_to(m)["state"] for m in mids} == {"sent"}
    assert len(smtp_server.wait_for(3)) == 3
    smtp_server.assert_no_more(3, settle=0.2)


def test_a_bounce_turns_a_sent_reply_bounced(loop: Loop, smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    loop.cycle()
    assert len(smtp_server.wait_for(1)) == 1
    reply = loop.reply_to(mid)
    # A Postfix DSN for this reply, as the customer's server would send it.
    dsn = (BOUNCES / "postfix-dsn.eml").read_text()
    dsn = dsn.replace("mailloop.ack_smile.0a1b2c3d4e5f60718293a4b5@company.test", reply["id"])
    deliver(loop.settings.inbox_path, dsn.encode())
    loop.cycle()
    reply = loop.reply_to(mid)
    assert reply["state"] == "bounced"
    last = reply["history"][-1]
    assert last["status"] == "5.1.1" and last["recipient"] == "jo.nobody@customer.test"
    assert "User unknown" in last["diagnostic"]
    smtp_server.assert_no_more(1, settle=0.2)  # a bounce is never answered
    [bounce_doc] = [d for d in loop.store.iter_messages()  # type: ignore[attr-defined]
                    if d["verdict"]["kind"] == "bounce"]
    assert bounce_doc["tags"] == [] and bounce_doc["replies"] == []


def test_a_bounce_that_quotes_nothing_is_matched_by_its_return_path(
        loop: Loop, smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    loop.cycle()
    [sent] = smtp_server.wait_for(1)
    reply = loop.reply_to(mid)
    token = sent.mail_from.split("+", 1)[1].split("@")[0]
    assert message_id_for(token, "company.test") == reply["id"]
    bounce = (BOUNCES / "verp-only.eml").read_text().replace(
        "feedback+b.ack_smile.c0ffeec0ffeec0ffeec0ffee@company.test", sent.mail_from)
    deliver(loop.settings.inbox_path, bounce.encode())
    loop.cycle()
    reply = loop.reply_to(mid)
    assert reply["state"] == "bounced"
    assert reply["history"][-1]["status"] == "5.2.1"
    assert reply["history"][-1]["envelope_token"] == token


def test_a_delay_warning_does_not_bounce(loop: Loop, smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    loop.cycle()
    smtp_server.wait_for(1)
    reply = loop.reply_to(mid)
    warning = (BOUNCES / "delayed-dsn.eml").read_text().replace(
        "b.ack_smile.0a1b2c3d4e5f60718293a4b5", "b." + reply["id"].split("@")[0].removeprefix(
            "mailloop."))
    deliver(loop.settings.inbox_path, warning.encode())
    loop.cycle()
    reply = loop.reply_to(mid)
    assert reply["state"] == "sent"
    assert reply["history"][-1]["report"] == "delayed"


def test_sending_left_by_a_crash_becomes_uncertain_and_resend_sends_once(
        loop: Loop, smtp_server: SmtpServer) -> None:
    mid = loop.feedback(1)
    loop.daemon.receive()
    reply = loop.reply_to(mid)
    batch = Batch()
    batch.put_reply({**reply, "state": "sending", "attempts": 1,
                     "history": [*reply["history"], {"state": "sending", "at": "x"}]})
    loop.store.commit(batch)
    loop.daemon.recover()
    reply = loop.reply_to(mid)
    assert reply["state"] == "uncertain"
    loop.clock.advance(10_000)
    loop.cycle()
    assert smtp_server.messages == []  # never re-sent on its own
    loop.daemon.delivery.close()
    loop.store.close()

    runner = CliRunner()
    config = str(loop.settings.base_dir) + "/mailloop.toml"
    listed = runner.invoke(app, ["outbox", "--config", config, "--state", "uncertain",
                                 "--format", "json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert row["id"] == reply["id"] and row["state"] == "uncertain"
    done = runner.invoke(app, ["outbox", "resend", reply["id"], "--config", config])
    assert done.exit_code == 0, done.output
    assert smtp_server.wait_for(1)[0].rcpt_tos == ("customer1@customer.test",)
    again = runner.invoke(app, ["outbox", "resend", reply["id"], "--config", config])
    assert again.exit_code == 1 and "--force" in again.output
    smtp_server.assert_no_more(1, settle=0.2)
    store = open_store(loop.settings)
    try:
        doc = store.reply(reply["id"])
    finally:
        store.close()
    assert doc is not None and doc["state"] == "sent"
    assert states(doc)[-3:] == ["uncertain", "sending", "sent"]
    assert "requested by operator" in doc["history"][-2]["resend"]
    # So that the fixture's teardown has something to close.
    loop.store = open_store(loop.settings)
    loop.daemon.delivery = make_delivery(loop.settings)
