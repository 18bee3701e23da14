"""Closing the loop on complaints, on the embedded default (Maildir in and out, TinyDB)."""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailloop.config import Settings, load_settings
from mailloop.factory import make_delivery
from mailloop.lifecycle import LoopData, merge_conversation
from mailloop.mailbox.maildir import deliver
from mailloop.problems import matches
from mailloop.staff import parse_commands
from mailloop.store import open_store
from tests.helpers import NOW, run_once
from tests.loop_story import Mail, story

ROOT = Path(__file__).resolve().parent.parent
SECRET = "loop-test-secret"


BILLING_TEAM = """
[[ofora_staff]]
topic = "billing"
emails = ["Bill Okafor <billing-lead@example.com>"]
"""


def make_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "mailloop.toml"
    config.write_text(f'secret = "{SECRET}"\n' + (ROOT / "config.example.toml").read_text()
                      + BILLING_TEAM + extra)
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return config


def outbox(settings: Settings) -> list[EmailMessage]:
    folder = settings.outbox_path / "new"
    if not folder.exists():
        return []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(folder.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))]


def _deliver(settings: Settings, raw: bytes) -> None:
    deliver(settings.inbox_path, raw)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return make_config(tmp_path)


def test_the_whole_story_on_the_embedded_default(config: Path) -> None:
    settings = load_settings(config)
    mail = Mail(feedback="feedback@example.com",
                customers={"ana": "ana@example.org", "ben": "ben@example.net",
                           "cara": "cara@example.com"},
                staff="billing-lead@example.com",
                send=lambda raw: _deliver(settings, raw),
                received=lambda: outbox(settings),
                run=lambda: run_once(settings))
    story(mail, config)
    # The loop feeds the newsletter's OforA section: this month's second chances and champions.
    from mailloop.render.live import LiveTemplates
    from mailloop.reports import newsletter
    from mailloop.reports.source import open_source

    source = open_source(settings)
    try:
        month = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m")
        letter = newsletter.build(settings, source, LiveTemplates.from_settings(settings), month)
    finally:
        source.close()
    assert "Second chances sent: 3; 1 of those customers came back with a Smile." in " ".join(
        letter.text.split())


def test_staff_commands_are_read_from_the_first_lines() -> None:
    found = parse_commands("#problem Double-Charge\n#gesture 20% refund\n\nSorry!", [])
    assert (found.problem, found.gesture, found.words) == ("double-charge", "20% refund",
                                                           "Sorry!")
    assert parse_commands("#note call back on Monday", []).note == "call back on Monday"
    assert parse_commands("#gesture\nhi", []).problems == ["#gesture needs a text on the "
                                                           "same line"]
    assert parse_commands("#problem bad slug!", []).problems
    assert parse_commands("Thanks #problem x is text", []).problem is None


def test_problem_matching_needs_the_topic_and_a_phrase() -> None:
    problem = {"topic": "billing", "match": ["charged twice"]}
    assert matches(problem, "I was CHARGED   twice", ["billing"]) == "phrase 'charged twice'"
    assert matches(problem, "I was charged twice", ["delivery"]) is None
    assert matches(problem, "late parcel", ["billing"]) is None
    assert matches({"topic": "billing", "match": []}, "x", ["billing"]) == "topic billing"
    assert matches({"topic": None, "match": []}, "x", ["billing"]) is None


def test_a_stage_keeps_the_first_time_it_was_reached() -> None:
    conv = {"stages": {"listened": "t0", "moved": "t1"}, "problems": ["a"]}
    merged = merge_conversation(conv, {"stages": {"moved": "t2", "fixed": "t3"},
                                       "problems": ["a", "b"]})
    assert merged["stages"] == {"listened": "t0", "moved": "t1", "fixed": "t3"}
    assert merged["problems"] == ["a", "b"]


