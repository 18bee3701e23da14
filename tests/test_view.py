"""BatchView: a message sees the ones before it in the same batch, and the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailloop.store.base import Batch
from mailloop.store.tinydb import TinyStore
from mailloop.view import BatchView

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _conversation(cid: str, customer: str, subject: str, last: datetime) -> dict[str, object]:
    return {"id": cid, "customer": customer, "subject_key": subject, "month": "2026-11",
            "last_at": last.isoformat(), "messages": []}


def test_messages_by_message_id_sees_the_store_and_the_batch_as_it_grows(tmp_path: Path
                                                                         ) -> None:
    store = TinyStore(tmp_path / "store")
    stored = Batch()
    stored.put_message({"key": "a", "message_id": "m@x", "month": "2026-11"})
    store.commit(stored)
    batch = Batch()
    view = BatchView(store, batch)
    assert [d["key"] for d in view.messages_by_message_id("m@x")] == ["a"]
    batch.put_message({"key": "b", "message_id": "m@x", "month": "2026-11"})
    batch.put_message({"key": "c", "message_id": "other@x", "month": "2026-11"})
    assert sorted(d["key"] for d in view.messages_by_message_id("m@x")) == ["a", "b"]
    # A later write of the same key replaces the document the view returns.
    batch.put_message({"key": "b", "message_id": "m@x", "month": "2026-11", "seen": 2})
    found = {d["key"]: d for d in view.messages_by_message_id("m@x")}
    assert found["b"]["seen"] == 2
    assert view.messages_by_message_id("none@x") == []
    store.close()


def test_recent_conversation_takes_the_latest_matching_one_in_the_batch(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "store")
    batch = Batch()
    view = BatchView(store, batch)
    since = NOW - timedelta(days=7)
    assert view.recent_conversation("Ann@Example.com", "order", since) is None
    batch.put_conversation(_conversation("c1", "ann@example.com", "order", NOW))
    batch.put_conversation(_conversation("c2", "bob@example.com", "order", NOW))
    batch.put_conversation(_conversation("c3", "ann@example.com", "order", NOW))
    batch.put_conversation(_conversation("c4", "ann@example.com", "refund", NOW))
    found = view.recent_conversation("Ann@Example.com", "order", since)
    assert found is not None and found["id"] == "c3"
    # c3 updated to an old last_at: no longer recent, so c1 answers.
    batch.put_conversation(_conversation("c3", "ann@example.com", "order",
                                         NOW - timedelta(days=30)))
    found = view.recent_conversation("ann@example.com", "order", since)
    assert found is not None and found["id"] == "c1"
    store.close()


def test_rate_limit_counts_include_replies_planned_in_the_batch(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "store")
    batch = Batch()
    view = BatchView(store, batch)
    for i, minutes in enumerate((90, 30, 5, 1)):
        batch.put_reply({"id": f"r{i}", "kind": "ack_smile", "month": "2026-11",
                         "to": ["ann@example.com" if i % 2 else "bob@example.com"],
                         "created_at": (NOW - timedelta(minutes=minutes)).isoformat()})
        # The first is 90 minutes old; each later one is inside the hour.
        assert view.replies_since(NOW - timedelta(hours=1)) == i
    assert view.replies_since(NOW - timedelta(hours=1)) == 3
    assert view.replies_since(NOW - timedelta(hours=2)) == 4
    assert view.replies_to_since("Ann@example.com", NOW - timedelta(hours=1), ["ack_smile"]) == 2
    assert view.replies_to_since("bob@example.com", NOW - timedelta(hours=1), ["ack_smile"]) == 1
    assert view.replies_to_since("bob@example.com", NOW - timedelta(hours=1), ["thanks"]) == 0
    store.close()
