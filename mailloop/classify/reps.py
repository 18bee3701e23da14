"""Finding the reps a message names, from the roster.

A rep can be named by full name, alias, first name, surname (alone or with a
title: "Ms. Natarajan"), a common nickname of the first name ("Jenny" for
Jennifer), in any case, with a possessive ("Jenny's"), or misspelt by one letter
when the name has five letters or more ("Jenifer", "Kowalsky"). A name shared by
two reps (two Alexes) is ambiguous: nobody is credited from it alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mailloop.classify.text import strip_accents
from mailloop.config import Rep

TITLES = r"(?:mr|mrs|ms|miss|mx|dr|sir|madam)\.?"

# Common English nicknames and spelling variants of first names. Only used when
# the roster has a rep with the full form; configured aliases come on top.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "jennifer": ("jenny", "jen", "jenni", "jennie"),
    "daniel": ("dan", "danny"),
    "samantha": ("sam", "sammy"),
    "samuel": ("sam", "sammy"),
    "alexander": ("alex", "sandy"),
    "alexandra": ("alex", "lexi", "sandra"),
    "alexis": ("alex",),
    "michael": ("mike", "mick", "mikey"),
    "robert": ("rob", "bob", "bobby", "robbie"),
    "william": ("will", "bill", "billy", "liam"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza"),
    "katherine": ("kate", "katie", "kathy", "kath"),
    "catherine": ("cath", "cathy", "kate", "katie"),
    "thomas": ("tom", "tommy"),
    "tomas": ("tom", "tommy"),
    "james": ("jim", "jimmy", "jamie"),
    "margaret": ("maggie", "meg", "peggy"),
    "christopher": ("chris",),
    "christine": ("chris", "chrissie"),
    "nicholas": ("nick", "nicky"),
    "joseph": ("joe", "joey"),
    "anthony": ("tony",),
    "edward": ("ed", "eddie", "ted"),
    "richard": ("rich", "rick", "dick"),
    "stephen": ("steve",),
    "steven": ("steve",),
    "rebecca": ("becky", "becca"),
    "patricia": ("pat", "patty", "trish"),
    "victoria": ("vicky", "tori"),
    "benjamin": ("ben", "benny"),
    "matthew": ("matt",),
    "andrew": ("andy", "drew"),
    "jonathan": ("jon", "jonny"),
    "susan": ("sue", "suzy"),
    "mohammed": ("mo", "mohamed", "mohammad", "muhammad"),
    "muhammad": ("mo", "mohammed", "mohamed", "mohammad"),
    "sofia": ("sophia", "sophie"),
    "sophia": ("sofia", "sophie"),
    "abigail": ("abby", "abi"),
    "frederick": ("fred", "freddie"),
    "gregory": ("greg",),
    "timothy": ("tim",),
    "zachary": ("zach", "zack"),
}

# Names that are also ordinary words: matched only when written with a capital.
COMMON_WORDS = frozenset({
    "will", "bill", "mark", "rob", "sue", "pat", "may", "june", "april", "august", "grace",
    "hope", "joy", "faith", "dawn", "rose", "jack", "frank", "art", "ray", "drew", "guy",
    "chase", "max", "mo", "ed", "ted", "rich", "nick", "sandy", "ivy", "amber", "ruby",
    "summer", "sky", "victor", "sam", "sunny", "penny", "holly", "robin", "jean", "gene",
    "dick", "pet", "lee", "don", "ta", "bob",
})


@dataclass(frozen=True, slots=True)
class Mention:
    reps: tuple[str, ...]  # one rep, or the candidates of an ambiguous name
    reason: str  # name, alias, first name, surname, surname with title, nickname, misspelling
    evidence: str  # the words as written
    start: int
    end: int

    @property
    def ambiguous(self) -> bool:
        return len(self.reps) > 1


def _fold(s: str) -> str:
    return strip_accents(s).casefold()


def _phonetic(s: str) -> str:
    """A spelling-insensitive form: ph→f, doubled letters once ("Sophia" ~ "Sofia")."""
    s = _fold(s).replace("ph", "f")
    return re.sub(r"(.)\1+", r"\1", s)


def _stems(word: str) -> set[str]:
    """The word and its likely stems, so inflected words are found in the dictionary."""
    out = {word}
    for suffix in ("s", "es", "ed", "d", "ing", "er", "ers", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.add(word[: -len(suffix)])
    return out


def _deletions(s: str) -> set[str]:
    return {s[:i] + s[i + 1:] for i in range(len(s))}


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    """English words, so that "sofa" is not read as a misspelt "Sofia"."""
    try:
        from english_words import get_english_words_set  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a dependency, but misspellings are a nicety
        return frozenset()
    return frozenset(get_english_words_set(["gcide"], lower=True, alpha=True))


# Reasons in order of how specific they are: the most specific key for a rep wins.
_RANK = {"name": 0, "alias": 1, "surname with title": 2, "first name": 3, "surname": 4,
         "nickname": 5, "misspelling": 6}


class RepMatcher:
    """Built once from the roster; `find` is one regex pass plus a fuzzy pass."""

    def __init__(self, reps: Sequence[Rep]) -> None:
        keys: dict[str, dict[str, str]] = {}  # folded key -> {rep name: reason}

        def add(key: str, rep: str, reason: str) -> None:
            key = _fold(key).strip()
            if len(key) < 2:
                return
            slot = keys.setdefault(key, {})
            if rep not in slot or _RANK[reason] < _RANK[slot[rep]]:
                slot[rep] = reason

        for rep in reps:
            parts = rep.name.split()
            add(rep.name, rep.name, "name")
            for alias in rep.aliases:
                add(alias, rep.name, "alias")
            if len(parts) > 1:
                add(parts[0], rep.name, "first name")
                add(parts[-1], rep.name, "surname")
                for nick in NICKNAMES.get(_fold(parts[0]), ()):
                    add(nick, rep.name, "nickname")
            for alias in rep.aliases:  # an alias's nicknames ("Tomas" → "Tom") too
                for nick in NICKNAMES.get(_fold(alias), ()):
                    add(nick, rep.name, "nickname")
        self._keys = {k: tuple(sorted(v.items())) for k, v in keys.items()}
        self._surnames = {_fold(r.name.split()[-1]) for r in reps if len(r.name.split()) > 1}

        if not self._keys:
            self._pattern: re.Pattern[str] | None = None
        else:
            alternation = "|".join(re.escape(k) for k in sorted(self._keys, key=len, reverse=True))
            self._pattern = re.compile(
                rf"(?<![\w])(?P<title>{TITLES}\s+)?(?P<key>{alternation})(?:'s|s')?(?![\w])",
                re.IGNORECASE,
            )
        # Fuzzy index over single-word keys of five letters or more.
        self._fuzzy: dict[str, set[str]] = {}
        for key in self._keys:
            ph = _phonetic(key)
            if " " not in key and len(key) >= 5 and len(ph) >= 5:
                for variant in {ph} | _deletions(ph):
                    self._fuzzy.setdefault(variant, set()).add(key)

    def find(self, text: str) -> list[Mention]:
        """Every mention of a rep in the text, in order of appearance."""
        if self._pattern is None:
            return []
        folded = strip_accents(text)  # same length as text for Latin names
        if len(folded) != len(text):
            folded = text
        mentions: list[Mention] = []
        taken: list[tuple[int, int]] = []
        for m in self._pattern.finditer(folded):
            raw = text[m.start("key"):m.end("key")]
            key = _fold(m.group("key"))
            if key in COMMON_WORDS and not raw[:1].isupper():
                continue  # "will", "grace period", "give me a mo"
            mentions.append(self._mention(key, m.group("title"), text[m.start():m.end()],
                                          m.start(), m.end()))
            taken.append((m.start(), m.end()))
        mentions.extend(self._fuzzy_mentions(text, taken))
        mentions.sort(key=lambda mn: mn.start)
        return self._merge_full_names(mentions)

    def _mention(self, key: str, title: str | None, words: str, start: int, end: int) -> Mention:
        entries = self._keys[key]
        reps = tuple(r for r, _ in entries)
        reason = min((why for _, why in entries), key=_RANK.__getitem__)
        if title and key in self._surnames:
            reason = "surname with title"
        return Mention(reps, reason, words.strip(), start, end)

    def _fuzzy_mentions(self, text: str, taken: Iterable[tuple[int, int]]) -> list[Mention]:
        if not self._fuzzy:
            return []
        spans = list(taken)
        words = _dictionary()
        out: list[Mention] = []
        for m in re.finditer(r"[^\W\d_]{5,}", text):
            if any(s <= m.start() < e for s, e in spans):
                continue
            token = m.group(0)
            low = _fold(token)
            if low in COMMON_WORDS or any(stem in words for stem in _stems(low)):
                continue
            ph = _phonetic(token)
            found: set[str] = set()
            for variant in {ph} | _deletions(ph):
                found |= self._fuzzy.get(variant, set())
            if not found:
                continue
            reps = tuple(sorted({r for key in found for r, _ in self._keys[key]}))
            out.append(Mention(reps, "misspelling", token, m.start(), m.end()))
        return out

    @staticmethod
    def _merge_full_names(mentions: list[Mention]) -> list[Mention]:
        """'Jenifer Alvarez': a first-name and a surname mention of one rep, side by side."""
        out: list[Mention] = []
        for mn in mentions:
            prev = out[-1] if out else None
            if (prev is not None and mn.start - prev.end <= 1 and set(mn.reps) & set(prev.reps)
                    and (prev.ambiguous or mn.ambiguous or prev.reps == mn.reps)):
                common = tuple(sorted(set(mn.reps) & set(prev.reps)))
                out[-1] = Mention(common, "name", f"{prev.evidence} {mn.evidence}",
                                  prev.start, mn.end)
                continue
            out.append(mn)
        return out
