"""The embedded store: TinyDB files, partitioned by month, written atomically.

Each file is a TinyDB database on `AtomicJSONStorage`, which holds the file's
tables in memory and writes them whole, with orjson, when the store flushes.
TinyDB rewrites a whole table for each operation, so a commit puts all its
documents for one table in one table update. A file is rewritten whole when it
changes, so one file for everything would make each message cost more as
history grows. Instead:

- `mailloop.json` (the configured path) holds the small tables: the commit
  sequence number, mailbox checkpoints and small records.
- `mailloop.d/YYYY-MM.NNN.json` hold messages, their replies and conversations,
  a segment of at most `segment_size` messages each, so a write touches a file of
  bounded size.
- `mailloop.d/index.jsonl` is an append-only journal of where each document
  lives and the few fields lookups need; it is loaded into memory at start.

A commit appends its journal lines (tagged with the commit's sequence number)
first, then writes the touched segments, then the main file with the new
sequence number; each file is replaced atomically (temporary file, fsync,
rename). On start, journal lines newer than the main file's sequence number are
kept only if their document really reached its segment, so a crash at any point
leaves a consistent store.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import orjson
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from mailloop.store.base import Batch, Doc, StoreError, claimed

_PARTITION_RE = re.compile(r"^(\d{4}-\d{2})\.(\d{3})\.json$")
_OPEN_PARTITIONS = 2  # segments kept in memory; a backlog writes one (or two) at a time


Tables = dict[str, dict[str, Any]]  # table name -> document id (digits) -> document


class AtomicJSONStorage(Storage):
    """TinyDB storage for one of the store's files, laid out as TinyDB's own JSON
    storage lays it out (`{"table": {"1": {...}}}`): read once and held in memory,
    written whole on `flush`, atomically: a crash leaves the old file or the new one,
    never half of one.

    With `cache`, a table no write has replaced since the last flush goes into the file
    as it was encoded then: the main file is written at every commit for its sequence
    number, its records rarely change. TinyDB puts a new dict in place of a table at
    every write to it, so an unchanged dict is an unchanged table."""

    def __init__(self, path: Path, *, cache: bool = False) -> None:
        self.path = path
        self._data: Tables | None = None
        self._dirty = False
        # table name -> (the table's dict when it was encoded, its encoding)
        self._encoded: dict[str, tuple[dict[str, Any], bytes]] | None = {} if cache else None

    def read(self) -> Tables:
        if self._data is None:
            self._data = self._load()
        return self._data

    def _load(self) -> Tables:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        if not text.strip():
            return {}
        try:
            # json, not orjson: orjson reads an integer beyond 64 bits as a float
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.path}: not valid JSON ({exc}); "
                             "restore it from a backup or run `mailloop store check`") from None
        if not isinstance(data, dict):
            raise StoreError(f"{self.path}: not a store file; "
                             "restore it from a backup or run `mailloop store check`")
        return data

    def write(self, data: Tables) -> None:
        self._data = data
        self._dirty = True

    def flush(self) -> None:
        if not self._dirty or self._data is None:
            return
        if self._encoded is None:
            encoded = dumps(self._data)
        else:
            cache: dict[str, tuple[dict[str, Any], bytes]] = {}
            for name, table in self._data.items():
                held = self._encoded.get(name)
                cache[name] = held if held is not None and held[0] is table else (
                    table, dumps(table))
            self._encoded = cache
            encoded = b"{" + b",".join(dumps(name) + b":" + held[1]
                                       for name, held in cache.items()) + b"}"
        atomic_write(self.path, encoded)
        self._dirty = False

    def close(self) -> None:
        self.flush()


class StoreFile:
    """One of the store's files: a TinyDB database on its `AtomicJSONStorage`."""

    def __init__(self, path: Path, *, cache: bool = False) -> None:
        self.db = TinyDB(path, storage=AtomicJSONStorage, cache=cache)
        self.storage = cast(AtomicJSONStorage, self.db.storage)

    def table(self, name: str) -> Table:
        # Documents are read by id or all at once, never searched: no query cache.
        return self.db.table(name, cache_size=0)

    def flush(self) -> None:
        self.storage.flush()


