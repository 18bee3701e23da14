"""Markdown -> the HTML part and the text part, in one walk over one syntax tree.

The parser is markdown-it-pyrs (markdown-it.rs, in Rust): CommonMark with every
rule except raw HTML, so `<b>` in a template or a value is text, never markup.
It parses about ten times faster than markdown-it-py, whose HTML the walk here
writes byte for byte (XHTML-style `<br />`, every line break kept as a `<br />`,
tight list items without `<p>`): markdown-it.rs has no option for line breaks,
so its own HTML renderer cannot be used. tests/test_render_markdown.py holds
the two to each other.

The same walk writes the text part (render/text.py lays it out), so the two
parts always say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.entities import html5
from urllib.parse import quote

from markdown_it_pyrs import MarkdownIt, Node

from mailloop.render.text import WIDTH, TextWriter

# CommonMark as markdown-it.rs has it, without `html_block` and `html_inline`.
RULES = ["blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph",
         "reference", "autolink", "backticks", "emphasis", "entity", "escape", "image", "link",
         "newline"]
_PARSER = MarkdownIt("zero").enable_many(RULES)  # type: ignore[arg-type]

_INLINE = frozenset({"text", "text_special", "softbreak", "hardbreak", "em", "strong",
                     "code_inline", "link", "autolink", "image"})
_PLAIN = frozenset({"text", "text_special"})
_BREAK = frozenset({"softbreak", "hardbreak"})
_EMPHASIS = {"em": ("<em>", "</em>"), "strong": ("<strong>", "</strong>")}
# markdown-it-py trims a paragraph's source of these (CommonMark's white space and
# JavaScript's trim), markdown-it.rs of spaces and tabs only.
_MD_SPACE = ("\t\n\x0b\x0c\r \xa0\u1680\u202f\u205f\u3000"
             + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029"
             + "\U000F2028\U000F2029")  # the stand-ins of the last two, below


# markdown-it.rs counts U+0085, U+2028 and U+2029 as white space (Rust's definition),
# CommonMark and markdown-it-py do not, so `*{{ value }}*` is not emphasis when the
# value ends in one. They are parsed as private-use characters, then put back.
_SEPARATORS = re.compile("[\x85\u2028\u2029]")
_STAND_INS = {"\x85": "\U000F0085", "\u2028": "\U000F2028", "\u2029": "\U000F2029"}
_TO_STAND_INS = str.maketrans(_STAND_INS)
_FROM_STAND_INS = str.maketrans({v: k for k, v in _STAND_INS.items()})
_ENCODED_STAND_INS = {quote(v): quote(k) for k, v in _STAND_INS.items()}  # in a link


def render(markdown: str, width: int = WIDTH) -> tuple[str, str]:
    """(HTML, text) of a Markdown body."""
    stand_ins = bool(_SEPARATORS.search(markdown)) and not any(
        v in markdown for v in _STAND_INS.values())
    if stand_ins:
        markdown = markdown.translate(_TO_STAND_INS)
    walk = _Walk(width)
    walk.blocks(_PARSER.tree(markdown).children)
    html, text = "".join(walk.html), walk.text.text()
    if stand_ins:
        html, text = _put_back(html), _put_back(text)
    return html, text


def _put_back(out: str) -> str:
    for encoded, original in _ENCODED_STAND_INS.items():
        out = out.replace(encoded, original)
    return out.translate(_FROM_STAND_INS)


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` and `"` (not `'`), as markdown-it does."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text


class _Walk:
    def __init__(self, width: int) -> None:
        self.html: list[str] = []
        self.text = TextWriter(width)

    def blocks(self, nodes: Sequence[Node]) -> None:
        html, text = self.html, self.text
        run: list[Node] = []  # a tight list item's text: a paragraph without <p>
        after_run = False
        for node in nodes:
            name = node.name
            if name in _INLINE:
                run.append(node)
                continue
            if run:
                self.paragraph(run, "")
                run = []
                after_run = True
            if name == "paragraph":
                text.gap()
                self.paragraph(node.children, "p")
            elif name == "fence" or name == "code_block":
                meta = node.meta
                content = str(meta["content"])
                lang = _language(str(meta.get("info", ""))) if name == "fence" else ""
                html.append(f'<pre><code class="language-{escape(lang)}">' if lang
                            else "<pre><code>")
                html.append(escape(content))
                html.append("</code></pre>\n")
                text.gap()
                text.block(content.rstrip("\n"), wrap=False)
            elif name != "definition":  # a link reference definition writes nothing
                if after_run:  # markdown-it's line break after a tight item's text
                    html.append("\n")
                self.block(node, name)
            after_run = False
        if run:
            self.paragraph(run, "")

    def block(self, node: Node, name: str) -> None:
        html, text = self.html, self.text
        if name == "heading" or name == "lheading":
            text.gap()
            self.paragraph(node.children, f"h{node.meta['level']}")
        elif name == "hr":
            html.append("<hr />\n")
            text.gap()
            text.block("-" * 20, wrap=False)
        elif name == "blockquote":
            children = _content(node)
            html.append("<blockquote>\n" if children else "<blockquote>")
            text.gap()
            text.stack.append(["> ", "> ", False])
            self.blocks(children)
            text.stack.pop()
            html.append("</blockquote>\n")
        elif name == "bullet_list" or name == "ordered_list":
            number: int | None = None
            if name == "ordered_list":
                number = int(node.meta.get("start", 1))
                html.append("<ol>\n" if number == 1 else f'<ol start="{number}">\n')
            else:
                html.append("<ul>\n")
            if not text.stack or text.stack[-1][1] == "> ":
                text.gap()
            for item in node.children:
                children = _content(item)
                # no line break before a tight item's text, nor in an empty item
                html.append("<li>\n" if children and children[0].name not in _INLINE
                            else "<li>")
                marker = "- " if number is None else f"{number}. "
                if number is not None:
                    number += 1
                text.stack.append([marker, " " * len(marker), False])
                self.blocks(children)
                text.stack.pop()
                html.append("</li>\n")
            html.append("</ol>\n" if name == "ordered_list" else "</ul>\n")
        else:  # pragma: no cover - every enabled rule is handled
            raise ValueError(f"unexpected Markdown block {name!r}")

    def paragraph(self, nodes: Sequence[Node], tag: str) -> None:
        """A paragraph, a heading or a tight item's text: one block of the text part."""
        words: list[str] = []
        if tag:
            self.html.append(f"<{tag}>")
        start, notes = len(self.html), len(self.text.notes)
        self.inline(nodes, words)
        first, last = (words[0], words[-1]) if words else ("", "")
        if ((first and first[0] in _MD_SPACE and nodes[0].name == "text")
                or (last and last[-1] in _MD_SPACE and nodes[-1].name == "text")):
            # text at an end starts or ends with white space markdown-it.rs left: again,
            # trimmed (rarely: reading each end's text first would cost every paragraph)
            del self.html[start:], self.text.notes[notes:]
            words = []
            self.inline(_trimmed(nodes), words)
        if tag:
            self.html.append(f"</{tag}>\n")
        self.text.block("".join(words))

    def inline(self, nodes: Sequence[Node | str], words: list[str]) -> None:
        html = self.html
        for node in nodes:
            if isinstance(node, str):
                html.append(escape(node))
                words.append(node)
                continue
            name = node.name
            if name in _PLAIN:
                content = str(node.meta["content"])
                html.append(escape(content))
                words.append(content)
            elif name in _BREAK:
                html.append("<br />\n")
                words.append("\n")
            elif name in _EMPHASIS:
                opening, closing = _EMPHASIS[name]
                html.append(opening)
                self.inline(node.children, words)
                html.append(closing)
            elif name == "code_inline":
                code = _plain_text(node.children)
                html.append(f"<code>{escape(code)}</code>")
                words.append(code)
            elif name == "link" or name == "autolink":
                meta = node.meta
                href, title = str(meta["url"]), meta.get("title")
                html.append(f'<a href="{escape(href)}" title="{escape(title)}">' if title
                            else f'<a href="{escape(href)}">')
                start = len(words)
                self.inline(node.children, words)
                html.append("</a>")
                note = self.text.link(href, "".join(words[start:]))
                if note:
                    words.append(note)
            elif name == "image":
                meta = node.meta
                alt, title = _plain_text(node.children), meta.get("title")
                html.append(f'<img src="{escape(str(meta["url"]))}" alt="{escape(alt)}"'
                            + (f' title="{escape(title)}" />' if title else " />"))
                words.append(alt)
            else:  # pragma: no cover - every enabled rule is handled
                raise ValueError(f"unexpected Markdown inline {name!r}")


