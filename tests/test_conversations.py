"""Conversations through the whole loop: reply tokens, auto-replies, brakes."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from mailloop.config import Settings
from mailloop.mailbox.maildir import deliver
from mailloop.store.tinydb import TinyStore
from mailloop.tokens import find_token, verify_token
from tests.helpers import NOW, email_bytes, example_settings, run_once

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return example_settings(tmp_path, secret="test-secret")


def replies(settings: Settings) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted((settings.outbox_path / "new").iterdir(),
                            key=lambda p: p.stat().st_mtime_ns)]


def messages(settings: Settings) -> dict[str, dict[str, object]]:
    return {str(d["message_id"]): d for d in TinyStore(settings.store_path).iter_messages()}


def test_acknowledgement_reply_to_carries_a_signed_conversation_token(settings: Settings) -> None:
    deliver(settings.inbox_path, email_bytes(message_id="first@example.org",
                                             subject="My order 1234",
                                             body="Where is my order? It is two weeks late."))
    run_once(settings)
    (ack,) = replies(settings)
    reply_to = ack["Reply-To"].addresses[0].addr_spec
    token = find_token(reply_to, settings.delivery.from_address)
    assert token is not None and token.startswith("c.")
    assert len(reply_to.split("@")[0]) <= 64
    conv = messages(settings)["first@example.org"]["conversation"]
    assert verify_token(b"test-secret", token, now=NOW).conversation == conv


def test_answer_with_a_new_subject_and_no_headers_threads_by_token(settings: Settings) -> None:
    deliver(settings.inbox_path, email_bytes(message_id="first@example.org",
                                             subject="My order 1234",
                                             body="Where is my order? It is two weeks late."))
    run_once(settings)
    reply_to = replies(settings)[0]["Reply-To"].addresses[0].addr_spec
    # A client that drops In-Reply-To/References, and a changed subject.
    deliver(settings.inbox_path, email_bytes(message_id="second@example.org", to=reply_to,
                                             subject="Tracking number",
                                             body="Here is the tracking number: 99."))
    run_once(settings)
    docs = messages(settings)
    assert docs["second@example.org"]["thread_by"] == "token"
    assert docs["second@example.org"]["conversation"] == docs["first@example.org"][
        "conversation"]


def test_a_forged_token_is_ignored(settings: Settings) -> None:
    forged = "feedback+c.mnxw2zlsmfxw4yjmhbsgk3ttnfxw4.aaaaaaaaaaaaaaaa@example.com"
    deliver(settings.inbox_path, email_bytes(message_id="f@example.org", to=forged,
                                             body="What are your opening hours?"))
    run_once(settings)
    doc = messages(settings)["f@example.org"]
    assert doc["thread_by"] == "new"
    assert doc["verdict"]["kind"] == "answer"  # type: ignore[index]


def test_an_out_of_office_reply_joins_the_thread_and_is_not_answered(settings: Settings) -> None:
    deliver(settings.inbox_path, email_bytes(message_id="q@example.org",
                                             body="Can I change my delivery address?"))
    run_once(settings)
    (ack,) = replies(settings)
    ack_id = str(ack["Message-ID"]).strip("<>")
    deliver(settings.inbox_path, email_bytes(
        message_id="ooo@example.org", subject="Automatic reply: " + str(ack["Subject"]),
        body="I am away until Monday.",
        headers={"In-Reply-To": f"<{ack_id}>", "Auto-Submitted": "auto-replied"}))
    run_once(settings)
    docs = messages(settings)
    assert docs["ooo@example.org"]["verdict"]["kind"] == "skip"  # type: ignore[index]
    assert docs["ooo@example.org"]["conversation"] == docs["q@example.org"]["conversation"]
    assert len(replies(settings)) == 1


def test_the_global_brake_holds_replies_and_records_why(tmp_path: Path) -> None:
    settings = example_settings(tmp_path, screening={"max_replies_per_hour": 4})
    for i in range(6):
        deliver(settings.inbox_path, email_bytes(sender=f"c{i}@example.org",
                                                 message_id=f"g{i}@example.org",
                                                 body="When do you open?"))
    run_once(settings)
    assert len(replies(settings)) == 4
    held = [d for d in messages(settings).values() if d["held"]]
    assert len(held) == 2
    assert all("global brake" in str(d["held"]) for d in held)
