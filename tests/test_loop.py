"""The whole loop on the embedded default: Maildir in, Maildir out, TinyDB store."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailloop.config import Settings
from mailloop.mailbox.maildir import deliver
from mailloop.model import ReplyState
from mailloop.samples import sample_files, seed_inbox
from mailloop.store.base import Batch
from mailloop.store.tinydb import TinyStore
from tests.helpers import email_bytes, example_settings, run_once

ROOT = Path(__file__).resolve().parent.parent
# The samples that are feedback from a person with an address to answer.
ANSWERABLE = {"01", "02", "03", "04", "05", "06", "07", "11", "13"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return example_settings(tmp_path)


def outbox(settings: Settings) -> list[email.message.EmailMessage]:
    folder = settings.outbox_path / "new"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(folder.iterdir())]


def acks(settings: Settings) -> list[email.message.EmailMessage]:
    """The acknowledgements to customers (the outbox also holds manager notifications)."""
    return [m for m in outbox(settings) if str(m["X-Mailloop-Template"]).startswith("ack_")]


def test_samples_are_each_answered_once_and_recorded(settings: Settings) -> None:
    assert seed_inbox(settings.inbox_path, settings.store_path) == len(sample_files())
    run_once(settings)

    replies = acks(settings)
    answered = {str(m["In-Reply-To"]).strip("<>").split("@")[0].removeprefix("sample-")
                for m in replies}
    assert answered == ANSWERABLE
    for reply in replies:
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["Precedence"] == "auto_reply"
        assert str(reply["Message-ID"]).startswith("<mailloop.ack_")
        assert reply["References"]
        assert reply.get_body(("plain",)) is not None and reply.get_body(("html",)) is not None
    # Every message is in the store with its verdict; every reply reached `sent`.
    store = TinyStore(settings.store_path)
    docs = {d["message_id"]: d for d in store.iter_messages()}
    assert len(docs) == len(sample_files())
    assert docs["sample-12@deals.example"]["verdict"]["rule"] == "precedence"
    assert docs["sample-09@mx.example.net"]["verdict"]["kind"] == "bounce"
    assert docs["sample-08@example.cz"]["verdict"]["rule"] == "auto-submitted"
    assert docs["sample-02@example.net"]["tags"] == ["ofora"]
    assert "billing" in docs["sample-02@example.net"]["topics"]
    assert docs["sample-02@example.net"]["month"] == docs["sample-02@example.net"][
        "received_at"][:7]
    assert {r["state"] for r in store.replies()} == {"sent"}
    assert len([r for r in store.replies() if r["kind"].startswith("ack_")]) == len(ANSWERABLE)
    # Each Smile the classifier is sure of also went to the manager, with a signed Reply-To.
    smiles = [d for d in docs.values() if "smile" in d["tags"] and not d["review"]]
    notes = [m for m in outbox(settings)
             if str(m["X-Mailloop-Template"]).startswith("manager_notification")]
    assert len(notes) == len(smiles) > 0
    for note in notes:
        assert note["To"].addresses[0].addr_spec == "dana.lee@example.com"
        assert note["Reply-To"].addresses[0].addr_spec.startswith("feedback+m.")
    # The follow-up (sample 05) joined the conversation of the message it quotes (sample 01).
    assert docs["sample-05@example.org"]["conversation"] == docs["sample-01@example.org"][
        "conversation"]
    # Everything processed moved from new/ to cur/: nothing marked read, nothing left waiting.
    assert list((settings.inbox_path / "new").iterdir()) == []


def test_restart_never_replies_twice(settings: Settings) -> None:
    seed_inbox(settings.inbox_path, settings.store_path)
    run_once(settings)
    first = len(outbox(settings))
    # The same messages again: moved back into new/ (a crash before the move) and
    # delivered again under new names (a second copy of the same mail).
    for path in (settings.inbox_path / "cur").iterdir():
        shutil.copy(path, settings.inbox_path / "new" / path.name.split(":")[0])
    for name, raw in sample_files():
        deliver(settings.inbox_path, raw, name=f"copy.{name}")
    run_once(settings)
    run_once(settings)
    assert len(outbox(settings)) == first
    # A genuinely new message is still answered.
    deliver(settings.inbox_path, email_bytes(message_id="new@example.org",
                                             body="What time do you open on Sunday?"))
    run_once(settings)
    assert len(outbox(settings)) == first + 1


def test_a_failing_step_parks_the_message_and_the_rest_go_on(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    broken = settings.templates_path / "ack_ofora.md"
    broken.write_text("Subject: About {{ customer.first_name }}\n\n{{ no_such_field.x }}\n")
    seed_inbox(settings.inbox_path, settings.store_path)
    with caplog.at_level(logging.ERROR, logger="mailloop"):
        run_once(settings)
    store = TinyStore(settings.store_path)
    parked = store.parked()
    assert {d["message_id"] for d in parked} >= {"sample-02@example.net"}
    for doc in parked:
        assert doc["error"]["step"] == "render"
        assert "no_such_field" in doc["error"]["message"]
    assert "parked sample-02@example.net" in caplog.text
    # The raw message is kept for a retry, and the others were answered.
    assert len(list((settings.state_path / "parked").iterdir())) == len(parked)
    assert len(acks(settings)) == len(ANSWERABLE) - len(parked)


def test_interrupted_send_is_settled_not_resent(settings: Settings) -> None:
    seed_inbox(settings.inbox_path, settings.store_path)
    run_once(settings)
    store = TinyStore(settings.store_path)
    sent = store.replies(["sent"])
    # One reply that reached the outbox and one that never did, both left in `sending`.
    reached, lost = sent[0], sent[1]
    lost_file = [p for p in (settings.outbox_path / "new").iterdir()
                 if f"<{lost['id']}>" in p.read_text()]
    assert len(lost_file) == 1
    lost_file[0].unlink()
    batch = Batch()
    for doc in (reached, lost):
        batch.put_reply({**doc, "state": ReplyState.SENDING.value})
    store.commit(batch)
    store.close()
    before = len(outbox(settings))
    run_once(settings)
    after = TinyStore(settings.store_path)
    assert after.reply(reached["id"])["state"] == "sent"  # type: ignore[index]
    assert after.reply(lost["id"])["state"] == "sent"  # type: ignore[index]
    assert len(outbox(settings)) == before + 1  # only the lost one went out again


def test_rate_limit_holds_acknowledgements_and_records_why(settings: Settings) -> None:
    for i in range(10):
        deliver(settings.inbox_path, email_bytes(message_id=f"burst{i}@example.org",
                                                 subject=f"Question {i}",
                                                 body=f"Do you ship to island {i}?"))
    run_once(settings)
    assert len(acks(settings)) == settings.screening.max_acks_per_sender_per_day
    store = TinyStore(settings.store_path)
    held = [d for d in store.iter_messages() if d["held"]]
    assert len(held) == 10 - settings.screening.max_acks_per_sender_per_day
    assert all("rate limit" in d["held"][0] for d in held)


def test_cli_run_and_classify(settings: Settings, tmp_path: Path) -> None:
    config = str(tmp_path / "mailloop.toml")
    cli = [sys.executable, "-m", "mailloop", "--help"]
    assert subprocess.run(cli, capture_output=True, check=False).returncode == 0
    done = subprocess.run([sys.executable, "-m", "mailloop", "run", "--config", config, "--seed",
                           "--once"], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "first start: delivered" in done.stderr
    assert "sent ack_" in done.stderr
    samples = sorted((settings.inbox_path / "cur").iterdir())
    out = subprocess.run([sys.executable, "-m", "mailloop", "classify", "--config", config,
                          *map(str, samples)], capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(samples)
    for row in rows:
        assert set(row) == {"file", "tags", "reps", "topics", "confidence"}
        assert row["tags"] == sorted(row["tags"])
        assert set(row["tags"]) <= {"smile", "ofora"}
        assert 0.0 <= row["confidence"] <= 1.0
    billing = next(r for r in rows if "sample.02" in r["file"])
    assert billing["tags"] == ["ofora"] and "billing" in billing["topics"]


def test_cli_reports_a_bad_configuration_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mailbox]\nkind = "pop3"\n')
    done = subprocess.run([sys.executable, "-m", "mailloop", "check", "--config", str(bad)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "mailbox.kind = 'pop3'" in done.stderr
    assert "Traceback" not in done.stderr