def _put(table: Table, docs: Mapping[int, Doc]) -> None:
    """Set each document of `docs` by id, replacing what was stored.

    One table update for all of them: TinyDB's insert_multiple and update_multiple are
    built on this same `_update_table`, which rebuilds the whole table once per call;
    a document at a time (insert, update, upsert) would rebuild it once per document."""

    def updater(stored: dict[int, Mapping[str, Any]]) -> None:
        for doc_id, doc in docs.items():
            stored[doc_id] = dict(doc)  # a copy: the batch is the caller's

    table._update_table(updater)


def _merge(table: Table, docs: Iterable[tuple[int, Doc]]) -> None:
    """Merge each document into the stored one by top-level keys, in order, as TinyDB's
    upsert does; in one table update, as `_put`."""

    def updater(stored: dict[int, Mapping[str, Any]]) -> None:
        for doc_id, doc in docs:
            old = stored.get(doc_id)
            stored[doc_id] = dict(doc) if old is None else {**old, **doc}

    table._update_table(updater)


# orjson writes the JSON json.dumps(..., ensure_ascii=False, separators=(",", ":")) writes
# (byte for byte, but for the spelling of a float's exponent, and null for NaN and the
# infinities, which are not JSON) seven times faster: a commit rewrites whole segments of
# several MB. Datetimes and dataclasses go on to the standard library, which refuses them.
_ORJSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> bytes:
    """Compact JSON in UTF-8, non-ASCII characters as they are."""
    try:
        return orjson.dumps(value, option=_ORJSON)
    except orjson.JSONEncodeError:
        # What orjson refuses (integers beyond 64 bits, keys that are not strings,
        # unpaired surrogates): the standard library writes it, or raises, as it always did.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _journal_entry(line: bytes) -> Any:
    """One journal line, read by orjson: four times faster than json on the lines that
    index documents (strings and small numbers). A small record's document is read by
    json, which keeps an integer beyond 64 bits exact where orjson makes it a float."""
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)  # what json reads and orjson does not, or the error
    return json.loads(line) if entry.get("t") == _RECORD else entry


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class _Loc:
    partition: str
    doc_id: int


_TABLES = {"m": "messages", "r": "replies", "c": "conversations"}
_RECORD, _END = "rec", "end"  # journal lines that carry a small record, or seal a commit


