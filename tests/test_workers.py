"""`[pipeline] workers`: the store-free steps run in worker processes, with the same
outcomes as in one process, and a broken pool loses nothing."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailloop.config import MailboxConfig, Settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.mailbox.base import Fetched
from mailloop.mailbox.maildir import deliver
from mailloop.prepare import Prepared
from mailloop.samples import seed_inbox
from mailloop.store import open_store
from mailloop.store.base import StoreError
from mailloop.store.tinydb import TinyStore
from mailloop.workers import MIN_BATCH, PreparePool
from tests.helpers import NOW, email_bytes, example_settings, run_once
from tests.servers import Dovecot, MailUser

BODIES = [
    "Jenny on the phone line was fantastic, she sorted everything in minutes. Thank you!",
    "My parcel arrived broken and nobody has answered my emails for two weeks.",
    "Sofia was lovely, but you charged me twice for the same order.",
    "Can I change the delivery address of my order after it has shipped?",
    "Great product, fast delivery, I love the new app. Keep it up!",
    "Der Kundendienst war sehr freundlich und hat mir schnell geholfen. Danke!",
]


def fill(settings: Settings) -> int:
    """The shipped samples plus varied feedback, one customer writing twice."""
    count = seed_inbox(settings.inbox_path, settings.store_path)
    for n in range(30):
        sender = "Repeat Customer <repeat@customer.test>" if n in (3, 9) else \
            f"Customer {n} <c{n}@customer.test>"
        deliver(settings.inbox_path, email_bytes(
            sender=sender, subject="My order" if n in (3, 9) else f"About order {n}",
            body=BODIES[n % len(BODIES)], message_id=f"w{n}@customer.test"))
        count += 1
    return count


def outcomes(settings: Settings) -> dict[str, Any]:
    """What was decided and sent, keyed by Message-ID (Maildir keys differ per folder)."""
    store = TinyStore(settings.store_path)
    try:
        messages = list(store.iter_messages())
        by_key = {m["key"]: m["message_id"] for m in messages}
        decided = {m["message_id"]: (m["verdict"]["kind"], m.get("tags"), m.get("topics"),
                                     m.get("credited_reps"), m.get("review"))
                   for m in messages}
        conversations = {c["id"]: "+".join(sorted(by_key[k] for k in c["messages"]))
                         for c in store.iter_conversations()}
    finally:
        store.close()
    threads = set(conversations.values())
    sent = []
    for path in (settings.outbox_path / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(("plain",))  # type: ignore[attr-defined]
        text = body.get_content() if body else ""
        for cid, name in conversations.items():  # ids derive from the Maildir file names
            text = text.replace(cid, name)
        sent.append((str(msg["In-Reply-To"]), str(msg["X-Mailloop-Template"]),
                     str(msg["Subject"]), str(msg["To"]), text))
    return {"decided": decided, "threads": threads, "sent": sorted(sent)}


def test_workers_decide_and_send_exactly_what_one_process_does(tmp_path: Path) -> None:
    (tmp_path / "alone").mkdir()
    (tmp_path / "pooled").mkdir()
    alone = example_settings(tmp_path / "alone")
    pooled = example_settings(tmp_path / "pooled", pipeline={"workers": 2})
    count = fill(alone)
    assert fill(pooled) == count >= MIN_BATCH
    run_once(alone)
    run_once(pooled)
    one, two = outcomes(alone), outcomes(pooled)
    assert len(one["decided"]) == count
    assert one["decided"] == two["decided"]
    assert one["threads"] == two["threads"]
    assert any("+" in t for t in one["threads"])  # the repeat customer's two messages
    assert len(one["sent"]) >= 30
    assert one["sent"] == two["sent"]


def test_a_pool_that_breaks_mid_batch_loses_nothing(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    settings = example_settings(tmp_path, pipeline={"workers": 2})
    count = fill(settings)
    killed: list[int] = []

    class KilledPool(PreparePool):
        """The real pool, with its workers killed once the batch is handed to them."""

        def prepare(self, items: Any) -> Any:
            ahead = super().prepare(items)
            assert self._executor is not None
            for process in list(self._executor._processes.values()):
                process.kill()
                killed.append(process.pid)
            return ahead

    store = open_store(settings)
    try:
        daemon = Daemon(settings, mailbox=make_mailbox(settings),
                        delivery=make_delivery(settings), store=store)
        daemon.pool = KilledPool(settings, 2)
        with caplog.at_level(logging.ERROR, logger="mailloop"):
            daemon.run(once=True)
    finally:
        store.close()
    assert killed
    assert "worker pool failed" in caplog.text
    result = outcomes(settings)
    assert len(result["decided"]) == count
    # Every answerable message was answered once (a duplicate would share a key).
    acks = [irt for irt, template, *_ in result["sent"] if template.startswith("ack_")]
    assert len(acks) == len(set(acks)) >= 30


def test_small_batches_stay_in_the_daemons_process(tmp_path: Path) -> None:
    settings = example_settings(tmp_path, pipeline={"workers": 2})
    pool = PreparePool(settings, 2)
    try:
        few = [Fetched(f"k{n}", email_bytes(message_id=f"s{n}@x.test"), received_at=NOW)
               for n in range(MIN_BATCH - 1)]
        assert pool.prepare(few) is None
        assert pool._executor is None  # no worker was started for them
        many = [*few, Fetched("last", email_bytes(message_id="last@x.test"),
                              received_at=NOW)]
        ahead = pool.prepare(many)
        assert ahead is not None
        results: list[Prepared] = list(ahead)
        assert [p.inbound.key for p in results] == [f.key for f in many]
        assert all(p.early is not None for p in results)
    finally:
        pool.close()


def test_a_reload_replaces_workers_started_with_the_old_settings(tmp_path: Path) -> None:
    settings = example_settings(tmp_path, pipeline={"workers": 2})
    fill(settings)
    store = open_store(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=make_delivery(settings),
                    store=store)
    try:
        old = daemon.pool
        assert old is not None and old.settings is settings
        # What ops/reload.py does on SIGHUP: new settings (here another roster) in force.
        daemon.settings = settings.model_copy(update={"reps": settings.reps[:1]})
        daemon.receive()
        assert daemon.pool is not None and daemon.pool is not old
        assert daemon.pool.settings is daemon.settings
        assert old._executor is None  # the old workers were shut down
        # And a reload to `workers = 0` leaves everything in the daemon's process.
        daemon.settings = settings.model_copy(
            update={"pipeline": settings.pipeline.model_copy(update={"workers": 0})})
        daemon.receive()
        assert daemon.pool is None
    finally:
        if daemon.pool is not None:
            daemon.pool.close()
        daemon.ledger.close()
        store.close()



def imap_settings(folder: Path, dovecot: Dovecot, user: MailUser, **overrides: Any) -> Settings:
    """An IMAP mailbox read in batches of MIN_BATCH, replies into a Maildir outbox."""
    folder.mkdir()
    settings = example_settings(folder, **overrides)
    mailbox = {"kind": "imap", "host": dovecot.host, "port": dovecot.imap_port, "tls": "none",
               "allow_plaintext_loopback": True, "username": user.name,
               "password": user.password, "batch_size": MIN_BATCH}
    return settings.model_copy(update={"mailbox": MailboxConfig(**mailbox)})


def fill_imap(dovecot: Dovecot, user: MailUser, count: int) -> None:
    with dovecot.client(user.name) as client:
        client.multiappend("INBOX", [email_bytes(
            sender=f"Customer {n} <c{n}@customer.test>", subject=f"About order {n}",
            body=BODIES[n % len(BODIES)], message_id=f"i{n}@customer.test")
            for n in range(count)])


def test_the_next_batch_is_fetched_ahead_while_one_is_committed(
        tmp_path: Path, dovecot: Dovecot, make_user: Callable[..., MailUser]) -> None:
    users = make_user("alone"), make_user("pooled")
    alone = imap_settings(tmp_path / "alone", dovecot, users[0])
    pooled = imap_settings(tmp_path / "pooled", dovecot, users[1], pipeline={"workers": 1})
    for user in users:
        fill_imap(dovecot, user, 3 * MIN_BATCH + 5)
    run_once(alone)
    store = open_store(pooled)
    early: list[bool] = []  # per fetch: is the batch before it still uncommitted?
    try:
        daemon = Daemon(pooled, mailbox=make_mailbox(pooled), delivery=make_delivery(pooled),
                        store=store)
        fetch = daemon.mailbox.fetch

        def watched_fetch(checkpoint: Any, limit: int) -> Any:
            stored = store.checkpoint(daemon.mailbox.name) or {}
            early.append(checkpoint is not None and
                         checkpoint.get("last_uid") != stored.get("last_uid"))
            return fetch(checkpoint, limit)

        daemon.mailbox.fetch = watched_fetch  # type: ignore[method-assign]
        daemon.run(once=True)
    finally:
        store.close()
    assert early == [False, True, True, True]  # every batch but the first came early
    one, two = outcomes(alone), outcomes(pooled)
    assert len(one["decided"]) == 3 * MIN_BATCH + 5
    assert one == two


def test_a_batch_fetched_ahead_of_a_failed_commit_is_read_again(
        tmp_path: Path, dovecot: Dovecot, feedback_user: MailUser) -> None:
    settings = imap_settings(tmp_path / "run", dovecot, feedback_user, pipeline={"workers": 1})
    fill_imap(dovecot, feedback_user, 2 * MIN_BATCH + 3)
    store = open_store(settings)
    try:
        daemon = Daemon(settings, mailbox=make_mailbox(settings),
                        delivery=make_delivery(settings), store=store)
        commit = store.commit
        failures = [StoreError("disk full")]

        def failing_commit(batch: Any) -> None:
            if failures:
                raise failures.pop()
            commit(batch)

        store.commit = failing_commit  # type: ignore[method-assign]
        daemon.mailbox.connect()
        with pytest.raises(StoreError):
            daemon.receive()  # the second batch was fetched ahead, then this commit failed
        assert daemon._next is not None
        daemon.run(once=True)
    finally:
        store.close()
    result = outcomes(settings)
    assert len(result["decided"]) == 2 * MIN_BATCH + 3
    acks = [irt for irt, template, *_ in result["sent"] if template.startswith("ack_")]
    assert len(acks) == len(set(acks)) == 2 * MIN_BATCH + 3
