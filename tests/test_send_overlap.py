"""Sending the last chunk in the background while the next batch is processed: the
replies stay `sending` until settled, and nothing is settled twice or lost."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mailloop.config import Settings
from mailloop.daemon import Daemon
from mailloop.delivery.base import Envelope
from mailloop.delivery.maildir import MaildirOutbox
from mailloop.factory import make_mailbox
from mailloop.mailbox.maildir import deliver
from mailloop.model import SendResult
from mailloop.store import open_store
from mailloop.store.base import Repository
from tests.helpers import email_bytes, example_settings


class GatedOutbox(MaildirOutbox):
    """The real Maildir outbox, which sends only once the test opens the gate."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.started = threading.Event()

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        self.started.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().send(envelopes)


def deliver_complaints(settings: Settings, count: int, prefix: str) -> None:
    """`count` complaints from distinct customers into the settings' Maildir inbox."""
    for n in range(count):
        deliver(settings.inbox_path, email_bytes(
            sender=f"Customer {n} <c{n}@customer.test>", subject=f"Order {n}",
            body="The parcel arrived broken.", message_id=f"{prefix}{n}@customer.test"))


def states(store: Any) -> list[str]:
    return sorted(d["state"] for d in store.iter_replies())


def test_a_chunk_in_flight_is_settled_by_the_next_send_and_never_twice(tmp_path: Path
                                                                      ) -> None:
    settings = example_settings(tmp_path)
    deliver_complaints(settings, 3, "o")
    outbox = GatedOutbox(settings.outbox_path)
    store = open_store(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=outbox, store=store)
    try:
        daemon.receive()
        assert daemon.send_due(wait=False) == (0, 0, 0)  # handed over, not yet settled
        assert outbox.started.wait(30)
        assert set(states(store)) == {"sending"}
        assert not list((settings.outbox_path / "new").iterdir())
        outbox.gate.set()
        sent, deferred, failed = daemon.send_due()  # settles the chunk, then sends nothing
        assert (sent, deferred, failed) == (3, 0, 0)
        assert set(states(store)) == {"sent"}
        assert len(list((settings.outbox_path / "new").iterdir())) == 3
        assert daemon.send_due() == (0, 0, 0)
    finally:
        daemon.ledger.close()
        store.close()


def sending_in_background(settings: Settings) -> tuple[Daemon, GatedOutbox, Repository]:
    """A daemon whose reply to Ann has been handed to the (gated) outbox in the background."""
    deliver(settings.inbox_path, email_bytes(sender="Ann <ann@customer.test>",
                                             message_id="a@customer.test"))
    outbox = GatedOutbox(settings.outbox_path)
    store = open_store(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=outbox, store=store)
    daemon.receive()
    daemon.send_due(wait=False)
    assert outbox.started.wait(30)
    return daemon, outbox, store


def test_recovery_waits_for_its_own_chunk_instead_of_calling_it_interrupted(
        tmp_path: Path) -> None:
    daemon, outbox, store = sending_in_background(example_settings(tmp_path))
    try:
        outbox.gate.set()
        assert daemon.ledger.recover() == []  # settled as sent, not marked uncertain
        assert set(states(store)) == {"sent"}
    finally:
        daemon.ledger.close()
        store.close()


def test_a_finished_chunk_is_settled_in_the_next_batchs_own_commit(tmp_path: Path) -> None:
    settings = example_settings(tmp_path)
    deliver_complaints(settings, 2, "f")
    outbox = GatedOutbox(settings.outbox_path)
    outbox.gate.set()
    store = open_store(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=outbox, store=store)
    commits: list[int] = []
    commit = store.commit

    def counted_commit(batch: Any) -> None:
        commits.append(len(batch.replies))
        commit(batch)

    store.commit = counted_commit  # type: ignore[method-assign]
    seen: list[str] = []
    daemon.ledger.observers.append(lambda doc: seen.append(doc["state"]))
    try:
        daemon.receive()
        daemon.send_due(wait=False)
        inflight = daemon.ledger._inflight
        assert inflight is not None
        inflight[1].result(timeout=30)  # the chunk has gone out, not yet recorded
        assert set(states(store)) == {"sending"} and seen == []
        deliver(settings.inbox_path, email_bytes(sender="Late <late@customer.test>",
                                                 message_id="late@customer.test"))
        commits.clear()
        stats = daemon.receive()
        assert stats.sent == 2  # counted with the batch that recorded them
        assert commits == [3]  # the new reply and the two outcomes, in one commit
        assert sorted(states(store)) == ["planned", "sent", "sent"]
        assert seen == ["sent", "sent"]  # observers hear of them once committed
        assert daemon.send_due() == (1, 0, 0)
    finally:
        daemon.ledger.close()
        store.close()


def test_a_chunk_still_sending_is_left_for_the_next_send(tmp_path: Path) -> None:
    settings = example_settings(tmp_path)
    daemon, outbox, store = sending_in_background(settings)
    try:
        deliver(settings.inbox_path, email_bytes(sender="Bo <bo@customer.test>",
                                                 message_id="b@customer.test"))
        assert daemon.receive().sent == 0  # not waited for
        assert sorted(states(store)) == ["planned", "sending"]
        outbox.gate.set()
        assert daemon.send_due() == (2, 0, 0)
        assert set(states(store)) == {"sent"}
    finally:
        daemon.ledger.close()
        store.close()
