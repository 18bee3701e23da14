"""render: a reply template and a context -> subject, text and HTML.

A template reads like the email it makes: header lines (`Subject:` at least), a
blank line, then a Markdown body with Jinja2 expressions. Both parts come from
that one source:

- the text part is the body rendered with every value inserted literally;
- the HTML part is the body rendered with every value escaped for Markdown,
  turned into HTML by markdown-it (raw HTML disabled, so nothing a customer
  writes can become markup) and wrapped in `templates/_layout.html`.

Templates run in Jinja2's immutable sandbox with StrictUndefined: a template
cannot call unsafe methods, change its context, or print an unknown name as an
empty string; operations that would build huge strings are refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup

from mailloop.context import TemplateContext

MAX_SUBJECT = 200
MAX_OUTPUT = 200_000  # characters a single render may produce
LAYOUT = "_layout.html"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~&])")
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]?(.*)$")


def _require_safe_jinja() -> None:
    major, minor, patch = (int(p) for p in re.findall(r"\d+", jinja2.__version__)[:3])
    if (major, minor, patch) < (3, 1, 6):
        raise RuntimeError(f"Jinja2 {jinja2.__version__} has known sandbox escapes: "
                           "mailloop needs 3.1.6 or newer")


_require_safe_jinja()


class TemplateError(Exception):
    """A template that cannot be used, located as FILE:LINE."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


class _BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus a size budget on `*` and `**`."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("exponent too large for a template")
            return left**right
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and (
                    len(seq) * count > MAX_OUTPUT):
                raise SecurityError("repetition too large for a template")
        return left * right


def markdown_escape(value: Any) -> Any:
    """Escape a value for the Markdown source, so it renders as the literal text."""
    if value is None or isinstance(value, Markup):
        return value
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def _environment(*, for_html: bool) -> ImmutableSandboxedEnvironment:
    env = _BudgetedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=markdown_escape if for_html else None,
    )
    return env


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


@dataclass(frozen=True, slots=True)
class TemplateSource:
    name: str
    locale: str
    path: Path
    headers: dict[str, tuple[int, str]]  # name -> (line, value)
    body: str
    body_line: int  # the file line the body starts on


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    template: str
    locale: str
    set_hash: str


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
    return TemplateSource(name, locale, path, headers, body, index + 2)


class _Compiled:
    def __init__(self, source: TemplateSource, text_env: ImmutableSandboxedEnvironment,
                 html_env: ImmutableSandboxedEnvironment) -> None:
        self.source = source
        subject_line, subject = source.headers["subject"]
        pad = "\n" * (source.body_line - 1)  # so Jinja's line numbers are the file's
        try:
            self.subject = text_env.from_string("\n" * (subject_line - 1) + subject)
            self.text = text_env.from_string(pad + source.body)
            self.html = html_env.from_string(pad + source.body)
        except TemplateSyntaxError as exc:
            raise TemplateError(str(source.path), exc.lineno or 1, exc.message or "syntax error"
                                ) from None


class TemplateSet:
    """Every template in a folder, compiled once; what the daemon renders with."""

    def __init__(self, folder: Path, default_locale: str = "en") -> None:
        self.folder = folder
        self.default_locale = default_locale
        self._text_env = _environment(for_html=False)
        self._html_env = _environment(for_html=True)
        self._layout_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined,
                                                         autoescape=True)
        self.templates: dict[tuple[str, str], _Compiled] = {}
        digest = hashlib.sha256()
        for path, name, locale in sorted(discover(folder, default_locale)):
            self.templates[(name, locale)] = _Compiled(read_source(path, name, locale),
                                                       self._text_env, self._html_env)
            digest.update(f"{path.relative_to(folder)}\0".encode() + path.read_bytes())
        layout_path = folder / LAYOUT
        layout_source = (layout_path.read_text(encoding="utf-8") if layout_path.exists()
                         else "<!doctype html><html><body>{{ body }}</body></html>")
        if layout_path.exists():
            digest.update(layout_source.encode())
        try:
            self.layout = self._layout_env.from_string(layout_source)
        except TemplateSyntaxError as exc:
            raise TemplateError(str(layout_path), exc.lineno or 1, exc.message or "syntax error"
                                ) from None
        self.hash = digest.hexdigest()[:16]

    def names(self) -> set[str]:
        return {name for name, _ in self.templates}

    def choose(self, name: str, locales: list[str]) -> _Compiled:
        """The template for the first locale in `locales` that has it, else the default."""
        for locale in [*locales, self.default_locale]:
            found = self.templates.get((name, locale))
            if found is not None:
                return found
        raise TemplateError(str(self.folder / f"{name}.md"), 1,
                            f"no template named {name!r}")

    def render(self, name: str, context: TemplateContext, locales: list[str] | None = None
               ) -> Rendered:
        compiled = self.choose(name, locales or [])
        src = compiled.source
        values = context.model_dump()
        try:
            subject = compiled.subject.render(values)
            text = compiled.text.render(values)
            markdown = compiled.html.render(values)
        except TemplateError:
            raise
        except (UndefinedError, SecurityError, TypeError, ValueError, AttributeError) as exc:
            raise TemplateError(str(src.path), _error_line(exc, src), str(exc)) from None
        if len(text) > MAX_OUTPUT or len(markdown) > MAX_OUTPUT:
            raise TemplateError(str(src.path), src.body_line, "rendered body is too large")
        html_body = _MARKDOWN.render(markdown.strip())
        html = self.layout.render(body=Markup(html_body), subject=one_line(subject),
                                  company=values["company"])
        return Rendered(subject=one_line(subject), text=text.strip() + "\n", html=html,
                        template=name, locale=src.locale, set_hash=self.hash)


def one_line(value: str) -> str:
    """A header-safe single line: no control characters, bounded length."""
    cleaned = "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in value)
    cleaned = " ".join(cleaned.split())
    return cleaned[:MAX_SUBJECT].rstrip()


def _error_line(exc: BaseException, src: TemplateSource) -> int:
    tb = exc.__traceback__
    line = src.body_line
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
        if not path.name.startswith("_"):
            found.append((path, path.stem, default_locale))
    for sub in folder.iterdir():
        if sub.is_dir() and not sub.name.startswith((".", "_")):
            for path in sub.glob("*.md"):
                found.append((path, path.stem, sub.name))
    return found
