"""The IMAP mailbox against a real Dovecot on 127.0.0.1.

The daemon runs for real (in a thread) with the Maildir outbox and a TinyDB store
in a temporary state folder; the tests put mail into Dovecot over IMAP (or, while
Dovecot is down, straight into its Maildir) and count the replies in the outbox.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailloop.config import MailboxConfig, Settings, load_settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.mailbox.base import Processed
from mailloop.mailbox.imap import ImapError, ImapLoginError, ImapMailbox, move_target
from mailloop.mailbox.maildir import deliver
from mailloop.store import open_store
from mailloop.store.tinydb import TinyStore
from tests.helpers import email_bytes
from tests.servers import Dovecot, MailUser

ROOT = Path(__file__).resolve().parent.parent

PRAISE = "Jenny on your phone line was wonderful. Thank you so much for sorting out my order!"
COMPLAINT = ("My invoice is wrong: I was charged twice for the same order. "
             "This is terrible and nobody has answered my calls.")
QUESTION = "Do you ship to Norway, and how long does delivery take?"


# --------------------------------------------------------------------------- helpers


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def mailbox_config(user: MailUser, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "kind": "imap", "host": user.host, "port": user.imap_port, "tls": "none",
        "allow_plaintext_loopback": True, "username": user.name, "password": user.password,
    }
    config.update(extra)
    return config


def make_settings(tmp_path: Path, user: MailUser, **mailbox: Any) -> Settings:
    return Settings(state_dir=str(tmp_path / "state"), base_dir=str(tmp_path),
                    templates={"path": str(ROOT / "templates")},  # type: ignore[arg-type]
                    mailbox=mailbox_config(user, **mailbox))  # type: ignore[arg-type]


class Running:
    """`mailloop run` in a thread: started on enter, stopped (SIGTERM-like) on exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.state_path.mkdir(parents=True, exist_ok=True)
        self.store = open_store(settings)
        self.daemon = Daemon(settings, mailbox=make_mailbox(settings),
                             delivery=make_delivery(settings), store=self.store)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.daemon.run(idle_timeout=self.settings.mailbox.idle_timeout)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the daemon did not stop within 30 s"
        self.store.close()
        self.daemon.mailbox.close()
        if self.error is not None:
            raise self.error

    def status(self) -> dict[str, Any]:
        path = self.settings.state_path / "status.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def connected(self) -> bool:
        return bool(self.status().get("mailbox", {}).get("connected"))


def replies(settings: Settings) -> Counter[str]:
    """In-Reply-To of every reply in the outbox, counted: each should be 1."""
    counts: Counter[str] = Counter()
    for sub in ("new", "cur"):
        folder = settings.outbox_path / sub
        if folder.exists():
            for path in folder.iterdir():
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                counts[str(msg["In-Reply-To"]).strip().strip("<>")] += 1
    return counts


def reply_count(settings: Settings) -> int:
    return sum(replies(settings).values())


def stored_messages(settings: Settings) -> list[dict[str, Any]]:
    store = TinyStore(settings.store_path)
    try:
        return list(store.iter_messages())
    finally:
        store.close()


def feedback(message_id: str, body: str = PRAISE, subject: str = "Feedback") -> bytes:
    return email_bytes(sender=f"Customer <{message_id.split('@')[0]}@customers.example>",
                       message_id=message_id, body=body, subject=subject)


def count_in(dovecot: Dovecot, user: str, folder: str) -> int:
    """How many messages user's folder holds (0 while it does not exist)."""
    with dovecot.client(user) as imap:
        if folder.upper() != "INBOX" and not imap.folder_exists(folder):
            return 0
        return int(imap.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])


