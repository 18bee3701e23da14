"""The embedded TinyDB store: commits, reloads, segments, crash consistency."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailloop.store.base import Batch, StoreError
from mailloop.store.tinydb import TinyStore

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def message(key: str, *, month: str = "2026-11", mid: str | None = None, sender: str = "a@x",
            status: str = "done", content_hash: str | None = None) -> dict[str, object]:
    return {"key": key, "month": month, "message_id": mid or f"{key}@x", "sender": sender,
            "content_hash": content_hash or f"h-{key}", "status": status,
            "received_at": T0.isoformat()}


def reply(rid: str, answers: str, *, to: str = "a@x", state: str = "planned",
          at: datetime = T0, kind: str = "ack_smile") -> dict[str, object]:
    return {"id": rid, "answers": answers, "to": [to], "state": state, "kind": kind,
            "created_at": at.isoformat(timespec="seconds"), "month": "2026-11",
            "conversation": "c1"}


def test_commit_and_reload(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    batch = Batch()
    batch.put_message(message("k1"))
    batch.put_reply(reply("r1", "k1"))
    batch.put_conversation({"id": "c1", "customer": "a@x", "subject_key": "hello",
                            "last_at": T0.isoformat(), "first_key": "k1", "month": "2026-11"})
    batch.checkpoints["mbox"] = {"uidvalidity": 7, "last_uid": 42}
    store.commit(batch)
    store.close()

    again = TinyStore(tmp_path / "s.json")
    assert again.message("k1") == message("k1")
    assert again.reply("r1")["state"] == "planned"  # type: ignore[index]
    assert again.messages_by_message_id("k1@x")[0]["key"] == "k1"
    assert again.has_content("h-k1")
    assert again.checkpoint("mbox") == {"uidvalidity": 7, "last_uid": 42, "mailbox": "mbox"}
    conv = again.recent_conversation("A@X", "hello", T0 - timedelta(days=1))
    assert conv is not None and conv["id"] == "c1"
    assert again.recent_conversation("a@x", "hello", T0 + timedelta(days=1)) is None
    assert [m["key"] for m in again.iter_messages(["2026-11"])] == ["k1"]
    assert again.months() == ["2026-11"]


def test_updates_replace_documents_and_keep_one_copy(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k1"))
    b.put_reply(reply("r1", "k1"))
    store.commit(b)
    for state in ("sending", "sent"):
        b = Batch()
        b.put_reply({**store.reply("r1"), "state": state})  # type: ignore[dict-item]
        store.commit(b)
    store.close()
    again = TinyStore(tmp_path / "s.json")
    assert again.reply("r1")["state"] == "sent"  # type: ignore[index]
    assert [r["id"] for r in again.replies()] == ["r1"]
    assert again.replies(["planned"]) == []
    assert again.replies_to_since("A@x", T0 - timedelta(hours=1), ["ack_smile"]) == 1
    assert again.replies_to_since("a@x", T0 - timedelta(hours=1), ["ack_ofora"]) == 0
    assert again.replies_since(T0 + timedelta(seconds=1)) == 0


def test_segments_roll_over_and_replies_stay_beside_their_message(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json", segment_size=10)
    for start in range(0, 25, 5):
        b = Batch()
        for i in range(start, start + 5):
            b.put_message(message(f"k{i}"))
            b.put_reply(reply(f"r{i}", f"k{i}"))
        store.commit(b)
    store.close()
    files = sorted(p.name for p in (tmp_path / "s.d").glob("2026-11.*.json"))
    assert files == ["2026-11.001.json", "2026-11.002.json", "2026-11.003.json"]
    third = json.loads((tmp_path / "s.d" / "2026-11.003.json").read_text())
    assert len(third["messages"]) == 5 and len(third["replies"]) == 5
    again = TinyStore(tmp_path / "s.json", segment_size=10)
    assert len(list(again.iter_messages())) == 25
    b = Batch()
    b.put_message(message("k-new"))
    again.commit(b)
    assert len(json.loads((tmp_path / "s.d" / "2026-11.003.json").read_text())["messages"]) == 6


def test_parked_messages_are_listed_until_resolved(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("bad", status="parked"))
    b.put_message(message("good"))
    store.commit(b)
    assert [d["key"] for d in store.parked()] == ["bad"]
    b = Batch()
    b.put_message(message("bad", status="done"))
    store.commit(b)
    assert store.parked() == []
    assert TinyStore(tmp_path / "s.json").parked() == []


def test_a_commit_cut_short_after_the_journal_is_ignored(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k1"))
    store.commit(b)
    store.close()
    # Simulate a crash after the journal was written but before the data: a journal line
    # from a later commit whose document never reached its segment, plus a torn last line.
    journal = tmp_path / "s.d" / "index.jsonl"
    with journal.open("a") as fh:
        fh.write(json.dumps({"s": 99, "t": "m", "id": "ghost", "p": "2026-11.001.json",
                             "d": 77, "mid": "ghost@x", "h": "h-ghost"}) + "\n")
        fh.write('{"s": 100, "t": "m", "id": "torn"')
    again = TinyStore(tmp_path / "s.json")
    assert again.message("ghost") is None
    assert again.messages_by_message_id("ghost@x") == []
    assert not again.has_content("h-ghost")
    assert again.message("k1") is not None


def test_writes_are_atomic_files(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k1"))
    store.commit(b)
    leftovers = [p for p in tmp_path.rglob(".*") if p.is_file()]
    assert leftovers == []


def test_a_corrupt_segment_is_a_clear_error(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k1"))
    store.commit(b)
    store.close()
    (tmp_path / "s.d" / "2026-11.001.json").write_text('{"messages": {"1": ')
    again = TinyStore(tmp_path / "s.json")
    with pytest.raises(StoreError, match=r"2026-11\.001\.json"):
        again.message("k1")


def reopened_after_a_crash_before_the_main_file(tmp_path: Path,
                                               records: dict[str, Any]) -> TinyStore:
    """A store whose second commit (message k1 and `records`) wrote its segments and
    journal but crashed before its main file, opened again."""
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k0"))
    store.commit(b)
    store.close()
    before = (tmp_path / "s.json").read_bytes()
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k1"))
    b.records.update(records)
    store.commit(b)
    store.close()
    (tmp_path / "s.json").write_bytes(before)
    return TinyStore(tmp_path / "s.json")


def test_records_survive_a_crash_before_the_main_file_is_written(tmp_path: Path) -> None:
    again = reopened_after_a_crash_before_the_main_file(
        tmp_path, {"optout:a@x": {"at": T0.isoformat()}})
    assert again.message("k1") is not None
    assert again.record("optout:a@x") == {"at": T0.isoformat(), "id": "optout:a@x"}


def test_records_of_an_unfinished_commit_never_come_back(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k0"))
    store.commit(b)
    store.close()
    # A commit cut short after its journal lines: no segment, no end marker, no main file.
    with (tmp_path / "s.d" / "index.jsonl").open("a") as fh:
        fh.write(json.dumps({"s": 2, "t": "m", "id": "lost", "p": "2026-11.001.json", "d": 9,
                             "mid": "lost@x", "h": "h-lost"}) + "\n")
        fh.write(json.dumps({"s": 2, "t": "rec", "id": "followup:p:a@x",
                             "doc": {"id": "followup:p:a@x"}}) + "\n")
    again = TinyStore(tmp_path / "s.json")
    assert again.record("followup:p:a@x") is None and again.message("lost") is None
    b = Batch()
    b.put_message(message("k2"))
    again.commit(b)
    again.close()
    third = TinyStore(tmp_path / "s.json")
    assert third.record("followup:p:a@x") is None
    assert third.messages_by_message_id("lost@x") == [] and not third.has_content("h-lost")
    assert third.message("k2") is not None


def test_files_are_the_json_the_standard_library_writes(tmp_path: Path) -> None:
    """orjson writes the files; they read back exactly, also where it cannot write a value
    itself (an integer beyond 64 bits, a key that is not a string), and stay UTF-8."""
    store = TinyStore(tmp_path / "s.json")
    doc = {**message("k1"), "text": "Merci, été! 日本語 \x00 \u2028 \"q\" \\",
           "confidence": 0.731, "tiny": 1.5e-07, "nested": {"a": [1, None, True, {}]}}
    big = {**message("k2"), "size": 2**70, "counts": {1: "one"}}
    b = Batch()
    b.put_message(doc)
    b.put_message(big)
    b.records["r:big"] = {"n": -(2**65)}
    store.commit(b)
    store.close()
    segment = (tmp_path / "s.d" / "2026-11.001.json").read_bytes()
    assert "été! 日本語".encode() in segment
    assert json.loads(segment)["messages"]["1"] == doc
    again = TinyStore(tmp_path / "s.json")
    assert again.message("k1") == doc
    assert again.message("k2") == {**big, "counts": {"1": "one"}}
    assert again.record("r:big") == {"n": -(2**65), "id": "r:big"}


def test_a_record_with_a_big_integer_comes_back_exact_from_the_journal(tmp_path: Path) -> None:
    again = reopened_after_a_crash_before_the_main_file(tmp_path, {"r:big": {"n": 2**64 + 1}})
    assert again.record("r:big") == {"n": 2**64 + 1, "id": "r:big"}


def test_the_main_file_is_whole_after_commits_that_change_part_of_it(tmp_path: Path) -> None:
    """Tables a commit did not change are written as encoded before: still all there."""
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.checkpoints["mbox"] = {"next": 1}
    b.records["optout:a@x"] = {"at": T0.isoformat()}
    store.commit(b)
    for n in range(2, 4):
        b = Batch()
        b.put_message(message(f"k{n}"))
        b.checkpoints["mbox"] = {"next": n}
        store.commit(b)
    main = json.loads((tmp_path / "s.json").read_text())
    assert main["meta"] == {"1": {"seq": 3}}
    assert [cp["next"] for cp in main["checkpoints"].values()] == [3]
    assert [r["id"] for r in main["records"].values()] == ["optout:a@x"]
    assert store.rewrite_records(lambda r: None) == 1
    assert json.loads((tmp_path / "s.json").read_text())["records"] == {}
    assert TinyStore(tmp_path / "s.json").checkpoint("mbox") == {"next": 3, "mailbox": "mbox"}


def test_a_rewrite_of_records_that_fails_changes_none(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    for n, rid in enumerate("abc"):
        b.records[rid] = {"n": n}
    store.commit(b)
    changes = {"a": {"n": 9, "id": "a"}, "b": None, "c": {"n": 2, "id": "a"}}  # c clashes
    with pytest.raises(ValueError, match="already exists"):
        store.rewrite_records(lambda r: changes[r["id"]])
    store.close()
    for opened in (store, TinyStore(tmp_path / "s.json")):
        assert [opened.record(r) for r in "abc"] == [
            {"n": 0, "id": "a"}, {"n": 1, "id": "b"}, {"n": 2, "id": "c"}]


def test_tinydb_reads_the_files_itself(tmp_path: Path) -> None:
    from tinydb import TinyDB

    store = TinyStore(tmp_path / "s.json")
    b = Batch()
    b.put_message(message("k1"))
    b.records["r"] = {"n": 1}
    store.commit(b)
    segment = next((tmp_path / "s.d").glob("*.json"))
    with TinyDB(segment, access_mode="r") as db:
        assert db.table("messages").get(doc_id=1) == message("k1")
    with TinyDB(tmp_path / "s.json", access_mode="r") as db:
        assert [dict(d) for d in db.table("records")] == [{"n": 1, "id": "r"}]