def _deliver_complaint(settings: Settings, n: int, **kw: str) -> None:
    from tests.helpers import email_bytes

    deliver(settings.inbox_path, email_bytes(
        sender=kw.get("sender", f"Customer {n} <c{n}@example.org>"),
        subject=kw.get("subject", f"Charged twice {n}"),
        body=kw.get("body", "I was charged twice for my subscription. This is not "
                            "acceptable, please fix it."),
        message_id=f"c{n}@example.org"))


def test_overdue_conversations_are_listed(config: Path) -> None:
    settings = load_settings(config)
    _deliver_complaint(settings, 1)
    run_once(settings)
    store = open_store(settings)
    try:
        data = LoopData.from_store(store)
        (conv,) = data.conversations
        now = NOW.replace(year=NOW.year + 1)
        life = data.lifecycle(conv, settings, now)
    finally:
        store.close()
    assert "acknowledged" in life.stages and life.state == "acknowledged"
    assert life.overdue == ["moved"]  # acknowledged in time, never moved in 48 hours
    assert data.lifecycle(conv, settings, life_start(life) + timedelta(hours=1)).overdue == []


def life_start(life: object) -> object:
    from mailloop.lifecycle import parse_time

    return parse_time(life.stages["listened"])  # type: ignore[attr-defined]


def test_new_complaints_link_to_an_open_problem(config: Path) -> None:
    from tests.loop_story import cli

    settings = load_settings(config)
    cli(config, "problem", "open", "double-charge", "--title", "Charged twice", "--match",
        "charged twice")
    _deliver_complaint(settings, 1)
    _deliver_complaint(settings, 2, body="The parcel arrived broken and late. Very poor.",
                       subject="Broken parcel")
    run_once(settings)
    store = open_store(settings)
    try:
        problem = store.record("problem:double-charge")
        assert problem is not None and len(problem["conversations"]) == 1
        conv = store.conversation(problem["conversations"][0])
        assert conv is not None and conv["problems"] == ["double-charge"]
        assert conv["stage_by"]["moved"].startswith("mailloop: linked to problem")
    finally:
        store.close()


def test_forged_and_misdirected_staff_replies_are_refused(config: Path) -> None:
    from tests.helpers import email_bytes

    settings = load_settings(config)
    _deliver_complaint(settings, 1)
    run_once(settings)
    (note,) = [m for m in outbox(settings)
               if str(m["X-Mailloop-Template"]).startswith("ofora_notification")]
    reply_to = note["Reply-To"].addresses[0].addr_spec
    local, _, domain = reply_to.partition("@")
    cases = [("mallory@example.net", reply_to, None),  # not staff: nobody is told
             ("billing-lead@example.com", local[:-1] + ("a" if local[-1] != "a" else "b")
              + "@" + domain, "does not verify"),
             ("dana.lee@example.com", reply_to, "issued to another staff member")]
    for i, (sender, to, _) in enumerate(cases):
        deliver(settings.inbox_path, email_bytes(sender=sender, to=to, subject="Re: x",
                                                 body="Send this to the customer.",
                                                 message_id=f"forged{i}@example.com"))
    run_once(settings)
    sent = outbox(settings)
    assert not [m for m in sent if str(m["X-Mailloop-Template"]).startswith("staff_answer")]
    refusals = [m for m in sent if str(m["X-Mailloop-Template"]).startswith("manager_rejected")]
    assert sorted(m["To"].addresses[0].addr_spec for m in refusals) == [
        "billing-lead@example.com", "dana.lee@example.com"]
    store = open_store(settings)
    try:
        docs = {d["message_id"]: d for d in store.iter_messages()}
    finally:
        store.close()
    for i, (_, _, reason) in enumerate(cases):
        staff = docs[f"forged{i}@example.com"]["staff"]
        assert staff["accepted"] is False
        if reason:
            assert reason in staff["reason"]


