"""Where reports read from.

Reports need only three things of a store: its months, the messages and replies of
some months, and its small records (`ReportSource`). Every Repository offers them.
For the embedded TinyDB store, `MonthFiles` reads the month files directly: no
journal index to load (which grows with the whole history) and no TinyDB objects,
so a report costs what the months it reads cost. It sees what the store itself
sees after a crash: documents that reached their month file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from mailloop.config import Settings
from mailloop.store.base import Doc, StoreError

_SEGMENT_RE = re.compile(r"^(\d{4}-\d{2})\.(\d{3})\.json$")


class ReportSource(Protocol):
    def months(self) -> list[str]: ...
    def iter_messages(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def iter_replies(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def iter_conversations(self, months: Iterable[str] | None = None) -> Iterator[Doc]: ...
    def records(self, prefix: str) -> list[Doc]: ...


class MonthFiles:
    """A read-only view of the embedded store's month files, for reports."""

    def __init__(self, store_path: Path) -> None:
        self.main = store_path
        self.folder = store_path.with_suffix(".d")
        self._replies: dict[Path, list[Doc]] = {}  # kept from the month read last

    def _segments(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _SEGMENT_RE.match(p.name))

    def months(self) -> list[str]:
        return sorted({p.name[:7] for p in self._segments()})

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path}: not valid JSON ({exc}); run `mailloop store check`"
                             ) from None
        return data if isinstance(data, dict) else {}

    def iter_messages(self, months: Iterable[str] | None = None) -> Iterator[Doc]:
        wanted = set(months) if months is not None else None
        self._replies = {}
        for path in self._segments():
            if wanted is not None and path.name[:7] not in wanted:
                continue
            data = self._read(path)
            # The replies of the same file, for an iter_replies of these months next.
            self._replies[path] = list(data.get("replies", {}).values())
            yield from data.get("messages", {}).values()

    def iter_replies(self, months: Iterable[str] | None = None) -> Iterator[Doc]:
        wanted = set(months) if months is not None else None
        for path in self._segments():
            if wanted is not None and path.name[:7] not in wanted:
                continue
            cached = self._replies.get(path)
            yield from (cached if cached is not None else
                        self._read(path).get("replies", {}).values())

    def iter_conversations(self, months: Iterable[str] | None = None) -> Iterator[Doc]:
        wanted = set(months) if months is not None else None
        for path in self._segments():
            if wanted is None or path.name[:7] in wanted:
                yield from self._read(path).get("conversations", {}).values()

    def records(self, prefix: str) -> list[Doc]:
        table = self._read(self.main).get("records", {}) if self.main.exists() else {}
        return [dict(d) for d in table.values() if str(d.get("id", "")).startswith(prefix)]

    def close(self) -> None:
        self._replies = {}


class _Closable(ReportSource, Protocol):
    def close(self) -> None: ...


def open_source(settings: Settings) -> _Closable:
    """The fastest read-only source for the configured store: the month files of the
    embedded store, else the store itself (a server database reads by month anyway)."""
    if settings.store.kind == "tinydb":
        return MonthFiles(settings.store_path)
    from mailloop.store import open_store

    return open_store(settings)