def _content(node: Node) -> list[Node]:
    return [child for child in node.children if child.name != "definition"]


def _plain_text(nodes: Sequence[Node]) -> str:
    """Inline nodes' text without their markup: an image's `alt`, inline code."""
    out: list[str] = []
    for node in nodes:
        name = node.name
        if name in _PLAIN:
            out.append(str(node.meta["content"]))
        elif name in _BREAK:
            out.append("\n")
        else:
            out.append(_plain_text(node.children))
    return "".join(out)


def _trimmed(nodes: Sequence[Node]) -> list[Node | str]:
    """A paragraph's inline nodes, trimmed as markdown-it-py trims its source (a
    no-break space a customer typed at the end of a line goes); a `str` is text."""
    items: list[Node | str] = list(nodes)
    for step in (0, -1):
        emptied = False  # a line of spaces went, and so does the line break after it
        while items:
            item = items[step]
            if isinstance(item, str) or item.name == "text":
                text = item if isinstance(item, str) else str(item.meta["content"])
                text = text.lstrip(_MD_SPACE) if step == 0 else text.rstrip(_MD_SPACE)
                if text:
                    items[step] = text
                    break
            elif not (emptied and item.name in _BREAK):
                break
            items.pop(step)
            emptied = True
    return items


# A fence's language is the first word of its info string, with backslash escapes
# and entities resolved, as markdown-it-py does it.
_ESCAPE_OR_ENTITY = re.compile(
    r'\\([!"#$%&\'()*+,\-./:;<=>?@[\\\]^_`{|}~])|&([a-z#][a-z0-9]{1,31});', re.IGNORECASE)
_NUMERIC = re.compile(r"#(?:([0-9]{1,8})|[xX]([0-9a-fA-F]{1,8}))")
_MD_SPACES = re.compile(f"[{re.escape(_MD_SPACE)}]+")


def _unescape(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1)
    name = match.group(2)
    if name + ";" in html5:
        return html5[name + ";"]
    numeric = _NUMERIC.fullmatch(name)
    if numeric:
        code = int(numeric.group(1), 10) if numeric.group(1) else int(numeric.group(2), 16)
        if _valid_code(code):
            return chr(code)
    return match.group()


def _valid_code(c: int) -> bool:
    return not (0xD800 <= c <= 0xDFFF or 0xFDD0 <= c <= 0xFDEF or (c & 0xFFFF) >= 0xFFFE
                or c <= 0x08 or c == 0x0B or 0x0E <= c <= 0x1F or 0x7F <= c <= 0x9F
                or c > 0x10FFFF)


def _language(info: str) -> str:
    if "\\" in info or "&" in info:
        info = _ESCAPE_OR_ENTITY.sub(_unescape, info)
    return _MD_SPACES.split(info.strip(_MD_SPACE), maxsplit=1)[0]