def test_followup_skips_opted_out_bounced_and_recently_followed_up_customers(
        config: Path) -> None:
    import json

    from mailloop.model import ReplyState
    from mailloop.records import with_state
    from mailloop.store.base import Batch
    from tests.loop_story import cli

    settings = load_settings(config)
    for n in range(4):
        _deliver_complaint(settings, n)
    run_once(settings)
    cli(config, "problem", "open", "double-charge", "--title", "Charged twice", "--match",
        "charged twice")
    cli(config, "problem", "fixed", "double-charge", "--note", "Fixed.")
    store = open_store(settings)
    try:
        batch = Batch()
        batch.records["optout:c0@example.org"] = {"customer": "c0@example.org",
                                                  "at": "2026-11-20T10:00:00+00:00"}
        ack = next(r for r in store.replies() if r["to"] == ["c1@example.org"])
        batch.put_reply(with_state(ack, ReplyState.BOUNCED, NOW, status="5.1.1"))
        store.commit(batch)
    finally:
        store.close()
    # c2 got a second chance about another problem a moment ago.
    cli(config, "problem", "open", "other", "--title", "Other", "--match", "acceptable")
    cli(config, "problem", "fixed", "other", "--note", "Fixed too.")
    first = json.loads(cli(config, "followup", "other", "--format", "json"))
    assert sorted(r["address"] for r in first["recipients"]) == ["c2@example.org",
                                                                  "c3@example.org"]
    dry = json.loads(cli(config, "followup", "double-charge", "--dry-run", "--format", "json"))
    assert dry["recipients"] == []
    reasons = {s["address"]: s["reason"] for s in dry["skipped"]}
    assert reasons["c0@example.org"] == "opted out on 2026-11-20"
    assert reasons["c1@example.org"] == "a reply to this address bounced"
    assert reasons["c2@example.org"].startswith("got a second chance in the last 14 days")


def test_a_forged_unsubscribe_opts_nobody_out(config: Path) -> None:
    from tests.helpers import email_bytes

    settings = load_settings(config)
    _deliver_complaint(settings, 1)
    run_once(settings)
    deliver(settings.inbox_path, email_bytes(
        sender="c1@example.org", to="feedback+u.aaaa.bbbb@example.com", subject="unsubscribe",
        body="unsubscribe", message_id="forged-optout@example.org"))
    before = len(outbox(settings))
    run_once(settings)
    assert len(outbox(settings)) == before  # never answered
    store = open_store(settings)
    try:
        assert store.records("optout:") == []
        doc = next(d for d in store.iter_messages()
                   if d["message_id"] == "forged-optout@example.org")
        assert doc["verdict"]["kind"] == "unsubscribe"
        assert "refused" in doc["verdict"]["reason"]
    finally:
        store.close()


def test_overdue_conversations_go_into_the_digests(config: Path) -> None:
    from datetime import UTC, datetime

    from mailloop.render.live import LiveTemplates
    from mailloop.reports.schedule import run_due

    settings = load_settings(config, digests=[{"name": "billing-lead", "every": "daily",
                                               "to": ["billing-lead@example.com"],
                                               "tags": ["ofora"], "topics": ["billing"]}])
    _deliver_complaint(settings, 1)
    run_once(settings)
    before = len(outbox(settings))
    later = datetime.now(UTC) + timedelta(days=3)  # the complaint was never moved
    store = open_store(settings)
    try:
        (conv,) = LoopData.from_store(store).conversations
        done = run_due(settings, store, make_delivery(settings),
                       LiveTemplates.from_settings(settings), later)
    finally:
        store.close()
    assert [state for _, state in done] == ["sent"]
    digest = outbox(settings)[before:]
    assert len(digest) == 1 and digest[0]["To"] == "billing-lead@example.com"
    text = " ".join(str(digest[0].get_body(("plain",)).get_content()).split())  # type: ignore[union-attr]
    assert "Overdue conversations" in text and conv["id"] in text and "late for moved" in text
