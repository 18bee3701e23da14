"""A folder of reply templates, compiled once: what the daemon renders with.

A template reads like the email it makes: header lines (`Subject:` at least), a
blank line, then a Markdown body with Jinja2 expressions. Both parts come from
that one source, through one Jinja2 pass:

- every value is escaped for Markdown as it is inserted, so whatever a customer
  wrote stays literal text (`{{ 7*7 }}` in a name is the seven characters);
- markdown-it.rs parses the result once (raw HTML disabled), and one walk over
  its tree writes the HTML part, wrapped in `templates/_layout.html` with the
  CSS inlined (css-inline; the layout is inlined once, see render/layout.py),
  and the text part, wrapped text with links as footnotes (render/markdown.py);
- a hand-written `<name>.html` beside `<name>.md` replaces the generated HTML
  part (rendered with HTML autoescape, then CSS-inlined the same way).

Default-language files are `templates/<name>.md`, others
`templates/<locale>/<name>.md`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import css_inline
from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError

from mailloop.context import TemplateContext
from mailloop.render.layout import Layout, TooLarge
from mailloop.render.markdown import render
from mailloop.render.sandbox import (
    MAX_OUTPUT,
    RENDER_SECONDS,
    BudgetedSandbox,
    Deadline,
    RenderTimeout,
    environment,
)

if TYPE_CHECKING:
    from mailloop.config import Settings

MAX_SUBJECT = 200
LAYOUT = "_layout.html"
DEFAULT_LAYOUT = "<!doctype html><html><body>{{ body }}</body></html>"
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]?(.*)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


class TemplateError(Exception):
    """A template that cannot be used, located as FILE:LINE."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True, slots=True)
class TemplateSource:
    name: str
    locale: str
    path: Path
    headers: dict[str, tuple[int, str]]  # name -> (line, value)
    body: str
    body_line: int  # the file line the body starts on
    html_path: Path | None = None  # a hand-written HTML part beside it


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    template: str
    locale: str
    set_hash: str
    path: str = ""


def read_source(path: Path, name: str, locale: str) -> TemplateSource:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    headers: dict[str, tuple[int, str]] = {}
    index = 0
    for index, line in enumerate(lines):
        if not line.strip():
            break
        match = _HEADER_LINE.match(line)
        if not match:
            raise TemplateError(str(path), index + 1,
                                "expected a header line like 'Subject: ...' or a blank line")
        headers[match.group(1).lower()] = (index + 1, match.group(2))
    else:
        index = len(lines)
    if "subject" not in headers:
        raise TemplateError(str(path), 1, "missing 'Subject:' header line")
    body = "\n".join(lines[index + 1:]) + "\n"
    html = path.with_suffix(".html")
    return TemplateSource(name, locale, path, headers, body, index + 2,
                          html if html.is_file() else None)


@dataclass(frozen=True, slots=True)
class References:
    """The names one source of a template uses, for `templates check`."""

    file: str
    loaded: tuple[tuple[int, str], ...]  # (line, name) of every name read
    stored: frozenset[str]  # names assigned, looped with or taken as parameters
    loops: tuple[tuple[str, str], ...]  # (target, name) of every `for target in name`
    attributes: tuple[tuple[int, str, str], ...]  # (line, name, attribute) of `name.attribute`


def references(file: str, tree: nodes.Template) -> References:
    """What `tree` refers to, in the order of Jinja's `find_all`. Read before the tree is
    compiled: compiling folds constants inside it (`(false and x) ~ y` loses `x`)."""
    loaded: list[tuple[int, str]] = []
    stored: set[str] = set()
    loops: list[tuple[str, str]] = []
    attributes: list[tuple[int, str, str]] = []
    stack = list(reversed(list(tree.iter_child_nodes())))
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                loaded.append((node.lineno, node.name))
            elif node.ctx in ("store", "param"):
                stored.add(node.name)
        elif isinstance(node, nodes.For):
            if isinstance(node.iter, nodes.Name) and isinstance(node.target, nodes.Name):
                loops.append((node.target.name, node.iter.name))
        elif isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            attributes.append((node.lineno, node.node.name, node.attr))
        stack.extend(reversed(list(node.iter_child_nodes())))
    return References(file, tuple(loaded), frozenset(stored), tuple(loops), tuple(attributes))