class TinyStore:
    """The Repository on TinyDB files. One process writes; readers may open it too."""

    def __init__(self, path: str | Path, *, segment_size: int = 2000) -> None:
        self.path = Path(path)
        self.folder = self.path.with_suffix(".d")
        self.segment_size = segment_size
        self.folder.mkdir(parents=True, exist_ok=True)
        self._main = StoreFile(self.path, cache=True)
        self._open: OrderedDict[str, StoreFile] = OrderedDict()
        self._journal_path = self.folder / "index.jsonl"
        meta = self._main.table("meta").get(doc_id=1)
        self._seq: int = int(meta["seq"]) if meta else 0
        self._reset_index()
        self._load_journal()

    # ---- index -------------------------------------------------------------

    def _reset_index(self) -> None:
        self._loc: dict[str, dict[str, _Loc]] = {"m": {}, "r": {}, "c": {}}
        self._by_mid: dict[str, list[str]] = {}
        self._hashes: set[str] = set()
        self._parked: set[str] = set()
        self._conv_by_subject: dict[tuple[str, str], tuple[str, str]] = {}
        self._reply_info: dict[str, tuple[str, tuple[str, ...], str, str]] = {}
        # replies_to_since / replies_since without a scan of every reply ever sent
        self._reply_to: dict[str, dict[str, tuple[str, str]]] = {}  # address -> id -> (at, kind)
        self._reply_stamps: list[str] = []  # every reply's created_at, sorted
        self._by_state: dict[str, dict[str, None]] = {}  # state -> reply ids
        self._reply_pos: dict[str, int] = {}  # reply id -> when first stored
        self._partition_counts: dict[str, int] = {}
        self._newest: dict[str, str] = {}  # month -> its newest segment
        self._newest_seen = -1  # how many partitions there were when _newest was filled
        self._next_ids: dict[tuple[str, str], int] = {}
        for name in sorted(os.listdir(self.folder)):
            if _PARTITION_RE.match(name):
                self._partition_counts.setdefault(name, 0)

    def _load_journal(self) -> None:
        try:
            raw = self._journal_path.read_bytes()
        except FileNotFoundError:
            return
        pending: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        ended: set[int] = set()
        lines = raw.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = _journal_entry(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: its commit never completed
            if entry["t"] == _END:
                ended.add(entry["s"])
            elif entry["t"] == _RECORD:
                if entry["s"] > self._seq:
                    records.append(entry)
            elif entry["s"] <= self._seq:
                self._index(entry)
            else:
                pending.append(entry)
        # Records of a commit whose segments were all written, but whose main file was not.
        landed = [r for r in records if r["s"] in ended]
        if landed:
            _merge(self._main.table("records"),
                   [(_stable_id(rec["id"]), rec["doc"]) for rec in landed])
            self._main.flush()
        for entry in pending:
            # Written ahead of a commit that may not have finished: keep only what landed.
            # An update of a document that existed before landed only if the segment holds
            # the new version (a reply's state is what the ledger's recovery looks up).
            doc = self._table(entry["p"], _TABLES[entry["t"]]).get(doc_id=entry["d"])
            if doc is not None and (entry["t"] != "r" or doc.get("state", "") == entry.get(
                    "st", "")):
                self._index(entry)
        if pending or records:
            # Seal what landed and rewrite the journal without what did not, so the lines of
            # an unfinished commit are never read as committed later.
            self._seq = max(e["s"] for e in (*pending, *records))
            _merge(self._main.table("meta"), [(1, {"seq": self._seq})])
            self._main.flush()
            self.compact_journal()

    def _index(self, e: dict[str, Any]) -> None:
        kind, ident = e["t"], e["id"]
        loc = _Loc(e["p"], e["d"])
        table = _TABLES[kind]
        first_time = ident not in self._loc[kind]
        self._loc[kind][ident] = loc
        nxt = self._next_ids.get((loc.partition, table), 1)
        self._next_ids[(loc.partition, table)] = max(nxt, loc.doc_id + 1)
        if kind == "m":
            if first_time:
                self._partition_counts[loc.partition] = (
                    self._partition_counts.get(loc.partition, 0) + 1)
                mid = e.get("mid")
                if mid:
                    self._by_mid.setdefault(mid, []).append(ident)
            if e.get("h"):
                self._hashes.add(e["h"])
            if e.get("parked"):
                self._parked.add(ident)
            else:
                self._parked.discard(ident)
        elif kind == "r":
            info = (e.get("st", ""), tuple(e.get("to", ())), e.get("at", ""), e.get("k", ""))
            old = self._reply_info.get(ident)
            self._reply_info[ident] = info
            if old is not None and old[0] != info[0]:
                self._by_state.get(old[0], {}).pop(ident, None)
            self._by_state.setdefault(info[0], {})[ident] = None
            self._reply_pos.setdefault(ident, len(self._reply_pos))
            if old is None or old[1:] != info[1:]:
                self._index_reply_lookups(ident, old, info)
        elif kind == "c" and e.get("subj") is not None:
            self._conv_by_subject[(e.get("who", ""), e["subj"])] = (ident, e.get("last", ""))

    def _index_reply_lookups(self, ident: str, old: tuple[str, tuple[str, ...], str, str] | None,
                             new: tuple[str, tuple[str, ...], str, str]) -> None:
        if old is not None:
            for addr in old[1]:
                self._reply_to.get(addr, {}).pop(ident, None)
            at = bisect.bisect_left(self._reply_stamps, old[2])
            if at < len(self._reply_stamps) and self._reply_stamps[at] == old[2]:
                del self._reply_stamps[at]
        for addr in new[1]:
            self._reply_to.setdefault(addr, {})[ident] = (new[2], new[3])
        bisect.insort(self._reply_stamps, new[2])

    # ---- partitions --------------------------------------------------------

    def _partition(self, name: str) -> StoreFile:
        if name in self._open:
            self._open.move_to_end(name)
            return self._open[name]
        segment = self._open[name] = StoreFile(self.folder / name)
        while len(self._open) > _OPEN_PARTITIONS:
            _, old = self._open.popitem(last=False)
            old.flush()
        return segment

    def _table(self, partition: str, table: str) -> Table:
        return self._partition(partition).table(table)

    def _current_partition(self, month: str) -> str:
        # Asked for each new message: the newest segment of each month is remembered
        # until a segment appears (partitions are only ever added), not looked for among
        # all of them (a hundred at 100,000 messages).
        if len(self._partition_counts) != self._newest_seen:
            self._newest.clear()
            self._newest_seen = len(self._partition_counts)
        newest = self._newest.get(month)
        if newest is None:
            newest = self._newest[month] = max(
                (n for n in self._partition_counts if n.startswith(month + ".")), default="")
        if newest and self._partition_counts.get(newest, 0) < self.segment_size:
            return newest
        number = int(newest.split(".")[1]) + 1 if newest else 1
        name = f"{month}.{number:03d}.json"
        self._partition_counts[name] = 0
        return name

    def _get(self, kind: str, ident: str) -> Doc | None:
        loc = self._loc[kind].get(ident)
        if loc is None:
            return None
        doc = self._table(loc.partition, _TABLES[kind]).get(doc_id=loc.doc_id)
        return dict(doc) if doc is not None else None

    # ---- reads -------------------------------------------------------------

    def message(self, key: str) -> Doc | None:
        return self._get("m", key)

    def messages_by_message_id(self, message_id: str) -> list[Doc]:
        out = []
        for key in self._by_mid.get(message_id, []):
            doc = self._get("m", key)
            if doc is not None:
                out.append(doc)
        return out

    def has_content(self, content_hash: str) -> bool:
        return content_hash in self._hashes

    def months(self) -> list[str]:
        return sorted({n[:7] for n in self._partition_counts})

    def iter_messages(self, months: Iterable[str] | None = None) -> Iterator[Doc]:
        return self._iter("messages", months)

    def iter_replies(self, months: Iterable[str] | None = None) -> Iterator[Doc]:
        return self._iter("replies", months)

    def iter_conversations(self, months: Iterable[str] | None = None) -> Iterator[Doc]:
        return self._iter("conversations", months)

    def _iter(self, table: str, months: Iterable[str] | None) -> Iterator[Doc]:
        """Every document of `table`, segment by segment in order, in the months asked."""
        wanted = set(months) if months is not None else None
        for name in sorted(self._partition_counts):
            if wanted is not None and name[:7] not in wanted:
                continue
            for doc in self._table(name, table):
                yield dict(doc)

    def all_checkpoints(self) -> list[Doc]:
        return [dict(d) for d in self._main.table("checkpoints")]

    def counts(self) -> dict[str, int]:
        """How many documents each collection holds."""
        return {"messages": len(self._loc["m"]), "replies": len(self._loc["r"]),
                "conversations": len(self._loc["c"]),
                "checkpoints": len(self._main.table("checkpoints")),
                "records": len(self._main.table("records"))}

    def parked(self) -> list[Doc]:
        docs = [d for k in sorted(self._parked) if (d := self._get("m", k)) is not None]
        return sorted(docs, key=lambda d: d.get("received_at", ""))

    def conversation(self, conversation_id: str) -> Doc | None:
        return self._get("c", conversation_id)

    def recent_conversation(self, sender: str, subject: str, since: datetime) -> Doc | None:
        found = self._conv_by_subject.get((sender.casefold(), subject))
        if found is None or found[1] < since.isoformat():
            return None
        return self._get("c", found[0])

    def reply(self, reply_id: str) -> Doc | None:
        return self._get("r", reply_id)

    def replies(self, states: Iterable[str] | None = None) -> list[Doc]:
        wanted = set(states) if states is not None else None
        if wanted is None:
            ids = list(self._reply_info)
        else:
            # in the order the replies were first stored, as a scan would give them
            pos = self._reply_pos
            ids = sorted((i for state in wanted for i in self._by_state.get(state, {})),
                         key=pos.__getitem__)
        return [d for i in ids if (d := self._get("r", i)) is not None]

    def replies_to_since(self, address: str, since: datetime, kinds: Iterable[str]) -> int:
        wanted, cutoff = set(kinds), since.isoformat()
        return sum(1 for at, kind in self._reply_to.get(address.casefold(), {}).values()
                   if at >= cutoff and kind in wanted)

    def replies_since(self, since: datetime) -> int:
        stamps = self._reply_stamps
        return len(stamps) - bisect.bisect_left(stamps, since.isoformat())

    def claim_replies(self, ids: Iterable[str], owner: str, now: datetime) -> list[Doc]:
        """One process writes this store, so every due reply asked for is claimed."""
        batch = Batch()
        for rid in ids:
            doc = self._get("r", rid)
            new = claimed(doc, owner, now) if doc is not None else None
            if new is not None:
                batch.put_reply(new)
        self.commit(batch)
        return list(batch.replies.values())

    def checkpoint(self, mailbox: str) -> Doc | None:
        doc = self._main.table("checkpoints").get(doc_id=_stable_id(mailbox))
        return dict(doc) if doc is not None else None

    def record(self, record_id: str) -> Doc | None:
        doc = self._main.table("records").get(doc_id=_stable_id(record_id))
        return dict(doc) if doc is not None else None

    def records(self, prefix: str) -> list[Doc]:
        return [dict(d) for d in self._main.table("records")
                if str(d.get("id", "")).startswith(prefix)]

    # ---- writes ------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        if not batch:
            return
        seq = self._seq + 1
        entries: list[dict[str, Any]] = []
        writes: dict[tuple[str, str], dict[int, Doc]] = {}

        def place(kind: str, ident: str, doc: Doc, partition_hint: str) -> dict[str, Any]:
            loc = self._loc[kind].get(ident)
            if loc is None:
                table = _TABLES[kind]
                partition = partition_hint
                doc_id = self._next_ids.get((partition, table), 1)
                self._next_ids[(partition, table)] = doc_id + 1
                if kind == "m":
                    self._partition_counts[partition] = self._partition_counts.get(partition, 0)
                loc = _Loc(partition, doc_id)
                self._loc[kind][ident] = loc
            writes.setdefault((loc.partition, _TABLES[kind]), {})[loc.doc_id] = doc
            return {"s": seq, "t": kind, "id": ident, "p": loc.partition, "d": loc.doc_id}

        for key, doc in batch.messages.items():
            hint = self._current_partition(doc["month"]) if key not in self._loc["m"] else ""
            entry = place("m", key, doc, hint)
            entry.update(mid=doc.get("message_id"), h=doc.get("content_hash"),
                         parked=doc.get("status") == "parked")
            entries.append(entry)
            self._index_new_message(entry)
        for cid, doc in batch.conversations.items():
            entry = place("c", cid, doc, self._partition_near(doc.get("first_key"),
                                                                doc.get("month", "")))
            entry.update(who=str(doc.get("customer", "")).casefold(),
                         subj=doc.get("subject_key"), last=doc.get("last_at", ""))
            entries.append(entry)
            self._index(entry)
        for rid, doc in batch.replies.items():
            entry = place("r", rid, doc, self._partition_near(doc.get("answers"),
                                                                doc.get("month", "")))
            entry.update(st=doc.get("state", ""), at=doc.get("created_at", ""),
                         k=doc.get("kind", ""),
                         to=[str(a).casefold() for a in doc.get("to", [])])
            entries.append(entry)
            self._index(entry)

        # Small records ride in the journal whole: they live in the main file, written
        # last, and must not be lost when a crash comes between the segments and it.
        entries.extend({"s": seq, "t": _RECORD, "id": rid, "doc": {**rec, "id": rid}}
                       for rid, rec in batch.records.items())
        # 1. the journal, ahead of the data it describes
        if entries:
            self._append_journal(entries)
        # 2. the segments, one write each
        touched: dict[str, None] = {}
        for (partition, table_name), docs in writes.items():
            _put(self._table(partition, table_name), docs)
            touched[partition] = None
        for partition in touched:
            self._partition(partition).flush()
        if batch.records:
            # Every segment is written: from here on the commit's records count.
            self._append_journal([{"s": seq, "t": _END}])
        # 3. the main file: checkpoints, records, and the sequence number that seals the commit
        if batch.checkpoints:
            _merge(self._main.table("checkpoints"),
                   [(_stable_id(name), {**cp, "mailbox": name})
                    for name, cp in batch.checkpoints.items()])
        if batch.records:
            _merge(self._main.table("records"),
                   [(_stable_id(rid), {**rec, "id": rid}) for rid, rec in batch.records.items()])
        _merge(self._main.table("meta"), [(1, {"seq": seq})])
        self._main.flush()
        self._seq = seq

    def _append_journal(self, entries: list[dict[str, Any]]) -> None:
        with self._journal_path.open("ab") as fh:
            fh.write(b"".join(dumps(e) + b"\n" for e in entries))
            fh.flush()
            os.fsync(fh.fileno())

    def _index_new_message(self, entry: dict[str, Any]) -> None:
        ident = entry["id"]
        already = ident in self._by_mid.get(entry.get("mid") or "", [])
        if not already:
            self._partition_counts[entry["p"]] = self._partition_counts.get(entry["p"], 0) + 1
            if entry.get("mid"):
                self._by_mid.setdefault(entry["mid"], []).append(ident)
        if entry.get("h"):
            self._hashes.add(entry["h"])
        if entry.get("parked"):
            self._parked.add(ident)
        else:
            self._parked.discard(ident)

    def _partition_near(self, message_key: str | None, month: str) -> str:
        """Keep a message's replies and conversation in the message's own file."""
        if message_key and message_key in self._loc["m"]:
            return self._loc["m"][message_key].partition
        return self._current_partition(month or "0000-00")

    def compact_journal(self) -> None:
        """Rewrite the journal with one line per live document."""
        lines = []
        for kind, locs in self._loc.items():
            for ident, loc in locs.items():
                doc = self._get(kind, ident)
                if doc is None:
                    continue
                entry: dict[str, Any] = {"s": self._seq, "t": kind, "id": ident,
                                         "p": loc.partition, "d": loc.doc_id}
                if kind == "m":
                    entry.update(mid=doc.get("message_id"), h=doc.get("content_hash"),
                                 parked=doc.get("status") == "parked")
                elif kind == "r":
                    entry.update(st=doc.get("state", ""), at=doc.get("created_at", ""),
                                 k=doc.get("kind", ""),
                                 to=[str(a).casefold() for a in doc.get("to", [])])
                else:
                    entry.update(who=str(doc.get("customer", "")).casefold(),
                                 subj=doc.get("subject_key"), last=doc.get("last_at", ""))
                lines.append(dumps(entry))
        atomic_write(self._journal_path, b"\n".join(lines) + b"\n")

    def rewrite_records(self, change: Callable[[Doc], Doc | None]) -> int:
        """Replace each small record by `change(record)`, or drop it when that is None;
        returns how many changed. For erasure: records otherwise only merge."""
        records = self._main.table("records")
        changes = [(doc.doc_id, new) for doc in records if (new := change(dict(doc))) != doc]
        if not changes:
            return 0

        def updater(table: dict[int, Mapping[str, Any]]) -> None:
            for key, new in changes:
                del table[key]
                if new is not None:
                    new_key = _stable_id(str(new.get("id", "")))
                    if new_key in table:
                        raise ValueError(f"a record with id {new.get('id')!r} already exists")
                    table[new_key] = dict(new)

        # One table update: a ValueError leaves the records as they were.
        records._update_table(updater)
        self._main.flush()
        return len(changes)

    def reindex(self) -> None:
        """Rewrite the journal from the documents as they are now and reload the index
        (after an erasure, so no old lookup value is left in any file)."""
        self.compact_journal()
        self._reset_index()
        self._load_journal()

    def close(self) -> None:
        for segment in self._open.values():
            segment.flush()
        self._main.flush()


def _stable_id(name: str) -> int:
    """A TinyDB document id derived from a string key, stable across runs."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=7).digest(), "big")
