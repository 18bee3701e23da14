"""`mailloop store migrate`: a TinyDB store of 10,000 messages moved to PostgreSQL."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mailloop.cli import app
from mailloop.store.base import Batch, Doc
from mailloop.store.migrate import copy_store, verify
from mailloop.store.tinydb import TinyStore

MESSAGES = 10_000
MONTHS = ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
REPS = ["Jenny", "Omar", "Li", "Sam"]
STATES = ["sent", "sent", "sent", "deferred", "failed", "bounced", "planned"]


def build_store(path: Path, n: int = MESSAGES) -> TinyStore:
    """A store as months of mail leave it: messages, replies, conversations, records."""
    rng = random.Random(13)
    store = TinyStore(path)
    for start in range(0, n, 500):
        batch = Batch()
        for i in range(start, min(n, start + 500)):
            month = MONTHS[i * len(MONTHS) // n]
            day = 1 + i % 28
            at = f"{month}-{day:02d}T{i % 24:02d}:00:00+00:00"
            tags = rng.choice([["smile"], ["ofora"], ["ofora", "smile"], []])
            reps = rng.sample(REPS, rng.randint(0, 2))
            conv = f"c{i // 3}"
            key = f"imap:INBOX:7:{i}"
            batch.put_message({
                "key": key, "mailbox": "feedback", "message_id": f"m{i}@customer.example",
                "content_hash": f"{i:064x}", "received_at": at, "month": month,
                "sender": f"customer{i % 700}@example.org", "subject": f"About order {i}",
                "text": f"Message {i}: thanks to {' and '.join(reps) or 'nobody'}. Ça va? ✓",
                "verdict": {"kind": "answer", "rule": "", "reason": ""}, "conversation": conv,
                "tags": tags, "topics": rng.sample(["billing", "delivery", "app"], 1),
                "credits": [{"rep": r, "credited": "smile" in tags, "reason": "named",
                             "evidence": r} for r in reps],
                "confidence": round(rng.random(), 3), "review": False,
                "replies": [f"ack{i}@mailloop.example"],
                "status": "parked" if i % 997 == 0 else "done",
            })
            state = rng.choice(STATES)
            batch.put_reply({
                "id": f"ack{i}@mailloop.example", "kind": "ack_smile", "state": state,
                "history": [{"state": "planned", "at": at}, {"state": state, "at": at}],
                "to": [f"customer{i % 700}@example.org"], "answers": key, "conversation": conv,
                "created_at": at, "month": month, "attempts": 1, "next_try": None,
                "raw": f"Subject: Re: About order {i}\r\n\r\nThank you.\r\n"})
            batch.put_conversation({
                "id": conv, "customer": f"customer{i % 700}@example.org",
                "subject_key": f"about order {i - i % 3}", "started_at": at, "last_at": at,
                "month": month, "first_key": f"imap:INBOX:7:{i - i % 3}",
                "messages": [f"imap:INBOX:7:{j}" for j in range(i - i % 3, i + 1)],
                "tags": tags, "topics": [], "state": "open", "stages": {}})
        batch.checkpoints["feedback"] = {"uidvalidity": 7, "last_uid": start + 499}
        store.commit(batch)
    batch = Batch()
    for month in MONTHS:
        batch.records[f"newsletter:{month}"] = {"sent_at": f"{month}-28T09:00:00+00:00"}
    store.commit(batch)
    return store


def report_numbers(store: Any) -> dict[str, Counter[tuple[str, ...]]]:
    """What the reports count: per month, per tag, per credited rep, per reply outcome."""
    per_tag: Counter[tuple[str, ...]] = Counter()
    per_rep: Counter[tuple[str, ...]] = Counter()
    per_topic: Counter[tuple[str, ...]] = Counter()
    for doc in store.iter_messages():
        per_tag[(doc["month"], "+".join(doc["tags"]) or "neither")] += 1
        for topic in doc["topics"]:
            per_topic[(doc["month"], topic)] += 1
        for credit in doc["credits"]:
            if credit["credited"]:
                per_rep[(doc["month"], credit["rep"])] += 1
    replies: Counter[tuple[str, ...]] = Counter(
        (d["month"], d["state"]) for d in store.iter_replies())
    return {"tags": per_tag, "reps": per_rep, "topics": per_topic, "replies": replies,
            "parked": Counter(("parked", d["key"]) for d in store.parked())}


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "mailloop.toml"
    config.write_text(f'state_dir = "{tmp_path / "var"}"\n')
    return config


def test_migrate_moves_10000_messages_and_the_reports_agree(tmp_path: Path,
                                                            postgres_dsn: str) -> None:
    from mailloop.store.postgres import PostgresStore

    config = write_config(tmp_path)
    source = build_store(tmp_path / "var" / "mailloop.json")
    before = report_numbers(source)
    assert sum(before["tags"].values()) == MESSAGES
    source.close()

    started = time.monotonic()
    result = CliRunner().invoke(app, ["store", "migrate", "--config", str(config),
                                      "--to", postgres_dsn])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert postgres_dsn.split("@")[0].split(":")[-1] not in result.output  # no password
    print(f"migrated {MESSAGES} messages in {elapsed:.1f}s")

    target = PostgresStore(postgres_dsn)
    try:
        assert target.counts() == {"messages": MESSAGES, "replies": MESSAGES,
                                   "conversations": -(-MESSAGES // 3), "checkpoints": 1,
                                   "records": len(MONTHS)}
        assert report_numbers(target) == before
        assert target.months() == MONTHS
        again = TinyStore(tmp_path / "var" / "mailloop.json")
        by_key = {d["key"]: d for d in again.iter_messages()}
        assert {d["key"]: d for d in target.iter_messages()} == by_key
        assert target.checkpoint("feedback") == again.checkpoint("feedback")
        since = datetime(2026, 1, 1, tzinfo=UTC)
        for address in ("customer5@example.org", "CUSTOMER699@example.org"):
            assert target.replies_to_since(address, since, ["ack_smile"]) == \
                again.replies_to_since(address, since, ["ack_smile"]) > 0
        assert target.replies_since(since) == again.replies_since(since) == MESSAGES
    finally:
        target.close()

    # Running it again changes nothing and still verifies.
    result = CliRunner().invoke(app, ["store", "migrate", "--config", str(config),
                                      "--to", postgres_dsn])
    assert result.exit_code == 0, result.output


def test_verify_names_what_differs(tmp_path: Path, postgres_dsn: str) -> None:
    from mailloop.store.postgres import PostgresStore

    source = build_store(tmp_path / "s.json", n=30)
    target = PostgresStore(postgres_dsn)
    copy_store(source, target, batch_size=7)
    assert verify(source, target).ok
    doc: Doc = dict(source.message("imap:INBOX:7:4") or {})
    batch = Batch()
    batch.put_message({**doc, "tags": ["changed"]})
    target.commit(batch)
    with target._connect().cursor() as cur:  # a document lost on the way
        cur.execute("DELETE FROM replies WHERE id = 'ack5@mailloop.example'")
    result = verify(source, target)
    assert not result.ok
    assert result.different["messages"] == ["imap:INBOX:7:4"]
    assert result.missing["replies"] == ["ack5@mailloop.example"]
    assert result.months["replies"]["2026-07"] == (5, 4)
    target.close()


def test_migrate_refuses_what_it_cannot_copy(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(app, ["store", "migrate", "--config", str(config),
                                      "--to", "postgresql://x@127.0.0.1:1/x"])
    assert result.exit_code == 2
    assert "no TinyDB store" in result.output
    build_store(tmp_path / "var" / "mailloop.json", n=3).close()
    result = CliRunner().invoke(app, ["store", "migrate", "--config", str(config),
                                      "--to", "postgresql://x:hunter2@127.0.0.1:1/x"])
    assert result.exit_code == 2
    assert "cannot connect" in result.output and "hunter2" not in result.output