def flags_by_message_id(dovecot: Dovecot, user: str, folder: str) -> dict[str, set[bytes]]:
    with dovecot.client(user) as imap:
        imap.select_folder(folder, readonly=True)
        uids = imap.search("ALL")
        data = imap.fetch(uids, [b"FLAGS", b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids \
            else {}
    out = {}
    for item in data.values():
        header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1]
        out[header.strip().strip("<>")] = set(item[b"FLAGS"])
    return out


@pytest.fixture
def mid(unique_name: Callable[[str], str]) -> Callable[[str], str]:
    """mid(label) -> a Message-ID unique to this test run."""
    return lambda label: f"{unique_name(label)}@customers.example"


# --------------------------------------------------------------------------- the mailbox alone


def test_ledger_fetches_each_uid_once_in_batches_with_internaldate(
        dovecot: Dovecot, feedback_user: MailUser, mid: Callable[[str], str]) -> None:
    mailbox = ImapMailbox(MailboxConfig(**mailbox_config(feedback_user)), progress=False)
    when = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    ids = [mid(f"m{i}") for i in range(5)]
    for i, message_id in enumerate(ids):
        dovecot.append(feedback_user.name, "INBOX", feedback(message_id),
                       internaldate=when + timedelta(minutes=i))
    mailbox.connect()
    try:
        first = mailbox.fetch(None, 2)
        assert [i.uid for i in first.items] == [1, 2]
        assert first.more and first.backlog == 3
        assert first.items[0].received_at == when  # INTERNALDATE, not the Date header
        assert first.items[0].key == f"imap:INBOX:{first.checkpoint['uidvalidity']}:1"  # type: ignore[index]
        second = mailbox.fetch(first.checkpoint, 10)
        assert [i.uid for i in second.items] == [3, 4, 5]
        assert not second.more and second.checkpoint == {
            "uidvalidity": dovecot.uidvalidity(feedback_user.name), "last_uid": 5}
        # "UID 6:*" returns UID 5 (the last message): it must not come back.
        again = mailbox.fetch(second.checkpoint, 10)
        assert again.items == [] and again.checkpoint is None
        status = mailbox.status()
        assert status["connected"] and status["backlog"] == 0 and status["last_uid"] == 5
        assert status["push"] == "idle"
    finally:
        mailbox.close()
    # BODY.PEEK[]: nothing was marked read.
    assert all(b"\\Seen" not in f for f in
               flags_by_message_id(dovecot, feedback_user.name, "INBOX").values())


def test_a_large_backlog_is_announced_once_with_a_progress_bar(
        dovecot: Dovecot, feedback_user: MailUser, mid: Callable[[str], str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mailloop")
    monkeypatch.setattr("mailloop.mailbox.imap.PROGRESS_THRESHOLD", 2)
    with dovecot.client(feedback_user.name) as imap:
        imap.multiappend("INBOX", [feedback(mid(f"b{i}")) for i in range(7)])
    mailbox = ImapMailbox(MailboxConfig(**mailbox_config(feedback_user)), progress=True)
    mailbox.connect()
    try:
        checkpoint, fetched = None, 0
        while True:
            result = mailbox.fetch(checkpoint, 2)
            fetched += len(result.items)
            checkpoint = result.checkpoint or checkpoint
            if not result.more:
                break
    finally:
        mailbox.close()
    assert fetched == 7
    messages = [r.getMessage() for r in caplog.records]
    assert sum("catching up on 7 messages" in m for m in messages) == 1
    assert sum(m.endswith("caught up") for m in messages) == 1


def test_clear_errors_for_a_refused_login_and_an_unreachable_server(
        dovecot: Dovecot, feedback_user: MailUser) -> None:
    wrong = ImapMailbox(MailboxConfig(**mailbox_config(feedback_user, password="wrong")))
    with pytest.raises(ImapLoginError, match="refused the login"):
        wrong.connect()
    assert wrong.status()["connected"] is False
    assert "refused the login" in wrong.status()["last_error"]
    assert "wrong" not in wrong.status()["last_error"]

    none = ImapMailbox(MailboxConfig(**mailbox_config(feedback_user, password=None)))
    with pytest.raises(ImapLoginError, match="password_command"):
        none.connect()

    failing = ImapMailbox(MailboxConfig(**mailbox_config(
        feedback_user, password=None, password_command="exit 3")))
    with pytest.raises(ImapLoginError, match="password_command exited with status 3"):
        failing.connect()

    # XOAUTH2 with the token from the command (this Dovecot offers only PLAIN and LOGIN).
    oauth = ImapMailbox(MailboxConfig(**mailbox_config(
        feedback_user, password=None, oauth2_token_command="printf token-1234")))
    with pytest.raises(ImapLoginError, match="refused the login") as refused:
        oauth.connect()
    assert "token-1234" not in str(refused.value)

    dovecot.stop()
    down = ImapMailbox(MailboxConfig(**mailbox_config(feedback_user)))
    with pytest.raises(ImapError, match="cannot connect"):
        down.connect()


def test_password_command_runs_on_each_connect(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    command = f"echo x >> {calls}; printf '%s\\n' '{feedback_user.password}'"
    mailbox = ImapMailbox(MailboxConfig(**mailbox_config(
        feedback_user, password=None, password_command=command)))
    for _ in range(2):
        mailbox.connect()
        mailbox.close()
    assert calls.read_text().count("x") == 2


def test_move_target_takes_the_first_entry_that_applies() -> None:
    from mailloop.mailbox.base import Fetched

    item = Fetched(key="k", raw=b"", received_at=datetime.now(UTC), uid=1)
    folders = {"both": "F/Both", "smile": "F/Smiles", "ofora": "F/OforA", "skip": "F/Robots",
               "any": "F/Other"}
    assert move_target(folders, Processed(item, ("ofora", "smile"))) == "F/Both"
    assert move_target(folders, Processed(item, ("smile",))) == "F/Smiles"
    assert move_target(folders, Processed(item, ("ofora",))) == "F/OforA"
    assert move_target(folders, Processed(item, (), "skip")) == "F/Robots"
    assert move_target(folders, Processed(item, (), "answer")) == "F/Other"
    assert move_target({"neither": "F/Q"}, Processed(item, (), "answer")) == "F/Q"
    assert move_target({"neither": "F/Q"}, Processed(item, (), "skip")) is None
    with pytest.raises(ImapError, match="unknown key"):
        ImapMailbox(MailboxConfig(kind="imap", move_processed={"smiles": "X"}))


class _Plain(ImapMailbox):
    """A server without IDLE and MOVE, as some are."""

    def _connect(self) -> None:
        super()._connect()
        self._capabilities -= {"IDLE", "MOVE"}


def test_without_idle_and_move_it_polls_and_copies(
        dovecot: Dovecot, feedback_user: MailUser, mid: Callable[[str], str]) -> None:
    mailbox = _Plain(MailboxConfig(**mailbox_config(
        feedback_user, poll_interval=0.2, move_processed={"any": "Done"})))
    mailbox.connect()
    try:
        assert mailbox.status()["push"] == "poll"
        started = time.monotonic()
        mailbox.wait(30, threading.Event())
        assert time.monotonic() - started < 10  # the poll interval, not the timeout
        dovecot.append(feedback_user.name, "INBOX", feedback(mid("a")))
        result = mailbox.fetch(None, 10)
        assert len(result.items) == 1
        mailbox.done([Processed(result.items[0], ("smile",))])
    finally:
        mailbox.close()
    assert dovecot.messages(feedback_user.name, "INBOX") == []
    assert len(dovecot.messages(feedback_user.name, "Done")) == 1


# --------------------------------------------------------------------------- the daemon


def test_mail_appended_while_idling_is_processed_promptly(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str]) -> None:
    settings = make_settings(tmp_path, feedback_user, idle_timeout=1.5)
    with Running(settings) as running:
        wait_until(running.connected, what="the daemon connects")
        time.sleep(3)  # long enough for IDLE to be re-issued at least once
        assert running.connected()
        message_id = mid("idle")
        dovecot.append(feedback_user.name, "INBOX", feedback(message_id))
        wait_until(lambda: reply_count(settings) == 1, timeout=10,
                   what="the message appended during IDLE is answered")
        status = running.status()["mailbox"]
        assert status["push"] == "idle" and status["last_error"] is None
    assert replies(settings) == {message_id: 1}


def test_mail_read_by_another_client_is_processed_and_flags_left_alone(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str]) -> None:
    read, unread = mid("read"), mid("unread")
    dovecot.append(feedback_user.name, "INBOX", feedback(read), flags=[b"\\Seen"])
    dovecot.append(feedback_user.name, "INBOX", feedback(unread, COMPLAINT))
    settings = make_settings(tmp_path, feedback_user)
    with Running(settings):
        wait_until(lambda: reply_count(settings) == 2, what="both messages are answered")
    assert replies(settings) == {read: 1, unread: 1}
    flags = flags_by_message_id(dovecot, feedback_user.name, "INBOX")
    assert b"\\Seen" in flags[read]
    assert b"\\Seen" not in flags[unread]  # fetched with BODY.PEEK[]


def test_a_message_is_never_processed_twice_across_restarts(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str]) -> None:
    settings = make_settings(tmp_path, feedback_user)
    first = [mid(f"first{i}") for i in range(3)]
    for message_id in first:
        dovecot.append(feedback_user.name, "INBOX", feedback(message_id))
    with Running(settings):
        wait_until(lambda: reply_count(settings) == 3, what="the first three are answered")
    later = [mid("later0"), mid("later1")]
    for message_id in later:  # restart twice; the folder still holds every message
        with Running(settings) as running:
            wait_until(running.connected, what="the daemon reconnects")
            dovecot.append(feedback_user.name, "INBOX", feedback(message_id))
            wait_until(lambda m=message_id: replies(settings)[m] == 1,  # type: ignore[misc]
                       what="the new message is answered")
    assert replies(settings) == dict.fromkeys([*first, *later], 1)
    assert len(stored_messages(settings)) == 5
    store = TinyStore(settings.store_path)
    try:
        checkpoint = store.checkpoint(f"imap:{feedback_user.name}@{feedback_user.host}/INBOX")
    finally:
        store.close()
    assert checkpoint is not None and checkpoint["last_uid"] == 5


@pytest.mark.parametrize("folder", ["INBOX", "Support"])
def test_uidvalidity_change_loses_and_repeats_nothing(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str], folder: str) -> None:
    # Dovecot does not tell an idling session that its folder was reset on disk (it
    # answers the next command with BYE), so IDLE is re-issued often here.
    settings = make_settings(tmp_path, feedback_user, folder=folder, idle_timeout=2.0)
    before = [mid(f"before{i}") for i in range(3)]
    for message_id in before:
        dovecot.append(feedback_user.name, folder, feedback(message_id))
    with Running(settings) as running:
        wait_until(lambda: reply_count(settings) == 3, what="the first messages are answered")
        old = dovecot.uidvalidity(feedback_user.name, folder)
        # The same messages come back under new UIDs and a new UIDVALIDITY, under the
        # running daemon, as after a server migration.
        new = dovecot.recreate_folder(feedback_user.name, folder, keep_messages=True)
        assert new != old
        after = mid("after")
        dovecot.append(feedback_user.name, folder, feedback(after, COMPLAINT))
        wait_until(lambda: replies(settings)[after] == 1, what="the new message is answered")
        wait_until(lambda: running.status()["mailbox"].get("uidvalidity") == new,
                   what="the status shows the new UIDVALIDITY")
    counts = replies(settings)
    assert counts == {**dict.fromkeys(before, 1), after: 1}
    keys = sorted(d["key"] for d in stored_messages(settings))
    assert len(keys) == 4  # the re-seen messages were recognised, not recorded again
    assert sum(k.startswith(f"imap:{folder}:{new}:") for k in keys) == 1


