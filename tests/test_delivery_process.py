"""Sending from a process of its own (`[pipeline] workers`), against a real aiosmtpd:
the same results as sending in the daemon's process, and a sender that dies mid-chunk
leaves its replies for recovery, never sent twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mailloop.config import Settings, load_settings
from mailloop.daemon import Daemon
from mailloop.delivery.process import ProcessDelivery, SenderDied
from mailloop.delivery.smtp import SmtpDelivery
from mailloop.factory import make_delivery, make_mailbox
from mailloop.model import ReplyState
from mailloop.store import open_store
from tests.helpers import ROOT
from tests.servers import SmtpServer
from tests.test_send_overlap import deliver_complaints
from tests.test_smtp import envelope


def settings_for(folder: Path, server: SmtpServer, **delivery: object) -> Settings:
    return load_settings(
        None, base_dir=str(folder), state_dir=str(folder / "var"),
        templates={"path": str(ROOT / "templates")},
        mailbox={"kind": "maildir", "path": str(folder / "inbox")},
        delivery={"kind": "smtp", "host": server.host, "port": server.port, "tls": "none",
                  "from_address": "feedback@company.test", "timeout": 5.0, **delivery},
        pipeline={"workers": 1})


def wait_for_pid(delivery: ProcessDelivery, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while delivery.pid is None:
        assert time.monotonic() < deadline, "the sending process never started"
        time.sleep(0.01)
    assert delivery.pid is not None
    return delivery.pid


def test_the_daemon_sends_from_its_own_process_only_with_workers(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = settings_for(tmp_path, smtp_server)
    assert isinstance(make_delivery(settings), SmtpDelivery)
    delivery = make_delivery(settings, own_process=True)
    try:
        assert isinstance(delivery, ProcessDelivery)
        assert delivery.name == SmtpDelivery(settings.delivery).name
    finally:
        delivery.close()


def test_replies_go_out_as_from_the_daemons_own_process(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = settings_for(tmp_path, smtp_server, connections=2)
    envelopes = [envelope(n) for n in range(12)]
    delivery = ProcessDelivery(settings)
    try:
        assert delivery.pid != os.getpid()
        results = delivery.send(envelopes)
        assert [r.state for r in results] == [ReplyState.SENT] * 12
        assert all(r.response.startswith("250") for r in results)
        got = smtp_server.wait_for(12)
        assert sorted(m.raw for m in got) == sorted(e.raw for e in envelopes)
        status = delivery.status()
        assert status["sent"] == 12 and status["connections"] == 2
        assert status["pid"] == wait_for_pid(delivery) != os.getpid()
        assert delivery.already_sent(envelopes[0].message_id) is None  # no Sent folder
        assert delivery.send([]) == []
    finally:
        delivery.close()
    smtp_server.assert_no_more(12)
    with pytest.raises(RuntimeError):
        delivery.send(envelopes[:1])


def test_ctrl_c_in_a_terminal_does_not_stop_the_sender(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    delivery = ProcessDelivery(settings_for(tmp_path, smtp_server))
    try:
        pid = wait_for_pid(delivery)
        assert delivery.send([envelope(1)])[0].state is ReplyState.SENT  # set up by now
        os.kill(pid, signal.SIGINT)
        assert delivery.send([envelope(2)])[0].state is ReplyState.SENT
        assert delivery.pid == pid
    finally:
        delivery.close()


def test_a_sender_killed_mid_chunk_leaves_its_replies_uncertain_never_sent_twice(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = settings_for(tmp_path, smtp_server)
    deliver_complaints(settings, 3, "o")
    store = open_store(settings)
    delivery = ProcessDelivery(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=delivery, store=store)
    try:
        daemon.receive()
        smtp_server.hold()  # the first reply's DATA waits at the server
        daemon.send_due(wait=False)
        smtp_server.wait_held()
        os.kill(wait_for_pid(delivery), signal.SIGKILL)
        with pytest.raises(SenderDied):
            daemon.ledger.settle()
        smtp_server.release()
        assert {d["state"] for d in store.iter_replies()} == {"sending"}
        daemon.recover()  # plain SMTP cannot tell what went out: an operator decides
        assert {d["state"] for d in store.iter_replies()} == {ReplyState.UNCERTAIN.value}
        assert daemon.send_due() == (0, 0, 0)  # nothing sent again on its own
        assert delivery.send([envelope(7)])[0].state is ReplyState.SENT  # a new sender
        assert len({m.raw for m in smtp_server.messages}) == len(smtp_server.messages)
    finally:
        daemon.ledger.close()
        delivery.close()
        store.close()
