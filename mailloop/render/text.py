"""The text/plain part: parsed Markdown -> wrapped plain text, links as footnotes.

The HTML part and the text part come from the same token stream, so they
always say the same thing. Line breaks the author wrote (a sign-off, an
address) are kept; each line is wrapped at WIDTH columns without breaking words
or links. A link becomes `text [1]` with `[1] https://...` listed at the end.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from markdown_it.token import Token

WIDTH = 72


class _Writer:
    def __init__(self, width: int) -> None:
        self.width = width
        self.lines: list[str] = []
        self.notes: list[str] = []
        # (first-line prefix, continuation prefix, first line used?)
        self.stack: list[list[object]] = []
        self.ordered: list[int | None] = []

    def prefix(self) -> str:
        out = []
        for entry in self.stack:
            first, rest, used = entry
            out.append(str(rest if used else first))
            entry[2] = True
        return "".join(out)

    def quote_prefix(self) -> str:
        return "".join(str(e[1]) for e in self.stack if e[1] == "> ")

    def gap(self) -> None:
        if self.lines and self.lines[-1].strip() not in ("", ">"):
            self.lines.append(self.quote_prefix().rstrip())

    def block(self, text: str, *, wrap: bool = True) -> None:
        for raw in text.split("\n"):
            prefix = self.prefix()
            room = max(20, self.width - len(prefix))
            pieces = (textwrap.wrap(raw, room, break_long_words=False, break_on_hyphens=False)
                      if wrap and raw.strip() else [raw])
            for i, piece in enumerate(pieces or [""]):
                self.lines.append(((prefix if i == 0 else self.prefix()) + piece).rstrip())

    def inline(self, children: Sequence[Token]) -> str:
        out: list[str] = []
        href_stack: list[tuple[str, int]] = []
        for tok in children:
            if tok.type == "text" or tok.type == "code_inline":
                out.append(tok.content)
            elif tok.type in ("softbreak", "hardbreak"):
                out.append("\n")
            elif tok.type == "link_open":
                href_stack.append((str(tok.attrs.get("href", "")), len(out)))
            elif tok.type == "link_close" and href_stack:
                href, start = href_stack.pop()
                label = "".join(out[start:])
                if href and href not in (label, f"mailto:{label}"):
                    self.notes.append(href)
                    out.append(f" [{len(self.notes)}]")
            elif tok.type == "image":
                out.append(tok.content or "")
        return "".join(out)

    def text(self) -> str:
        lines = list(self.lines)
        while lines and not lines[-1].strip():
            lines.pop()
        if self.notes:
            lines.append("")
            lines.extend(f"[{i}] {href}" for i, href in enumerate(self.notes, 1))
        return "\n".join(lines).strip("\n") + "\n"


def markdown_to_text(tokens: Sequence[Token], width: int = WIDTH) -> str:
    w = _Writer(width)
    for tok in tokens:
        kind = tok.type
        if (kind == "paragraph_open" and not tok.hidden) or kind == "heading_open":
            w.gap()
        elif kind == "inline":
            w.block(w.inline(tok.children or []))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if not w.stack or w.stack[-1][1] == "> ":
                w.gap()
            start = int(tok.attrs.get("start", 1) or 1) if kind == "ordered_list_open" else None
            w.ordered.append(start)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            w.ordered.pop()
        elif kind == "list_item_open":
            number = w.ordered[-1] if w.ordered else None
            if number is None:
                marker = "- "
            else:
                marker = f"{number}. "
                w.ordered[-1] = number + 1
            w.stack.append([marker, " " * len(marker), False])
        elif kind == "blockquote_open":
            w.gap()
            w.stack.append(["> ", "> ", False])
        elif kind in ("list_item_close", "blockquote_close"):
            w.stack.pop()
        elif kind in ("fence", "code_block"):
            w.gap()
            w.block(tok.content.rstrip("\n"), wrap=False)
        elif kind == "hr":
            w.gap()
            w.block("-" * 20, wrap=False)
    return w.text()
