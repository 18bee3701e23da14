"""Topic rules: configured keywords, matched as whole words, case-insensitive.

A keyword is a word or a phrase ("direct debit"); the spaces in a phrase match
any run of whitespace, and a trailing `*` matches any ending ("refund*" matches
refund, refunds, refunded).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailloop.config import TopicRule


def keyword_pattern(keyword: str) -> str:
    kw = keyword.strip()
    prefix = kw.endswith("*")
    words = kw.rstrip("*").split()
    body = r"\s+".join(re.escape(w) for w in words)
    return rf"(?<!\w){body}\w*" if prefix else rf"(?<!\w){body}(?!\w)"


class TopicMatcher:
    """One compiled regex per topic, built once."""

    def __init__(self, topics: Sequence[TopicRule]) -> None:
        self._rules: list[tuple[str, re.Pattern[str]]] = []
        for rule in topics:
            kws = [k for k in rule.keywords if k.strip().rstrip("*").strip()]
            if kws:
                pattern = "|".join(keyword_pattern(k) for k in kws)
                self._rules.append((rule.name, re.compile(pattern, re.IGNORECASE)))

    def find(self, text: str) -> tuple[str, ...]:
        """The names of the topics whose keywords occur in the text, sorted."""
        return tuple(sorted({name for name, rx in self._rules if rx.search(text)}))

    def evidence(self, text: str) -> list[str]:
        out = []
        for name, rx in self._rules:
            m = rx.search(text)
            if m:
                out.append(f"topic {name}: {m.group(0)!r}")
        return out
