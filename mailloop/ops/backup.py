"""`store backup` and `store check` for the embedded TinyDB store.

A backup is a gzip'd tar of the main file, the month segments and the journal,
taken while the daemon runs: the files are read main file first, then the
segments, then the journal, then the main file again, and the copy is kept only if
the commit sequence number did not move meanwhile (else it is read again). A
commit caught half-way is then exactly what a crash at that point leaves, which
the store recovers from on open. The archive is then opened and checked before
it is declared good.

`check` reads every file and verifies: each is valid JSON; the journal's lines
(a line cut short by a crash at the end excepted) point at documents that exist;
every document in a segment is indexed once; documents have their key fields.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailloop.store.base import StoreError

_SEGMENT = re.compile(r"^\d{4}-\d{2}\.\d{3}\.json$")
_KEYS = {"messages": "key", "replies": "id", "conversations": "id"}
_KINDS = {"m": "messages", "r": "replies", "c": "conversations"}


def _seq(main: bytes) -> int:
    if not main.strip():
        return 0
    data = json.loads(main)
    meta = (data.get("meta") or {}).get("1") or {}
    return int(meta.get("seq", 0))


def snapshot(store_path: Path, *, attempts: int = 50) -> dict[str, bytes]:
    """A consistent set of the store's files: {relative name: bytes}."""
    folder = store_path.with_suffix(".d")
    for _ in range(attempts):
        try:
            first = store_path.read_bytes() if store_path.exists() else b""
            files: dict[str, bytes] = {}
            if folder.is_dir():
                for name in sorted(os.listdir(folder)):
                    if _SEGMENT.match(name):
                        files[f"{folder.name}/{name}"] = (folder / name).read_bytes()
                journal = folder / "index.jsonl"
                if journal.exists():
                    files[f"{folder.name}/index.jsonl"] = journal.read_bytes()
            last = store_path.read_bytes() if store_path.exists() else b""
        except FileNotFoundError:
            time.sleep(0.05)  # a file replaced between listing and reading
            continue
        if _seq(first) == _seq(last):
            files[store_path.name] = last
            return files
        time.sleep(0.05)
    raise StoreError("the store kept changing while it was copied; try again")


def backup(store_path: Path, target: Path) -> dict[str, Any]:
    files = snapshot(store_path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(buffer.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    report = verify_archive(target, store_path.name)
    report.update(file=str(target), files=len(files), bytes=target.stat().st_size,
                  seq=_seq(files[store_path.name]))
    return report


def verify_archive(archive: Path, main_name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive, "r:gz") as tar:
        tar.extractall(tmp, filter="data")
        result = check(Path(tmp) / main_name)
    return {"ok": result.ok, "problems": result.problems, "counts": result.counts}


@dataclass
class CheckResult:
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _load(path: Path, result: CheckResult) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        result.problems.append(f"{path.name}: unreadable: {exc}")
        return None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        result.problems.append(f"{path.name}: not valid JSON: {exc}")
        return None
    if not isinstance(data, dict):
        result.problems.append(f"{path.name}: not a TinyDB file")
        return None
    return data


def check(store_path: Path) -> CheckResult:
    """Verify a TinyDB store's files without changing them."""
    result = CheckResult()
    folder = store_path.with_suffix(".d")
    if not store_path.exists() and not folder.exists():
        result.problems.append(f"no store at {store_path}")
        return result
    main = _load(store_path, result) if store_path.exists() else {}
    seq = 0
    if main is not None:
        seq = int(((main.get("meta") or {}).get("1") or {}).get("seq", 0))
        result.counts["records"] = len(main.get("records") or {})
        result.counts["checkpoints"] = len(main.get("checkpoints") or {})
    segments: dict[str, dict[str, Any]] = {}
    if folder.is_dir():
        for name in sorted(os.listdir(folder)):
            if _SEGMENT.match(name):
                data = _load(folder / name, result)
                if data is not None:
                    segments[name] = data
    # Every document in the segments, with its key field.
    present: dict[tuple[str, str, str], str] = {}
    for name, data in segments.items():
        for table, key_field in _KEYS.items():
            for doc_id, doc in (data.get(table) or {}).items():
                ident = doc.get(key_field) if isinstance(doc, dict) else None
                if not ident:
                    result.problems.append(f"{name}: {table} document {doc_id} has no "
                                           f"{key_field}")
                    continue
                present[(name, table, doc_id)] = str(ident)
    for table in _KEYS:
        result.counts[table] = sum(1 for (_, t, _) in present if t == table)
    # The journal: the last place of each document.
    located: dict[tuple[str, str], tuple[str, str]] = {}
    journal = folder / "index.jsonl"
    lines = journal.read_bytes().split(b"\n") if journal.exists() else []
    last_real = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            kind, ident = _KINDS[entry["t"]], str(entry["id"])
            where = (str(entry["p"]), str(entry["d"]))
            stamp = int(entry["s"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number - 1 != last_real:  # only the very last line may be cut short
                result.problems.append(f"index.jsonl line {number}: unreadable")
            continue
        if stamp > seq and (where[0], kind, where[1]) not in present:
            continue  # written ahead of a commit that never finished: ignored on open
        located[(kind, ident)] = where
    for (kind, ident), (partition, doc_id) in located.items():
        found = present.get((partition, kind, doc_id))
        if found is None:
            result.problems.append(f"{kind} {ident}: the journal points at {partition} "
                                   f"#{doc_id}, which does not exist")
        elif found != ident:
            result.problems.append(f"{kind} {ident}: {partition} #{doc_id} holds {found}")
    indexed = {(p, k, d) for (k, _), (p, d) in located.items()}
    orphans = [f"{t} {i} ({p} #{d})" for (p, t, d), i in present.items()
               if (p, t, d) not in indexed]
    for orphan in orphans[:20]:
        result.problems.append(f"not in the journal: {orphan}")
    if len(orphans) > 20:
        result.problems.append(f"... and {len(orphans) - 20} more documents not in the journal")
    return result

