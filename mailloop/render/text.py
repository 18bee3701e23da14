"""The text/plain part: wrapped plain text, links as footnotes.

render/markdown.py walks the Markdown tree once and writes both parts; this lays
out the text. Line breaks the author wrote (a sign-off, an address) are kept;
each line is wrapped at WIDTH columns without breaking words or links. A link
becomes `text [1]` with `[1] https://...` listed at the end.
"""

from __future__ import annotations

import re

WIDTH = 72
_ASCII_SPACES = str.maketrans("\t\n\x0b\x0c\r", "     ")
_TAB_OR_CONTROL = re.compile(r"[\t\n\x0b\x0c\r]")
_SPACE_RUNS = re.compile(r"( +)")
_OTHER_SPACE = re.compile(r"[^\S ]")


def wrap_line(line: str, width: int) -> list[str]:
    """`textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)`
    for a line that is not blank, up to spaces at the ends of lines (the caller
    strips them): greedy breaks at spaces, found with `rfind` rather than by
    textwrap's walk over every word and space, which cost a third of a render."""
    if _TAB_OR_CONTROL.search(line):  # str.translate costs more than all the rest
        line = line.expandtabs().translate(_ASCII_SPACES)
    if len(line) <= width:
        return [line]
    if _OTHER_SPACE.search(line):
        return _wrap_chunks(line, width)
    lines: list[str] = []
    while len(line) > width:
        if line[width] == " ":  # the line can end at `width`
            end = rest = width
        else:
            rest = line.rfind(" ", 0, width)
            if rest < 0:  # a word longer than a line has a line of its own
                rest = line.find(" ", width)
                if rest < 0:
                    break
            end = rest
        end = len(line[:end].rstrip(" "))
        if end:  # else only the first line's leading spaces fitted
            lines.append(line[:end])
        line = line[rest:].lstrip(" ")
    if line:
        lines.append(line)
    return lines


def _wrap_chunks(line: str, width: int) -> list[str]:
    """textwrap's own algorithm, for lines with other white space than spaces (a
    no-break space), which it treats as words except at the ends of lines."""
    chunks = [c for c in _SPACE_RUNS.split(line) if c]  # words and runs of spaces
    chunks.reverse()
    lines: list[str] = []
    while chunks:
        if lines and not chunks[-1].strip():
            chunks.pop()
        current: list[str] = []
        length = 0
        while chunks and length + len(chunks[-1]) <= width:
            length += len(chunks[-1])
            current.append(chunks.pop())
        if chunks and not current and len(chunks[-1]) > width:
            current.append(chunks.pop())
        if current and not current[-1].strip():
            current.pop()
        if current:
            lines.append("".join(current))
    return lines


class TextWriter:
    """Lays out the text part as the Markdown walk (render/markdown.py) goes."""

    def __init__(self, width: int = WIDTH) -> None:
        self.width = width
        self.lines: list[str] = []
        self.notes: list[str] = []
        # (first-line prefix, continuation prefix, first line used?) of each open list
        # item and quote
        self.stack: list[list[object]] = []

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
        """A blank line (inside the open quotes) before the next block, unless there is one."""
        if self.lines and self.lines[-1].strip() not in ("", ">"):
            self.lines.append(self.quote_prefix().rstrip())

    def block(self, text: str, *, wrap: bool = True) -> None:
        for raw in text.split("\n"):
            prefix = self.prefix()
            room = max(20, self.width - len(prefix))
            pieces = wrap_line(raw, room) if wrap and raw.strip() else [raw]
            for i, piece in enumerate(pieces or [""]):
                self.lines.append(((prefix if i == 0 else self.prefix()) + piece).rstrip())

    def link(self, href: str, label: str) -> str:
        """What follows a link's text: ` [n]`, or nothing when the text is the address."""
        if not href or href in (label, f"mailto:{label}"):
            return ""
        self.notes.append(href)
        return f" [{len(self.notes)}]"

    def text(self) -> str:
        lines = list(self.lines)
        while lines and not lines[-1].strip():
            lines.pop()
        if self.notes:
            lines.append("")
            lines.extend(f"[{i}] {href}" for i, href in enumerate(self.notes, 1))
        return "\n".join(lines).strip("\n") + "\n"