def test_resync_after_messages_were_moved_away_answers_nothing_twice(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str]) -> None:
    """Moved messages leave the folder; if one comes back (under a new UIDVALIDITY, or
    copied back by a person) the store knows it by Message-ID and content hash."""
    settings = make_settings(tmp_path, feedback_user, move_processed={"any": "Feedback/Done"})
    first, second = mid("first"), mid("second")
    raw_first = feedback(first)
    dovecot.append(feedback_user.name, "INBOX", raw_first)
    dovecot.append(feedback_user.name, "INBOX", feedback(second, COMPLAINT))
    with Running(settings):
        wait_until(lambda: count_in(dovecot, feedback_user.name, "Feedback/Done") == 2,
                   what="both messages are moved")
    dovecot.recreate_folder(feedback_user.name, "INBOX")  # empty, new UIDVALIDITY
    dovecot.append(feedback_user.name, "INBOX", raw_first)  # a person copies one back
    third = mid("third")
    dovecot.append(feedback_user.name, "INBOX", feedback(third))
    with Running(settings):
        wait_until(lambda: replies(settings)[third] == 1, what="the new message is answered")
        wait_until(lambda: count_in(dovecot, feedback_user.name, "INBOX") == 0,
                   what="the copied-back message is moved again")
    assert replies(settings) == {first: 1, second: 1, third: 1}
    assert len(dovecot.messages(feedback_user.name, "Feedback/Done")) == 4


