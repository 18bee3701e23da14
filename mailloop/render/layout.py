"""The frame of the generated HTML part: `templates/_layout.html` with its CSS inlined.

Inlining the whole document for every reply (css-inline parses it, matches the
CSS and writes it out again) cost as much as the rest of the HTML part, though
only the body and the subject change from one reply to the next. So the layout
is inlined once, with markers where the body and the subject go; a reply then
inlines only its body, with the layout's CSS, and is put together from the
pieces. That gives the very bytes of inlining the whole document when:

- the layout only inserts `{{ body }}` and `{{ subject }}` (no filter, test or
  loop on them), so rendering it with markers and putting the values in their
  place is what Jinja would have done;
- its CSS has only simple selectors (`p`, `.note`, `#footer`, `h1, h2`): no
  combinator or pseudo-class, whose match could depend on elements around the
  body, and no `@import` or linked stylesheet;
- sample replies rendered both ways come out the same (the body in a place
  where the HTML parser reads it as it reads a fragment, the subject in text).

Otherwise, and for a layout that fails to render with the markers, every
reply inlines the whole document as before. The layout is rendered with the
company values too, so a frame is made for each set of them (the settings' one,
in practice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import css_inline
import jinja2.nodes
from jinja2 import Template
from markupsafe import Markup, escape

from mailloop.render.markdown import render
from mailloop.render.sandbox import BudgetedSandbox, RenderTimeout

_BODY = "mailloop0body0marker"
_SUBJECT = "mailloop0subject0marker"
_MARKERS = re.compile(f"({_BODY}|{_SUBJECT})")
_STYLE = re.compile(r"<style[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_SIMPLE_SELECTOR = re.compile(r"[A-Za-z0-9_.#*-]+")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_FRAMES = 8  # company values the frames are kept for (one, unless a test or check varies it)
_PROBES = [  # every element the Markdown renderer writes, and characters that get escaped
    ("# One\n\nA *b* **c** `d` [e](https://example.com/?a=1&b=2 \"t\") ![f](x.png) "
     "&amp; &lt; > \" ' \xa0 é ☺\nline\n\n> quote\n> > deeper\n\n- one\n- two\n\n"
     "3. three\n\n   four\n\n```py\ncode <x> &\n```\n\n    indented\n\n---\n\n"
     "## Two\n### Three\n#### Four\n##### Five\n###### Six", 'Re: A & B <c> "d" \'e\' \xa0 é'),
    ("Hello", ""),
    ("", "Hi"),
]


class TooLarge(Exception):
    """The rendered layout is over the size budget."""


class Layout:
    """Renders the layout around a body and CSS-inlines the result."""

    def __init__(self, template: Template, source: str, env: BudgetedSandbox,
                 inliner: css_inline.CSSInliner) -> None:
        self.template = template
        self.inliner = inliner
        self.plain = _inserts_plainly(env, source)
        self._frames: dict[tuple[tuple[str, Any], ...], _Frame | None] = {}

    def html(self, body: str, subject: str, company: dict[str, Any], limit: int) -> str:
        """The HTML part around `body` (the HTML of a Markdown body); TooLarge when
        the rendered layout is longer than `limit`, before it is inlined."""
        frame = self.frame(company)
        if frame is None or not _encodable(subject):
            html = self.template.render(body=Markup(body), subject=subject, company=company)
            if len(html) > limit:
                raise TooLarge
            return self.inliner.inline(html)
        if frame.size + len(body) + frame.subjects * len(escape(subject)) > limit:
            raise TooLarge
        return frame.fill(body, subject)

    def frame(self, company: dict[str, Any]) -> _Frame | None:
        """The frame for these company values (the same for every reply in practice:
        they are the settings'), or None where the layout is inlined whole."""
        key = tuple(company.items())
        try:
            if key in self._frames:
                return self._frames[key]
        except TypeError:  # a value that cannot be a key
            return None
        frame = self._make(company) if self.plain else None
        if len(self._frames) >= _FRAMES:
            self._frames.clear()
        self._frames[key] = frame
        return frame

    def _make(self, company: dict[str, Any]) -> _Frame | None:
        try:
            html = self.template.render(body=Markup(_BODY), subject=_SUBJECT, company=company)
            css = "\n".join(_STYLE.findall(html))
            if "<link" in html.lower() or not _simple_css(css):
                return None
            pieces = _MARKERS.split(self.inliner.inline(html))
            bodies, subjects = html.count(_BODY), html.count(_SUBJECT)
            if bodies != 1 or pieces[1::2].count(_BODY) != 1:
                return None
            frame = _Frame(pieces[0::2], pieces[1::2], css,
                           len(html) - len(_BODY) - subjects * len(_SUBJECT), subjects)
            for markdown, subject in _PROBES:
                body = render(markdown)[0]
                whole = self.inliner.inline(self.template.render(
                    body=Markup(body), subject=subject, company=company))
                if frame.fill(body, subject) != whole:
                    return None
            return frame
        except RenderTimeout:
            raise
        except Exception:  # the layout renders only with real values: inline it whole
            return None


@dataclass(frozen=True, slots=True)
class _Frame:
    texts: list[str]  # the inlined layout around the markers
    markers: list[str]  # what goes between texts[i] and texts[i + 1]
    css: str
    size: int  # the rendered layout's length without the markers
    subjects: int  # how often the subject is in it

    def fill(self, body: str, subject: str) -> str:
        # at-rules stay in the layout's <style>, which the frame has kept
        inlined = css_inline.inline_fragment(body, self.css, load_remote_stylesheets=False)
        title = _text(subject)
        out = [self.texts[0]]
        for marker, text in zip(self.markers, self.texts[1:], strict=True):
            out.append(inlined if marker == _BODY else title)
            out.append(text)
        return "".join(out)


def _text(value: str) -> str:
    """`value` as the HTML serializer writes a text node."""
    return (value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _encodable(value: str) -> bool:
    """Whether css-inline can take the string (no lone surrogates): it raises otherwise,
    and so should the render."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _inserts_plainly(env: BudgetedSandbox, source: str) -> bool:
    """Whether the layout uses `body` and `subject` only as `{{ body }}`, `{{ subject }}`."""
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return False
    names = [n for n in tree.find_all(jinja2.nodes.Name) if n.name in ("body", "subject")]
    plain = [n for output in tree.find_all(jinja2.nodes.Output) for n in output.nodes
             if isinstance(n, jinja2.nodes.Name) and n.name in ("body", "subject")]
    assigned = any(isinstance(n, jinja2.nodes.Name) and n.ctx != "load" for n in names)
    return not assigned and len(names) == len(plain)


def _simple_css(css: str) -> bool:
    """Only rules with simple selectors at the top level (at-rules are not inlined)."""
    css = _COMMENT.sub("", css)
    if "@import" in css.lower():
        return False
    depth, start = 0, 0
    for i, ch in enumerate(css):
        if ch == "{":
            prelude = css[start:i].strip()
            if depth == 0 and not prelude.startswith("@") and not all(
                    _SIMPLE_SELECTOR.fullmatch(s.strip()) for s in prelude.split(",")):
                return False
            depth += 1
            start = i + 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
            start = i + 1
        elif ch == ";":
            start = i + 1
    return depth == 0
