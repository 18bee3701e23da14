"""The template set the daemon renders with, reloaded when a file changes.

Before each batch the daemon calls `refresh()`: a stat of every file in the
templates folder (cheap: a few dozen files) tells whether anything changed.
SIGHUP calls `refresh(force=True)`. A changed set is loaded and checked as a
whole, with the same sample renders as `mailloop templates check`:

- if it passes, it replaces the serving set at once;
- if not, the last good set keeps serving, `error` holds the first problem as
  `FILE:LINE: message` (the daemon writes it into status.json, where
  `mailloop status` shows it) and it is logged once, until the files change.

At start-up there is no last good set: a set with errors is used as it is, so
every template that works keeps answering, and a message whose template fails
is parked (never sent half-rendered), as the error says.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mailloop.context import Company, TemplateContext
from mailloop.render.check import check_set
from mailloop.render.templateset import Rendered, TemplateSet

if TYPE_CHECKING:
    from mailloop.config import Settings

log = logging.getLogger("mailloop")

Signature = tuple[tuple[str, int, int], ...]


class Renderer(Protocol):
    """What the pipeline renders with: a TemplateSet or a LiveTemplates."""

    def render(self, name: str, context: TemplateContext, locales: list[str] | None = None
               ) -> Rendered: ...


def signature(folder: Path) -> Signature:
    """(path, mtime_ns, size) of every file that makes up a set."""
    if not folder.is_dir():
        return ()
    found = []
    for path in [*folder.glob("*"), *folder.glob("*/*")]:
        if path.is_file() and path.suffix in (".md", ".html"):
            stat = path.stat()
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


class LiveTemplates:
    def __init__(self, folder: Path, default_locale: str = "en",
                 fallback: dict[str, str] | None = None, *, company: Company | None = None,
                 required: frozenset[str] = frozenset()) -> None:
        self.folder = folder
        self.default_locale = default_locale
        self.fallback = dict(fallback or {})
        self.company = company
        self.required = required
        self._lock = threading.Lock()
        self._signature: Signature = ()
        self.error: str | None = None
        self.current: TemplateSet
        self.refresh(force=True, first=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveTemplates:
        return cls(settings.templates_path, settings.templates.default_locale,
                   settings.templates.fallback,
                   company=Company(name=settings.company.name, website=settings.company.website,
                                   signature=settings.company.signature),
                   required=frozenset(r.acknowledge for r in settings.rules if r.acknowledge))

    @property
    def hash(self) -> str:
        return self.current.hash

    def refresh(self, *, force: bool = False, first: bool = False) -> bool:
        """Load the folder again if a file changed (or `force`); True if the serving
        set was replaced."""
        with self._lock:
            sig = signature(self.folder)
            if sig == self._signature and not force:
                return False
            self._signature = sig
            candidate = TemplateSet(self.folder, self.default_locale, self.fallback,
                                    strict=False)
            errors = [p for p in check_set(candidate, company=self.company,
                                           required=self.required, warnings=False)
                      if p.is_error]
            if not errors:
                replaced = not first and candidate.hash != self.current.hash
                self.current = candidate
                if self.error is not None:
                    log.info("templates fixed: now serving set %s", candidate.hash)
                elif replaced:
                    log.info("templates reloaded: now serving set %s", candidate.hash)
                self.error = None
                return True
            problem = str(errors[0]).replace(": error: ", ": ", 1)
            if len(errors) > 1:
                problem += f" (and {len(errors) - 1} more: run `mailloop templates check`)"
            if first:
                self.current = candidate
                log.error("templates have errors; messages whose template fails are parked: "
                          "%s", problem)
            else:
                log.error("templates not reloaded, still serving set %s: %s",
                          self.current.hash, problem)
            self.error = problem
            return False

    def render(self, name: str, context: TemplateContext, locales: list[str] | None = None
               ) -> Rendered:
        return self.current.render(name, context, locales)