def test_dovecot_restart_is_survived_and_mail_from_meanwhile_processed(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mailloop")
    settings = make_settings(tmp_path, feedback_user)
    early, meanwhile, later = mid("early"), [mid("down1"), mid("down2")], mid("later")
    with Running(settings) as running:
        dovecot.append(feedback_user.name, "INBOX", feedback(early))
        wait_until(lambda: reply_count(settings) == 1, what="the first message is answered")
        dovecot.stop()
        # Mail keeps arriving while the IMAP server is down (the MTA writes the Maildir).
        for message_id in meanwhile:
            path = deliver(dovecot.maildir(feedback_user.name), feedback(message_id, COMPLAINT))
            os.chown(path, dovecot.uid, dovecot.gid)
        wait_until(lambda: not running.connected(), what="the status shows the outage")
        assert running.status()["last_error"]
        time.sleep(3)  # a few reconnection attempts
        dovecot.start()
        wait_until(lambda: reply_count(settings) == 3, timeout=90,
                   what="the mail that arrived during the outage is answered")
        dovecot.append(feedback_user.name, "INBOX", feedback(later))
        wait_until(lambda: reply_count(settings) == 4, what="new mail after the restart")
        wait_until(lambda: running.status()["last_error"] is None, what="the error clears")
        assert running.connected()
    assert replies(settings) == dict.fromkeys([early, *meanwhile, later], 1)
    # Logged once per change of state (closed, reset, refused, ...), not once per attempt.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and len(errors) == len(set(errors)) <= 4, errors
    assert any("recovered" in r.getMessage() for r in caplog.records)


def test_a_refused_login_is_retried_and_shown_until_it_works(
        dovecot: Dovecot, make_user: Callable[..., MailUser], tmp_path: Path,
        mid: Callable[[str], str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mailloop")
    user = make_user("feedback")
    settings = make_settings(tmp_path, user, password="not-yet")
    message_id = mid("waiting")
    dovecot.append(user.name, "INBOX", feedback(message_id))
    since = dovecot.log_size()
    with Running(settings) as running:
        wait_until(lambda: dovecot.log_text(since).count("auth failed") >= 3, timeout=60,
                   what="three login attempts")
        status = running.status()
        assert status["mailbox"]["connected"] is False
        assert "refused the login" in status["last_error"]
        dovecot.add_user(user.name, "not-yet")  # the administrator fixes the password
        wait_until(lambda: replies(settings)[message_id] == 1, timeout=90,
                   what="the waiting message is answered once the login works")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]


def test_processed_messages_end_up_in_their_folders(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str]) -> None:
    settings = make_settings(
        tmp_path, feedback_user, flag_processed="$Mailloop",
        move_processed={"smile": "Feedback/Smiles", "ofora": "Feedback/OforA",
                        "skip": "Feedback/Robots", "any": "Feedback/Other"})
    praise, complaint, question, robot = mid("praise"), mid("complaint"), mid("q"), mid("ooo")
    dovecot.append(feedback_user.name, "INBOX", feedback(praise, PRAISE))
    dovecot.append(feedback_user.name, "INBOX", feedback(complaint, COMPLAINT))
    dovecot.append(feedback_user.name, "INBOX", feedback(question, QUESTION))
    dovecot.append(feedback_user.name, "INBOX", email_bytes(
        message_id=robot, subject="Out of office", body="I am away until Monday.",
        headers={"Auto-Submitted": "auto-replied"}))
    with Running(settings):
        wait_until(lambda: count_in(dovecot, feedback_user.name, "INBOX") == 0,
                   what="the inbox is emptied")
    tags = {d["message_id"]: (d.get("tags"), d["verdict"]["kind"])
            for d in stored_messages(settings)}
    expected = {"Feedback/Smiles": praise, "Feedback/OforA": complaint,
                "Feedback/Other": question, "Feedback/Robots": robot}
    for folder, message_id in expected.items():
        flags = flags_by_message_id(dovecot, feedback_user.name, folder)
        assert list(flags) == [message_id], (folder, tags)
        assert b"$Mailloop" in flags[message_id]
    assert set(replies(settings)) == {praise, complaint, question}


def test_a_large_backlog_is_fetched_in_batches(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str]) -> None:
    raws = [feedback(mid(f"bulk{i}"), QUESTION if i % 2 else PRAISE) for i in range(40)]
    with dovecot.client(feedback_user.name) as imap:
        imap.multiappend("INBOX", raws)
    settings = make_settings(tmp_path, feedback_user, batch_size=7)
    with Running(settings):
        wait_until(lambda: reply_count(settings) == 40, timeout=120, what="all 40 answered")
    assert all(n == 1 for n in replies(settings).values())



