"""Splitting a message into sentences and clauses.

Feedback mixes verdicts inside one message ("Sofia was lovely, but you charged me
twice"), so the classifier judges clauses, not whole messages: a sentence is cut
before each contrast marker, and the marker stays with the clause it introduces.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Typographic quotes and dashes as people's mail clients write them.
_TRANSLATE = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": " - "}
)

# A sentence ends at . ! ? (possibly repeated) before a space, or at a line break.
# Abbreviated titles ("Mr.", "Ms.") are protected so "Ms. Natarajan" stays whole.
_TITLE_DOT = re.compile(r"\b(Mr|Mrs|Ms|Mx|Dr|Miss|St|No|Ref|approx|e\.g|i\.e)\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*|(?<=[!?])(?=[A-Za-z])")

# Contrast markers: a new clause starts here. "still," and "sadly," only with the
# comma that makes them sentence adverbs ("still hasn't arrived" is not a contrast),
# "yet" only after a comma or "and" ("I have yet to receive" is not one).
_CONTRAST = re.compile(
    r"(?:,|;|:|\s)\s*(?=(?:but|however|although|though|whereas|except that|"
    r"on the other hand|that said|having said that|still,|sadly,|shame|"
    r"unfortunately|apart from that|other than that)\b)|(?:,\s*|\s+and\s+)(?=yet\b)",
    re.IGNORECASE,
)

_WS = re.compile(r"[ \t\r\f\v]+")


def normalise(text: str) -> str:
    """Unify quotes, dashes and spacing (keeps line breaks: they separate sentences)."""
    text = unicodedata.normalize("NFC", text).translate(_TRANSLATE)
    return _WS.sub(" ", text).strip()


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True, slots=True)
class Clause:
    text: str
    sentence: int  # index of the sentence it belongs to
    starts_sentence: bool
    question: bool  # the sentence it belongs to is a question


def sentences(text: str) -> list[str]:
    protected = _TITLE_DOT.sub(lambda m: m.group(0)[:-1] + "\x00", text)
    parts = (p.replace("\x00", ".").strip() for p in _SENTENCE_END.split(protected))
    return [p for p in parts if p and any(ch.isalnum() or ord(ch) > 0x2000 for ch in p)]


def clauses(text: str) -> list[Clause]:
    out: list[Clause] = []
    for i, sent in enumerate(sentences(text)):
        question = sent.rstrip().endswith("?")
        pieces = [p.strip(" ,;:") for p in _CONTRAST.split(sent)]
        first = True
        for piece in pieces:
            if piece:
                out.append(Clause(piece, i, first, question))
                first = False
    return out