class Compiled:
    """One template compiled in its locale's environments."""

    def __init__(self, source: TemplateSource, envs: dict[str, BudgetedSandbox]) -> None:
        self.source = source
        subject_line, subject = source.headers["subject"]
        pad = "\n" * (source.body_line - 1)  # so Jinja's line numbers are the file's
        self.html: Template | None = None
        # Each source is parsed once: the check reads its references off the same tree.
        try:
            tree = envs["plain"].parse("\n" * (subject_line - 1) + subject)
            subject_refs = references(str(source.path), tree)
            self.subject = envs["plain"].from_string(tree)
            tree = envs["markdown"].parse(pad + source.body)
            refs = [references(str(source.path), tree), subject_refs]
            self.body = envs["markdown"].from_string(tree)
        except TemplateSyntaxError as exc:
            raise TemplateError(str(source.path), exc.lineno or 1, exc.message or "syntax error"
                                ) from None
        if source.html_path is not None:
            try:
                tree = envs["html"].parse(source.html_path.read_text(encoding="utf-8"))
                refs.append(references(str(source.html_path), tree))
                self.html = envs["html"].from_string(tree)
            except TemplateSyntaxError as exc:
                raise TemplateError(str(source.html_path), exc.lineno or 1,
                                    exc.message or "syntax error") from None
        self.references = tuple(refs)  # body, subject, then the HTML part

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def locale(self) -> str:
        return self.source.locale


def normalise_locale(locale: str) -> str:
    """`fr_ca`, `FR-CA` -> `fr-CA`; `DE` -> `de`."""
    parts = locale.strip().replace("_", "-").split("-")
    if not parts or not parts[0]:
        return ""
    return "-".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p for p in parts[1:])])