def test_mailloop_run_and_status_from_the_command_line(
        dovecot: Dovecot, feedback_user: MailUser, tmp_path: Path,
        mid: Callable[[str], str]) -> None:
    config = tmp_path / "mailloop.toml"
    config.write_text(f"""\
state_dir = "state"
[templates]
path = "{ROOT / 'templates'}"
[mailbox]
kind = "imap"
host = "{feedback_user.host}"
port = {feedback_user.imap_port}
tls = "none"
allow_plaintext_loopback = true
username = "{feedback_user.name}"
password_command = "printf %s '{feedback_user.password}'"
move_processed = {{ any = "Feedback/Done" }}
""")
    settings = load_settings(config)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    message_id = mid("cli")
    dovecot.append(feedback_user.name, "INBOX", feedback(message_id))

    def status() -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "mailloop", "status", "--config",
                               str(config), "--format", "json"], capture_output=True,
                              text=True, env=env, check=False, timeout=60)
        return dict(json.loads(done.stdout))

    daemon = subprocess.Popen([sys.executable, "-m", "mailloop", "run", "--config", str(config)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: replies(settings)[message_id] == 1, what="the message is answered")
        wait_until(lambda: count_in(dovecot, feedback_user.name, "Feedback/Done") == 1,
                   what="the message is moved")
        report = status()
        assert report["running"] and report["health"] == "healthy"
        mailbox = report["mailbox"]
        assert mailbox["kind"] == "imap" and mailbox["connected"] and mailbox["push"] == "idle"
        assert mailbox["last_sync"] and mailbox["backlog"] == 0 and mailbox["last_error"] is None
        daemon.send_signal(signal.SIGTERM)  # honoured while idling
        _, stderr = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, stderr
    assert "stopped" in stderr
    assert status()["mailbox"]["connected"] is False
