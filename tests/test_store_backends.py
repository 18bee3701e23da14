"""The store contract, on every backend: TinyDB files and a real PostgreSQL.

Everything the pipeline, the daemon and the reports rely on is checked here once per
backend; tests/test_store.py keeps what is particular to the TinyDB files. The
PostgreSQL part also checks what sharing a store needs: claims, and a reply ledger that
only moves forward.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailloop.config import ConfigError, Settings, load_settings
from mailloop.store.base import Batch, Doc, Repository
from mailloop.store.tinydb import TinyStore

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent

Opener = Callable[[], Any]


def message(key: str, *, month: str = "2026-11", mid: str | None = None, sender: str = "a@x",
            status: str = "done", content_hash: str | None = None,
            received_at: datetime = T0) -> dict[str, Any]:
    return {"key": key, "month": month, "message_id": mid or f"{key}@x", "sender": sender,
            "content_hash": content_hash or f"h-{key}", "status": status,
            "received_at": received_at.isoformat(), "tags": ["smile"], "text": "Merci, été!"}


def reply(rid: str, answers: str, *, to: str = "a@x", state: str = "planned",
          at: datetime = T0, kind: str = "ack_smile", month: str = "2026-11") -> dict[str, Any]:
    return {"id": rid, "answers": answers, "to": [to], "state": state, "kind": kind,
            "created_at": at.isoformat(timespec="seconds"), "month": month,
            "conversation": "c1", "attempts": 0, "next_try": None,
            "history": [{"state": state, "at": at.isoformat(timespec="seconds")}],
            "mail_from": "feedback@example.com", "raw": "Subject: hi\r\n\r\nhi\r\n"}


@pytest.fixture(params=["tinydb", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """opener() -> a new handle on one store of the backend under test."""
    opened: list[Any] = []
    if request.param == "tinydb":
        def open_tiny() -> TinyStore:
            opened.append(TinyStore(tmp_path / "s.json"))
            return opened[-1]
        yield open_tiny
    else:
        from mailloop.store.postgres import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")

        def open_pg() -> PostgresStore:
            opened.append(PostgresStore(dsn))
            return opened[-1]
        yield open_pg
    for store in opened:
        store.close()


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[Callable[[], Any]]:
    from mailloop.store.postgres import PostgresStore

    opened: list[PostgresStore] = []

    def open_pg() -> PostgresStore:
        opened.append(PostgresStore(postgres_dsn))
        return opened[-1]
    yield open_pg
    for store in opened:
        store.close()


def commit(store: Repository, *, messages: list[Doc] = (),  # type: ignore[assignment]
           replies: list[Doc] = (), conversations: list[Doc] = ()  # type: ignore[assignment]
           ) -> None:
    batch = Batch()
    for m in messages:
        batch.put_message(m)
    for r in replies:
        batch.put_reply(r)
    for c in conversations:
        batch.put_conversation(c)
    store.commit(batch)


# ---------------------------------------------------------------- the contract


def test_commit_and_reload(opener: Opener) -> None:
    store = opener()
    batch = Batch()
    batch.put_message(message("k1"))
    batch.put_reply(reply("r1", "k1"))
    batch.put_conversation({"id": "c1", "customer": "A@x", "subject_key": "hello",
                            "last_at": T0.isoformat(), "first_key": "k1", "month": "2026-11"})
    batch.checkpoints["mbox"] = {"uidvalidity": 7, "last_uid": 42}
    store.commit(batch)
    store.close()

    again = opener()
    assert again.message("k1") == message("k1")
    assert again.message("nope") is None
    assert again.reply("r1") == reply("r1", "k1")
    assert again.messages_by_message_id("k1@x")[0]["key"] == "k1"
    assert again.has_content("h-k1") and not again.has_content("h-k2")
    assert again.checkpoint("mbox") == {"uidvalidity": 7, "last_uid": 42, "mailbox": "mbox"}
    assert again.checkpoint("other") is None
    conv = again.recent_conversation("A@X", "hello", T0 - timedelta(days=1))
    assert conv is not None and conv["id"] == "c1"
    assert again.conversation("c1") == conv
    assert again.recent_conversation("a@x", "hello", T0 + timedelta(days=1)) is None
    assert again.recent_conversation("a@x", "other", T0 - timedelta(days=1)) is None
    assert [m["key"] for m in again.iter_messages(["2026-11"])] == ["k1"]
    assert list(again.iter_messages(["2026-10"])) == []
    assert again.months() == ["2026-11"]


def test_later_entries_replace_earlier_and_updates_keep_one_copy(opener: Opener) -> None:
    store = opener()
    batch = Batch()
    batch.put_message(message("k1", status="parked"))
    batch.put_message(message("k1"))
    batch.put_reply(reply("r1", "k1"))
    store.commit(batch)
    assert store.message("k1")["status"] == "done"
    assert store.parked() == []
    for state in ("sending", "sent"):
        doc = store.reply("r1")
        new = {**doc, "state": state, "history": [*doc["history"], {"state": state}]}
        commit(store, replies=[new])
    store.close()
    again = opener()
    assert again.reply("r1")["state"] == "sent"
    assert [r["id"] for r in again.replies()] == ["r1"]
    assert again.replies(["planned"]) == []
    assert [r["id"] for r in again.replies(["sent", "failed"])] == ["r1"]
    assert again.replies_to_since("A@x", T0 - timedelta(hours=1), ["ack_smile"]) == 1
    assert again.replies_to_since("a@x", T0 - timedelta(hours=1), ["ack_ofora"]) == 0
    assert again.replies_to_since("b@x", T0 - timedelta(hours=1), ["ack_smile"]) == 0
    assert again.replies_since(T0 - timedelta(seconds=1)) == 1
    assert again.replies_since(T0 + timedelta(seconds=1)) == 0
    assert len(list(again.iter_messages())) == 1


def test_months_order_and_lookups_across_months(opener: Opener) -> None:
    store = opener()
    commit(store, messages=[message("a1", month="2026-10"), message("b1"),
                            message("a2", month="2026-10", mid="same@x"),
                            message("b2", mid="same@x")],
           replies=[reply("ra1", "a1", month="2026-10"), reply("rb1", "b1")])
    commit(store, messages=[message("c1", month="2026-12")])
    assert store.months() == ["2026-10", "2026-11", "2026-12"]
    assert [m["key"] for m in store.iter_messages()] == ["a1", "a2", "b1", "b2", "c1"]
    assert [m["key"] for m in store.iter_messages(["2026-12", "2026-10"])] == ["a1", "a2", "c1"]
    assert [m["key"] for m in store.messages_by_message_id("same@x")] == ["a2", "b2"]
    assert [r["id"] for r in store.iter_replies(["2026-10"])] == ["ra1"]
    assert sorted(r["id"] for r in store.iter_replies()) == ["ra1", "rb1"]


def test_parked_messages_are_listed_until_resolved(opener: Opener) -> None:
    store = opener()
    commit(store, messages=[message("bad2", status="parked", received_at=T0 + timedelta(1)),
                            message("bad", status="parked"), message("good")])
    assert [d["key"] for d in store.parked()] == ["bad", "bad2"]
    commit(store, messages=[message("bad", status="done")])
    assert [d["key"] for d in store.parked()] == ["bad2"]
    store.close()
    assert [d["key"] for d in opener().parked()] == ["bad2"]


def test_checkpoints_and_records_merge_and_list_by_prefix(opener: Opener) -> None:
    store = opener()
    batch = Batch()
    batch.checkpoints["mbox"] = {"uidvalidity": 7, "last_uid": 1}
    batch.records["newsletter:2026-11"] = {"sent_at": "x", "count": 3}
    batch.records["digest:2026-11-25"] = {"sent_at": "y"}
    store.commit(batch)
    batch = Batch()
    batch.checkpoints["mbox"] = {"last_uid": 9}
    batch.records["newsletter:2026-11"] = {"count": 4}
    batch.records["newsletter:2026-12"] = {"count": 1}
    store.commit(batch)
    assert store.checkpoint("mbox") == {"uidvalidity": 7, "last_uid": 9, "mailbox": "mbox"}
    assert store.record("newsletter:2026-11") == {"sent_at": "x", "count": 4,
                                                  "id": "newsletter:2026-11"}
    assert store.record("nope") is None
    assert sorted(r["id"] for r in store.records("newsletter:")) == [
        "newsletter:2026-11", "newsletter:2026-12"]
    assert store.records("news%") == []


def test_an_empty_batch_writes_nothing(opener: Opener) -> None:
    store = opener()
    store.commit(Batch())
    assert store.months() == [] and store.replies() == []


def test_documents_read_back_exactly(opener: Opener) -> None:
    """Unicode, nested shapes, numbers, NUL characters and surrogate-escaped raw bytes."""
    store = opener()
    raw = "Subject: x\r\n\r\n\udcff\udce9 bytes\r\n"
    if isinstance(store, TinyStore):  # its JSON files are UTF-8: they cannot hold 8-bit raw
        raw = raw.encode("utf-8", "replace").decode()
    doc = {**message("k1"), "text": "nul \x00 here; 日本語 ✓", "confidence": 0.731,
           "credits": [{"rep": "Jenny", "credited": True, "evidence": ["x", None]}],
           "size": 12345, "nested": {"a": {"b": [1, 2.5, "c"]}}, "empty": {},
           "weird": "\uf8ff\u29c9json: not an escape"}
    r = {**reply("r1", "k1"), "raw": raw}
    commit(store, messages=[doc], replies=[r])
    store.close()
    again = opener()
    assert again.message("k1") == doc
    assert again.reply("r1") == r


# ---------------------------------------------------------------- claims


def test_claims_take_what_is_due_once(opener: Opener) -> None:
    store = opener()
    due_deferred = {**reply("r2", "k1", state="deferred"), "attempts": 1,
                    "next_try": (T0 - timedelta(minutes=1)).isoformat(timespec="seconds")}
    later = {**reply("r3", "k1", state="deferred"), "attempts": 1,
             "next_try": (T0 + timedelta(hours=1)).isoformat(timespec="seconds")}
    commit(store, messages=[message("k1")],
           replies=[reply("r1", "k1"), due_deferred, later, reply("r4", "k1", state="sent")])
    got = store.claim_replies(["r4", "r3", "r2", "r1", "missing"], "me:1:inbox", T0)
    assert [d["id"] for d in got] == ["r2", "r1"]
    for d in got:
        assert d["state"] == "sending"
        assert d["history"][-1] == {"state": "sending", "at": T0.isoformat(timespec="seconds"),
                                    "attempts": d["attempts"], "owner": "me:1:inbox"}
        assert store.reply(d["id"]) == d
    assert got[0]["attempts"] == 2 and got[1]["attempts"] == 1
    assert store.claim_replies(["r1", "r2"], "other:2:inbox", T0) == []
    assert store.claim_replies([], "me:1:inbox", T0) == []
    assert store.reply("r3")["state"] == "deferred"
    assert [r["id"] for r in store.replies(["sending"])] == ["r1", "r2"]


def test_concurrent_claims_never_both_win(pg: Callable[[], Any]) -> None:
    setup = pg()
    ids = [f"r{i:04d}" for i in range(400)]
    commit(setup, messages=[message("k1")], replies=[reply(i, "k1") for i in ids])
    stores = [pg(), pg(), pg()]
    start = threading.Barrier(len(stores))
    won: dict[int, list[str]] = {}

    def claim(n: int) -> None:
        mine: list[str] = []
        start.wait()
        for chunk in range(0, len(ids), 25):
            got = stores[n].claim_replies(ids[chunk:chunk + 25], f"host:{n}:inbox", T0)
            mine += [d["id"] for d in got]
        won[n] = mine

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for mine in won.values() for i in mine]
    assert sorted(everything) == ids  # every reply claimed, none twice
    owners = {d["id"]: d["history"][-1]["owner"] for d in setup.replies(["sending"])}
    for n, mine in won.items():
        assert all(owners[i] == f"host:{n}:inbox" for i in mine)


# ---------------------------------------------------------------- PostgreSQL: sharing


def test_a_fresh_plan_never_replaces_a_reply_already_there(pg: Callable[[], Any]) -> None:
    first, second = pg(), pg()
    commit(first, messages=[message("k1")], replies=[reply("r1", "k1")])
    claimed = first.claim_replies(["r1"], "a:1:inbox", T0)
    assert len(claimed) == 1
    # The second daemon processed the same message from a stale view: same deterministic
    # reply id, planned again. The ledger keeps the claim; nothing is sent twice.
    commit(second, messages=[message("k1")], replies=[reply("r1", "k1")])
    assert second.reply("r1")["state"] == "sending"
    assert second.claim_replies(["r1"], "b:2:inbox", T0) == []
    # A stale write with a shorter history is ignored too; a longer one moves it on.
    commit(second, replies=[{**claimed[0], "state": "planned", "history": []}])
    assert second.reply("r1")["state"] == "sending"
    sent = {**claimed[0], "state": "sent", "history": [*claimed[0]["history"], {"state": "sent"}]}
    commit(first, replies=[sent])
    assert second.reply("r1") == sent
    # Put back to planned after a restart (longer history): allowed, and claimable again.
    back = {**sent, "state": "planned", "history": [*sent["history"], {"state": "planned"}]}
    commit(first, replies=[back])
    assert [d["id"] for d in second.claim_replies(["r1"], "b:2:inbox", T0)] == ["r1"]


def test_migrations_run_once_and_a_newer_schema_is_refused(pg: Callable[[], Any],
                                                           postgres_dsn: str) -> None:
    import psycopg

    from mailloop.store.base import StoreError
    from mailloop.store.postgres import SCHEMA_VERSION, PostgresStore

    stores = []
    threads = [threading.Thread(target=lambda: stores.append(pg())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores) == 4 and stores[0].schema_version() == SCHEMA_VERSION
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT version FROM schema_version").fetchall()
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        conn.execute("INSERT INTO schema_version (version, description) VALUES (999, 'x')")
    with pytest.raises(StoreError, match="newer"):
        PostgresStore(postgres_dsn)


def test_a_broken_connection_is_a_store_error_and_reconnects(pg: Callable[[], Any],
                                                            postgres_dsn: str) -> None:
    import psycopg

    from mailloop.store.base import StoreError

    store = pg()
    commit(store, messages=[message("k1")])
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(StoreError, match="PostgreSQL store"):
        store.message("k1")
    assert store.message("k1") is not None  # the next call connects again


def test_unreachable_store_is_a_clear_error_without_the_password() -> None:
    from mailloop.store.base import StoreError
    from mailloop.store.postgres import PostgresStore, redact_dsn

    pytest.importorskip("psycopg")
    dsn = "postgresql://mailloop:hunter2@127.0.0.1:1/none"
    with pytest.raises(StoreError) as err:
        PostgresStore(dsn, connect_timeout=2)
    assert "hunter2" not in str(err.value) and "cannot connect" in str(err.value)
    assert redact_dsn(dsn) == "postgresql://mailloop:***@127.0.0.1:1/none"
    assert redact_dsn("host=db password=hunter2 dbname=x") == "host=db password=*** dbname=x"
    assert "hunter2" not in redact_dsn("postgresql://db/x?password=hunter2&sslmode=require")


def test_store_settings() -> None:
    with pytest.raises(ConfigError, match=r"needs store\.dsn"):
        load_settings(None, store={"kind": "postgres"})
    settings = load_settings(None, store={"kind": "postgres",
                                          "dsn": "postgresql://u:hunter2@db/x"})
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.store)
    with pytest.raises(ConfigError, match=r"store\.kind"):
        load_settings(None, store={"kind": "mysql"})


# ---------------------------------------------------------------- two daemons, one mailbox


class StaleView:
    """A store as a daemon saw it before another daemon's commit: it knows no messages."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def message(self, key: str) -> None:
        return None

    def messages_by_message_id(self, message_id: str) -> list[Doc]:
        return []

    def has_content(self, content_hash: str) -> bool:
        return False

    def reply(self, reply_id: str) -> None:
        return None


