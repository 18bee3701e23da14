"""Which language a customer wrote in: their Content-Language, else detection.

Detection is py3langid (BSD; its model ships inside the package, nothing is
downloaded), with normalised probabilities: a short or ambiguous text gives no
answer rather than a wrong one, and the reply falls back to the default locale.
"""

from __future__ import annotations

import threading
from typing import Any

MIN_LETTERS = 12  # fewer letters than this: too little to tell
MIN_CONFIDENCE = 0.80
_lock = threading.Lock()
_identifier: Any = None


def _model() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language `text` is written in, or None if unsure."""
    sample = text[:2000]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None
    language, confidence = _model().classify(sample)
    return str(language) if confidence >= MIN_CONFIDENCE else None


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