class TemplateSet:
    """Every template in a folder, compiled once."""

    def __init__(self, folder: Path, default_locale: str = "en",
                 fallback: dict[str, str] | None = None, *, strict: bool = True) -> None:
        self.folder = folder
        self.default_locale = normalise_locale(default_locale)
        self.fallback = {normalise_locale(k): normalise_locale(v)
                         for k, v in (fallback or {}).items()}
        self.errors: list[TemplateError] = []
        self.templates: dict[tuple[str, str], Compiled] = {}
        self._envs: dict[str, dict[str, BudgetedSandbox]] = {}
        digest = hashlib.sha256()
        for path, name, locale in sorted(discover(folder, self.default_locale)):
            digest.update(f"{path.relative_to(folder)}\0".encode() + path.read_bytes() + b"\0")
            try:
                source = read_source(path, name, locale)
                if source.html_path is not None:
                    digest.update(source.html_path.read_bytes() + b"\0")
                self.templates[(name, locale)] = Compiled(source, self.envs(locale))
            except TemplateError as exc:
                self.errors.append(exc)
        self.layout_path = folder / LAYOUT
        layout_source = (self.layout_path.read_text(encoding="utf-8")
                         if self.layout_path.exists() else DEFAULT_LAYOUT)
        digest.update(layout_source.encode())
        self.layout: Layout | None = None
        try:
            html_env = self.envs(self.default_locale)["html"]
            self.layout = Layout(html_env.from_string(layout_source), layout_source, html_env,
                                 _INLINER)
        except TemplateSyntaxError as exc:
            self.errors.append(TemplateError(str(self.layout_path), exc.lineno or 1,
                                             exc.message or "syntax error"))
        self.hash = digest.hexdigest()[:16]
        if strict and self.errors:
            raise self.errors[0]

    @classmethod
    def from_settings(cls, settings: Settings, *, strict: bool = True) -> TemplateSet:
        return cls(settings.templates_path, settings.templates.default_locale,
                   settings.templates.fallback, strict=strict)

    def envs(self, locale: str) -> dict[str, BudgetedSandbox]:
        if locale not in self._envs:
            self._envs[locale] = {mode: environment(locale, mode=mode)
                                  for mode in ("plain", "markdown", "html")}
        return self._envs[locale]

    def names(self) -> set[str]:
        return {name for name, _ in self.templates}

    def locales(self) -> list[str]:
        others = sorted({loc for _, loc in self.templates} - {self.default_locale})
        return [self.default_locale, *others]

    def chain(self, locales: list[str]) -> list[str]:
        """The locales to try, in order: each requested one, its configured fallbacks,
        its base language, and finally the default locale."""
        out: list[str] = []
        for requested in locales:
            locale = normalise_locale(requested)
            seen = 0
            while locale and locale not in out and seen < 10:
                out.append(locale)
                seen += 1
                locale = self.fallback.get(locale) or (
                    locale.split("-")[0] if "-" in locale else "")
        if self.default_locale not in out:
            out.append(self.default_locale)
        return out

    def choose(self, name: str, locales: list[str]) -> Compiled:
        """The template for the first locale in the fallback chain that has it."""
        for locale in self.chain(locales):
            found = self.templates.get((name, locale))
            if found is not None:
                return found
        for error in self.errors:  # it exists, but did not compile
            if Path(error.file).stem == name:
                raise error
        raise TemplateError(str(self.folder / f"{name}.md"), 1,
                            f"no template named {name!r}")

    def render(self, name: str, context: TemplateContext, locales: list[str] | None = None,
               *, budget: float = RENDER_SECONDS) -> Rendered:
        return self.render_compiled(self.choose(name, locales or []), context, budget=budget)

    def render_compiled(self, compiled: Compiled, context: TemplateContext, *,
                        budget: float = RENDER_SECONDS) -> Rendered:
        src = compiled.source
        values = context.template_values()
        where = str(src.path)
        try:
            with Deadline(budget):
                where = str(src.path)
                subject = one_line(compiled.subject.render(values))
                markdown = compiled.body.render(values)
                if len(markdown) > MAX_OUTPUT:
                    raise TemplateError(where, src.body_line, "rendered body is too large")
                body, text = render(markdown.strip())
                if compiled.html is not None and src.html_path is not None:
                    where = str(src.html_path)
                    html = compiled.html.render(values)
                    if len(html) > MAX_OUTPUT * 4:
                        raise TemplateError(where, 1, "rendered HTML is too large")
                    html = _INLINER.inline(html)
                elif self.layout is not None:
                    where = str(self.layout_path)
                    try:
                        html = self.layout.html(body, subject, values["company"],
                                                MAX_OUTPUT * 4)
                    except TooLarge:
                        raise TemplateError(where, 1, "rendered HTML is too large") from None
                else:  # pragma: no cover - a set with a broken layout is never used
                    raise TemplateError(str(self.layout_path), 1, "layout did not compile")
        except TemplateError:
            raise
        except RenderTimeout as exc:
            raise TemplateError(where, _error_line(exc, src.body_line), f"render took longer "
                                f"than {budget:g}s (time budget)") from None
        except RecursionError as exc:
            raise TemplateError(where, _error_line(exc, src.body_line), "recursion too deep"
                                ) from None
        except (UndefinedError, SecurityError, TemplateRuntimeError, TypeError, ValueError,
                AttributeError, LookupError, ArithmeticError, MemoryError) as exc:
            raise TemplateError(where, _error_line(exc, src.body_line),
                                f"{type(exc).__name__}: {exc}") from None
        return Rendered(subject=subject, text=text, html=html, template=src.name,
                        locale=src.locale, set_hash=self.hash, path=str(src.path))


def one_line(value: str) -> str:
    """A header-safe single line: no control characters, bounded length."""
    cleaned = " ".join(_CONTROL.sub(" ", value).split())
    if len(cleaned) > MAX_SUBJECT:
        cleaned = cleaned[:MAX_SUBJECT - 1].rstrip() + "…"
    return cleaned


def _error_line(exc: BaseException, default: int = 1) -> int:
    """The template line an exception was raised on (Jinja2 maps it onto the
    template's own line numbers in the traceback it rewrites)."""
    tb = exc.__traceback__
    line = default
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def discover(folder: Path, default_locale: str) -> list[tuple[Path, str, str]]:
    """(path, name, locale) for `folder/<name>.md` and `folder/<locale>/<name>.md`."""
    found: list[tuple[Path, str, str]] = []
    if not folder.is_dir():
        return found
    for path in folder.glob("*.md"):
        if not path.name.startswith(("_", ".")):
            found.append((path, path.stem, default_locale))
    for sub in folder.iterdir():
        if sub.is_dir() and not sub.name.startswith((".", "_")):
            for path in sub.glob("*.md"):
                if not path.name.startswith(("_", ".")):
                    found.append((path, path.stem, normalise_locale(sub.name)))
    return found