def test_two_daemons_on_one_mailbox_send_each_reply_once(tmp_path: Path,
                                                          pg: Callable[[], Any],
                                                          postgres_dsn: str) -> None:
    from mailloop.daemon import Daemon
    from mailloop.factory import make_delivery, make_mailbox
    from mailloop.samples import sample_files, seed_inbox

    def settings_for(name: str) -> Settings:
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(ROOT / "config.example.toml", folder / "mailloop.toml")
        shutil.copytree(ROOT / "templates", folder / "templates")
        return load_settings(folder / "mailloop.toml", state_dir=str(folder / "var"),
                             secret="shared-secret-for-both-daemons",
                             store={"kind": "postgres", "dsn": postgres_dsn})

    first, second = settings_for("a"), settings_for("b")
    seed_inbox(first.inbox_path, first.store_path)
    shutil.copytree(first.inbox_path, second.inbox_path)  # one mailbox, seen by both
    store_a, store_b = pg(), pg()
    a = Daemon(first, mailbox=make_mailbox(first), delivery=make_delivery(first), store=store_a)
    b = Daemon(second, mailbox=make_mailbox(second), delivery=make_delivery(second),
               store=StaleView(store_b))
    a.mailbox.connect()
    b.mailbox.connect()
    a.receive()
    b.receive()  # decided the same messages again, before seeing a's commit
    planned = store_a.replies()
    assert planned and len({r["id"] for r in planned}) == len(planned)
    results: list[tuple[int, int, int]] = []
    threads = [threading.Thread(target=lambda d=d: results.append(d.send_due())) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent_ids = []
    for s in (first, second):
        folder = s.outbox_path / "new"
        for path in folder.iterdir() if folder.exists() else ():
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            sent_ids.append(str(parsed["Message-ID"]).strip().strip("<>"))
    assert sorted(sent_ids) == sorted(r["id"] for r in planned)  # each exactly once
    assert sum(r[0] for r in results) == len(planned)
    assert {r["state"] for r in store_a.replies()} == {"sent"}
    assert len(list(store_a.iter_messages())) == len(sample_files())
