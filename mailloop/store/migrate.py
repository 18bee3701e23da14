"""Copy a store into another and check the copy, document by document.

Used by `mailloop store migrate`. Both ends are read through the same few methods
(`iter_messages`, `iter_replies`, `iter_conversations`, `all_checkpoints`,
`records`), so any pair of stores can be copied and compared.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from mailloop.store.base import Batch, Doc

COLLECTIONS = ("messages", "replies", "conversations", "checkpoints", "records")
_KEY = {"messages": "key", "replies": "id", "conversations": "id", "checkpoints": "mailbox",
        "records": "id"}


class Copyable(Protocol):
    def iter_messages(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def iter_replies(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def iter_conversations(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def all_checkpoints(self) -> list[Doc]: ...
    def records(self, prefix: str) -> list[Doc]: ...
    def counts(self) -> dict[str, int]: ...
    def commit(self, batch: Batch) -> None: ...


def documents(store: Copyable, collection: str) -> Iterator[Doc]:
    if collection == "messages":
        return store.iter_messages()
    if collection == "replies":
        return store.iter_replies()
    if collection == "conversations":
        return store.iter_conversations()
    if collection == "checkpoints":
        return iter(store.all_checkpoints())
    return iter(store.records(""))


def doc_hash(doc: Doc) -> str:
    """A digest of a document's content, the same whichever store it was read from."""
    text = json.dumps(doc, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


Progress = Callable[[str, int], None]  # (collection, documents just copied)


def copy_store(source: Copyable, target: Copyable, *, batch_size: int = 500,
               progress: Progress | None = None) -> dict[str, int]:
    """Copy every document of `source` into `target`, `batch_size` per commit."""
    copied: dict[str, int] = {}
    for collection in COLLECTIONS:
        batch, n = Batch(), 0
        for doc in documents(source, collection):
            _put(batch, collection, doc)
            n += 1
            if n % batch_size == 0:
                target.commit(batch)
                if progress:
                    progress(collection, batch_size)
                batch = Batch()
        if batch:
            target.commit(batch)
        if progress and n % batch_size:
            progress(collection, n % batch_size)
        copied[collection] = n
    return copied


def _put(batch: Batch, collection: str, doc: Doc) -> None:
    if collection == "messages":
        batch.put_message(doc)
    elif collection == "replies":
        batch.put_reply(doc)
    elif collection == "conversations":
        batch.put_conversation(doc)
    elif collection == "checkpoints":
        batch.checkpoints[doc["mailbox"]] = doc
    else:
        batch.records[doc["id"]] = doc


@dataclass
class Verification:
    """What a comparison of the source and the copy found."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # source, target
    months: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # in source, not in target
    different: dict[str, list[str]] = field(default_factory=dict)  # content differs
    extra: dict[str, int] = field(default_factory=dict)  # in target only (already there)

    @property
    def ok(self) -> bool:
        return not any(self.missing.values()) and not any(self.different.values()) and all(
            s == t for per in self.months.values() for s, t in per.values())

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts, "months": self.months,
                "missing": self.missing, "different": self.different, "extra": self.extra}


def verify(source: Copyable, target: Copyable) -> Verification:
    """Compare every document of `source` with the one of the same id in `target`, and
    count messages, replies and conversations per month on both sides (in the target,
    among the documents the source has: a shared target may hold other mailboxes too)."""
    result = Verification()
    for collection in COLLECTIONS:
        key = _KEY[collection]
        theirs: dict[str, tuple[str, str]] = {}
        for doc in documents(target, collection):
            theirs[str(doc.get(key))] = (doc_hash(doc), str(doc.get("month") or ""))
        missing: list[str] = []
        different: list[str] = []
        src_months: Counter[str] = Counter()
        tgt_months: Counter[str] = Counter()
        seen = 0
        for doc in documents(source, collection):
            ident = str(doc.get(key))
            seen += 1
            src_months[str(doc.get("month") or "")] += 1
            found = theirs.pop(ident, None)
            if found is None:
                missing.append(ident)
                continue
            tgt_months[found[1]] += 1
            if found[0] != doc_hash(doc):
                different.append(ident)
        result.counts[collection] = (seen, seen - len(missing))
        result.missing[collection] = missing
        result.different[collection] = different
        result.extra[collection] = len(theirs)
        if collection in ("messages", "replies", "conversations"):
            result.months[collection] = {m: (src_months[m], tgt_months[m])
                                         for m in sorted(set(src_months) | set(tgt_months))}
    return result
