"""Customers' words, made fit to publish: short excerpts, no addresses, no phone
numbers, the customer shown as first name and initial."""

from __future__ import annotations

import re
from collections.abc import Iterable

_EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_URL_RE = re.compile(r"\bhttps?://\S+", re.IGNORECASE)
# Seven or more digits, possibly split by spaces, dots, dashes, slashes or brackets.
_PHONE_RE = re.compile(r"(?<![\w])\+?\(?\d(?:[\s().\-/]{0,2}\d){6,}(?![\w])")
_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n\s*\n")
_SPACE_RE = re.compile(r"\s+")

MAX_EXCERPT = 160


def redact(text: str) -> str:
    """`text` with email addresses, web addresses and phone-like numbers replaced."""
    text = _URL_RE.sub("[link]", text)
    text = _EMAIL_RE.sub("[email]", text)
    return _PHONE_RE.sub("[phone]", text)


def sentences(text: str) -> list[str]:
    parts = (_SPACE_RE.sub(" ", p).strip() for p in _SENTENCE_RE.split(text or ""))
    return [p for p in parts if p]


def shorten(text: str, limit: int = MAX_EXCERPT) -> str:
    """At most `limit` characters, cut at a word boundary, marked with an ellipsis."""
    text = _SPACE_RE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-")
    return cut + "…"


def excerpt(text: str, cues: Iterable[str] = ()) -> str:
    """A short, redacted excerpt of `text`: the first sentence containing one of
    `cues` (case-insensitive), else the first sentence, extended with the next one
    while it stays short."""
    parts = sentences(text)
    if not parts:
        return ""
    folded_cues = [c.casefold() for c in cues if c and c.strip()]
    start = 0
    for index, part in enumerate(parts):
        folded = part.casefold()
        if any(cue in folded for cue in folded_cues):
            start = index
            break
    chosen = parts[start]
    for nxt in parts[start + 1:]:
        if len(chosen) + 1 + len(nxt) > MAX_EXCERPT or len(chosen) >= 60:
            break
        chosen = f"{chosen} {nxt}"
    return shorten(redact(chosen))


def has_cue(text: str, cues: Iterable[str]) -> bool:
    folded = text.casefold()
    return any(c.casefold() in folded for c in cues if c and c.strip())


def display_name(name: str) -> str:
    """"Maria García" -> "Maria G."; an address or nothing -> "a customer"."""
    cleaned = redact(name or "").replace("[email]", "").strip(" \"'<>,")
    words = [w for w in cleaned.split() if w[:1].isalpha()]
    if not words:
        return "a customer"
    if "," in cleaned and len(words) >= 2:  # "García, Maria"
        words = [*words[1:], words[0]]
    first = words[0].strip(",")
    if len(words) == 1:
        return first
    last = words[-1].strip(",.")
    return f"{first} {last[0].upper()}."


def attributed(words: str, name: str) -> str:
    """A quote as the reports show it: “words” — Maria G."""
    return f"“{words}” — {display_name(name)}"


def without_names(text: str, names: Iterable[str]) -> str:
    """`text` with each of `names` (whole words, case-insensitive) replaced, for
    publications that name no rep."""
    words = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not words:
        return text
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)",
                         re.IGNORECASE)
    return pattern.sub("[our colleague]", text)
