"""Smile / OforA for one message: VADER per clause, corrected by the cue families.

Each clause gets a polarity from its cues first and VADER second; the message's
tags are the union over clauses, after three message-level corrections:

- a problem followed by its resolution ("went missing ... but it arrived today")
  is a thank-you, not a complaint;
- bare thanks in a message that asks for something is courtesy, not praise;
- a short positive exclamation in a complaint ("Lovely.", "thanks a lot") is
  sarcasm, not praise.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from mailloop.classify import cues
from mailloop.classify.cues import Kind
from mailloop.classify.text import Clause, clauses

# VADER's own thresholds for a non-neutral compound score, and the level at which
# VADER alone is trusted to call a clause (weaker scores are mostly politeness).
VADER_NEUTRAL = 0.05
VADER_TRUSTED = 0.3


@lru_cache(maxsize=1)
def analyzer() -> SentimentIntensityAnalyzer:
    # Loading the lexicon takes ~50 ms: once per process.
    return SentimentIntensityAnalyzer()


def vader_compound(text: str) -> float:
    if not _may_score(text):
        return 0.0
    return float(analyzer().polarity_scores(text)["compound"])


def _may_score(text: str) -> bool:
    """Could VADER give `text` a score other than 0? Only a word of its lexicon scores,
    and VADER looks each word up as split at white space, lower-cased, either whole or
    stripped of punctuation; emoji (never ASCII) are words too. About half the clauses
    of feedback have none of them, and asking costs a tenth of scoring."""
    if not text.isascii():
        return True
    lexicon = analyzer().lexicon
    return any(word in lexicon or word.strip(string.punctuation) in lexicon
               for word in text.lower().split())


class Polarity(enum.Enum):
    PRAISE = "praise"
    COMPLAINT = "complaint"
    NEUTRAL = "neutral"


@dataclass(slots=True)
class ClauseVerdict:
    clause: Clause
    vader: float
    cues: list[tuple[str, Kind, str]] = field(default_factory=list)  # family, kind, words
    start: int = 0  # offsets in the normalised text
    end: int = 0
    names: bool = False  # a person is named in it
    request: bool = False
    polarity: Polarity = Polarity.NEUTRAL
    strong: bool = False  # decided by a cue, not by VADER's score alone
    resolved: bool = False  # a complaint cancelled by a later resolution
    courtesy: bool = False  # a thank-you that is only manners
    sarcasm: bool = False  # positive words that are not praise

    def has(self, kind: Kind) -> bool:
        return any(k is kind for _, k, _ in self.cues)

    def words(self, *kinds: Kind) -> list[str]:
        return [w for _, k, w in self.cues if k in kinds]

    @property
    def person(self) -> bool:
        return self.names or cues.PERSON.search(self.clause.text.lower()) is not None


@dataclass(slots=True)
class Verdict:
    smile: bool
    ofora: bool
    confidence: float
    clauses: list[ClauseVerdict]
    evidence: list[str]
    notes: list[str]  # why the confidence is what it is


_NEGATORS = frozenset({"not", "no", "never", "nothing", "without", "hardly", "nor", "zero"})
_TOKEN = re.compile(r"[a-z']+")


def _negated(text: str, start: int) -> bool:
    """Is there a negator among the three words before `start`?"""
    before = _TOKEN.findall(text[max(0, start - 30):start])[-3:]
    return any(w in _NEGATORS or w.endswith("n't") for w in before)


_DURATION = re.compile(
    r"\b(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
    r"twenty|thirty|forty|fifty|sixty|several|many|a few|a couple of|[a-z]+-[a-z]+)"
    r"(?:\s+(?:full|whole|working|long|more|extra))?\s+(?P<unit>minutes?|mins?|hours?|hrs?|days?"
    r"|weeks?|wks?|months?|years?)\b"
)
# Words that make a duration a wait: "took an hour", "3 hours outside the slot".
_WAIT_CONTEXT = re.compile(
    r"\b(?:wait\w*|hold|late|took|taken|takes|been|since|outside|chas\w+|overdue|without|"
    r"queue\w*|delay\w*|still|later than|after|lost)\b"
)
_SMALL = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
          "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
          "a few": 3, "a couple of": 2}


def _long_wait(low: str) -> str | None:
    """A duration in a waiting context, long enough to be a complaint (not "sorted in
    5 minutes"): 15 minutes or more, or any count of hours and longer."""
    for m in _DURATION.finditer(low):
        n, unit = m.group("n"), m.group("unit")
        before = low[max(0, m.start() - 12):m.start()]
        if n in ("a", "an") and re.search(r"(?:\d|£|\$|€|\bonce|\btimes?|\bthree|\btwo)\S*\s*$",
                                          before):
            continue  # a rate ("£38 a month", "three a week"), not a wait
        if unit.startswith(("minute", "min")):
            value = int(n) if n.isdigit() else _SMALL.get(n, 15)
            if value < 15:
                continue
        window = low[max(0, m.start() - 40):m.end() + 40]
        if _WAIT_CONTEXT.search(window):
            return m.group(0)
    return None


def find_cues(text: str) -> list[tuple[str, Kind, str]]:
    low = text.lower()
    found: list[tuple[str, Kind, str]] = []
    wait = _long_wait(low)
    if wait:
        found.append(("long wait", Kind.COMPLAINT, wait))
    for fam in cues.MASKING:
        matches = list(fam.pattern.finditer(low))
        found += ((fam.name, fam.kind, m.group(0)) for m in matches)
        if matches:
            # Blank what matched so "no problem" is not also read as "problem".
            low = _blank(low, matches)
    for fam in cues.FAMILIES:
        for m in fam.pattern.finditer(low):
            if fam.negatable and _negated(low, m.start()):
                continue
            found.append((fam.name, fam.kind, m.group(0)))
    return found


def _blank(text: str, matches: Sequence[re.Match[str]]) -> str:
    """`text` with each match replaced by as many "#" (what re.sub would give, without
    scanning again)."""
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts += (text[pos:m.start()], "#" * (m.end() - m.start()))
        pos = m.end()
    parts.append(text[pos:])
    return "".join(parts)


def _judge_clause(cv: ClauseVerdict) -> None:
    complaint = cv.has(Kind.COMPLAINT) or (cv.has(Kind.WEAK_COMPLAINT) and not cv.request)
    praise = cv.has(Kind.PRAISE) or cv.has(Kind.THANKS)
    if complaint and not cv.has(Kind.RESOLUTION):
        # Positive words next to a complaint are sarcasm or politeness, unless they
        # are aimed at the person who helped ("she was lovely even though ...").
        if praise and cv.person and cv.has(Kind.PRAISE) and cv.vader > VADER_TRUSTED:
            cv.polarity, cv.strong = Polarity.PRAISE, True
            return
        cv.polarity, cv.strong = Polarity.COMPLAINT, True
        cv.sarcasm = praise
        return
    if cv.has(Kind.RESOLUTION):
        # A problem solved: praise when the customer says anything kind about it.
        cv.polarity = Polarity.PRAISE if (praise or cv.vader >= 0) else Polarity.NEUTRAL
        cv.strong = praise
        return
    if praise:
        if cv.request and not cv.has(Kind.PRAISE):
            cv.courtesy = True  # "Could you send it? Thanks"
            return
        cv.polarity, cv.strong = Polarity.PRAISE, True
        if cues.COURTESY.search(cv.clause.text.lower()) and not cv.has(Kind.PRAISE):
            cv.courtesy = True
        return
    if cv.request or cv.has(Kind.FRAME):
        # A rhetorical question may carry the complaint ("why is it so terrible?").
        if cv.vader <= -0.5 and _WHY.search(cv.clause.text):
            cv.polarity = Polarity.COMPLAINT
        return
    if cv.vader >= VADER_TRUSTED:
        cv.polarity = Polarity.PRAISE
    elif cv.vader <= -VADER_TRUSTED:
        cv.polarity = Polarity.COMPLAINT


_WHY = re.compile(r"^\W*(?:why|how come|how can|how is)\b", re.IGNORECASE)


def _is_bare(cv: ClauseVerdict) -> bool:
    """Short, with nothing in particular praised: the shape of an ironic remark."""
    words = _TOKEN.findall(cv.clause.text.lower())
    return len(words) <= 2 or (len(words) <= 6
                               and cues.SARCASM.search(cv.clause.text.lower()) is not None)


def analyse(text: str, names: Sequence[tuple[int, int]] = ()) -> Verdict:
    """Judge each clause of `text`; `names` are the spans where people are named."""
    out: list[ClauseVerdict] = []
    pos = 0
    for c in clauses(text):
        start = text.find(c.text, pos)
        start = pos if start < 0 else start
        pos = start + len(c.text)
        cv = ClauseVerdict(clause=c, vader=vader_compound(c.text), cues=find_cues(c.text),
                           start=start, end=pos)
        cv.names = any(start <= s < pos for s, _ in names)
        cv.request = (c.question or cues.REQUEST.search(c.text.lower()) is not None
                      or cv.has(Kind.REQUEST))
        _judge_clause(cv)
        prev = out[-1] if out else None
        if (prev is not None and prev.has(Kind.FRAME) and not c.starts_sentence
                and cv.polarity is Polarity.COMPLAINT and not cv.strong):
            # "I'd read bad reviews, but my experience was nothing like that."
            cv.polarity = Polarity.NEUTRAL
        out.append(cv)

    notes: list[str] = []
    # A resolution cancels the complaints before it (a thank-you note that tells the
    # story of the problem), never the ones after it.
    last_resolution = max((i for i, cv in enumerate(out) if cv.has(Kind.RESOLUTION)
                           and cv.polarity is not Polarity.COMPLAINT), default=-1)
    for cv in out[:max(last_resolution, 0)]:
        if cv.polarity is Polarity.COMPLAINT and not _escalated(cv):
            cv.polarity, cv.resolved = Polarity.NEUTRAL, True

    complaints = [cv for cv in out if cv.polarity is Polarity.COMPLAINT]
    praises = [cv for cv in out if cv.polarity is Polarity.PRAISE]
    asks = any(cv.request for cv in out)

    strong_complaint = any(cv.strong and not _weak_only(cv) for cv in complaints)
    if asks and complaints and not strong_complaint:
        # "I couldn't find it in settings" explains a question; it is not a complaint.
        for cv in complaints:
            if cv.vader > -0.5:
                cv.polarity = Polarity.NEUTRAL
        complaints = [cv for cv in out if cv.polarity is Polarity.COMPLAINT]
    if strong_complaint:
        # Next to a real complaint, warmth VADER finds without any praise word
        # ("I have been a loyal customer") is framing, not a Smile.
        for cv in praises:
            if not cv.has(Kind.PRAISE) and not cv.has(Kind.THANKS) and not cv.has(
                    Kind.RESOLUTION):
                cv.polarity = Polarity.NEUTRAL
    if any(cv.has(Kind.PRAISE) for cv in praises):
        # Beside explicit praise, a clause VADER alone finds negative ("which is
        # never easy") is scene-setting; the doubt is kept for the confidence.
        for cv in complaints:
            if not cv.strong:
                cv.polarity = Polarity.NEUTRAL
        complaints = [cv for cv in out if cv.polarity is Polarity.COMPLAINT]
    if complaints:
        # "Lovely." / "Brilliant timing, thanks a lot." beside a complaint: irony.
        for cv in praises:
            if not cv.has(Kind.RESOLUTION) and _is_bare(cv) and not cv.person:
                cv.polarity, cv.sarcasm = Polarity.NEUTRAL, True
        # Bare thanks closing a complaint are manners.
        for cv in praises:
            if cv.polarity is Polarity.PRAISE and not cv.has(Kind.PRAISE) and _is_bare(cv):
                cv.polarity, cv.courtesy = Polarity.NEUTRAL, True
    if asks:
        strong_praise = any(cv.has(Kind.PRAISE) for cv in praises if cv.polarity is Polarity.PRAISE)
        if not strong_praise:
            for cv in praises:
                if not cv.has(Kind.RESOLUTION) and cv.polarity is Polarity.PRAISE:
                    cv.polarity, cv.courtesy = Polarity.NEUTRAL, True
    for cv in out:
        if cv.courtesy and cv.polarity is Polarity.PRAISE and (complaints or asks):
            cv.polarity = Polarity.NEUTRAL

    praises = [cv for cv in out if cv.polarity is Polarity.PRAISE]
    complaints = [cv for cv in out if cv.polarity is Polarity.COMPLAINT]
    smile, ofora = bool(praises), bool(complaints)
    confidence = _confidence(out, praises, complaints, asks, notes)
    evidence = [_describe(cv) for cv in praises + complaints]
    return Verdict(smile, ofora, confidence, out, evidence, notes)


def _weak_only(cv: ClauseVerdict) -> bool:
    return not cv.has(Kind.COMPLAINT)


def _escalated(cv: ClauseVerdict) -> bool:
    return any(name in ("escalation", "remedy request", "repeat") for name, _, _ in cv.cues)


def _confidence(out: list[ClauseVerdict], praises: list[ClauseVerdict],
                complaints: list[ClauseVerdict], asks: bool, notes: list[str]) -> float:
    conf = 0.95
    if praises:
        best = max(praises, key=lambda cv: (cv.strong, cv.vader))
        if not best.strong:
            # Praise resting on VADER's score alone: as sure as the score is strong.
            conf = min(conf, 0.5 + 0.45 * best.vader)
            notes.append("praise from sentiment score only")
    if complaints:
        best = max(complaints, key=lambda cv: (cv.strong, -cv.vader))
        if not best.strong:
            conf = min(conf, 0.5 + 0.45 * abs(best.vader))
            notes.append("complaint from sentiment score only")
    if praises and not complaints:
        # The worst mistake is thanking an unhappy customer: any unexplained
        # negative signal left in a Smile-only message lowers the confidence.
        doubt = [cv for cv in out if cv.polarity is Polarity.NEUTRAL and (
            cv.vader <= -VADER_TRUSTED or cv.sarcasm
            or (cv.has(Kind.WEAK_COMPLAINT) and not cv.request))]
        if doubt:
            conf = min(conf, 0.55)
            notes.append("negative signals in a Smile: " + "; ".join(
                cv.clause.text for cv in doubt))
        elif any(cv.resolved for cv in out):
            conf = min(conf, 0.8)
    if not praises and not complaints:
        if asks:
            conf = 0.9
        elif any(abs(cv.vader) >= VADER_NEUTRAL for cv in out):
            conf = 0.7
            notes.append("some sentiment but no clear verdict")
        else:
            conf = 0.8
    return round(conf, 3)


def _describe(cv: ClauseVerdict) -> str:
    kinds = (Kind.PRAISE, Kind.THANKS, Kind.RESOLUTION) if cv.polarity is Polarity.PRAISE else (
        Kind.COMPLAINT, Kind.WEAK_COMPLAINT)
    words = cv.words(*kinds)
    label = cv.polarity.value
    why = ", ".join(dict.fromkeys(words)) if words else f"vader {cv.vader:+.2f}"
    return f"{label}: {cv.clause.text!r} ({why})"
