"""Which language a customer wrote in: their Content-Language, else detection.

Detection is Compact Language Detector 2 through pycld2 (Apache-2.0; its tables are
compiled into the extension, nothing is downloaded, and they cost about 6 MB of
memory where py3langid's model took over 100). A short or ambiguous text gives no
answer rather than a wrong one, and the reply falls back to the default locale.
"""

from __future__ import annotations

import re

import pycld2

MIN_LETTERS = 12  # fewer letters than this: too little to tell
MIN_PERCENT = 80  # share of the text in the top language, as CLD2 reckons it

# Addresses and links say nothing about the language around them (CLD2 takes most
# of them for English); control characters and lone surrogates make it refuse the text.
_NOISE = re.compile(r"\S+@\S+|\b(?:https?://|www\.)\S+|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# CLD2's codes that differ from ISO 639-1, and a regional language CLD2 picks for
# short texts in the national one next to it (Corsican for Italian).
_CODES = {"iw": "he", "jw": "jv", "zh-Hant": "zh", "co": "it"}


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language `text` is written in, or None if unsure."""
    sample = _NOISE.sub(" ", text[:2000])
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None
    try:
        reliable, _, details = pycld2.detect(sample.encode("utf-8", "replace"))
    except pycld2.error:
        return None
    _, code, percent, _ = details[0]
    if not reliable or percent < MIN_PERCENT or code in ("un", "xxx"):
        return None
    return _CODES.get(code, str(code))


def customer_locales(text: str, content_language: str | None) -> list[str]:
    """The locales to try for a reply, most wanted first (the set's fallback chain
    then adds configured fallbacks, base languages and the default)."""
    out: list[str] = []
    if content_language:
        out.append(content_language)
    detected = detect_language(text)
    if detected and detected not in out:
        out.append(detected)
    return out
