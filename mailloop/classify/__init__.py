"""The classify step: Smile / OforA, topics, credited reps and a confidence.

    clf = Classifier.from_settings(settings)
    tags = clf.classify(inbound.text, subject=inbound.subject)

Pure and fast: the roster matcher and topic regexes are built once, and each
message costs a few regex passes and one VADER call per clause.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailloop.classify.reps import Mention, RepMatcher
from mailloop.classify.sentiment import ClauseVerdict, Polarity, Verdict, analyse
from mailloop.classify.text import normalise
from mailloop.classify.topics import TopicMatcher
from mailloop.config import Rep, Settings, TopicRule
from mailloop.model import Credit, Tags

__all__ = ["Classifier"]

# Verbs that name a rep as the person who helped, even with no praise word.
_HELPED = re.compile(
    r"\b(?:help(?:ed|ing|ful)?|sorted|sort(?:ed)? out|fixed|resolved|solved|arranged|explained|"
    r"walked me through|took care|looked after|dealt with|assisted|kept me|rang me back|"
    r"called me back|followed up|tracked|found|booked|untangled|got it|made it|made the|went)\b",
    re.IGNORECASE,
)
_PRONOUN_START = re.compile(r"^(?:and\s+)?(?:she|he|they)\b", re.IGNORECASE)
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|sv|antw)\s*:\s*)+", re.IGNORECASE)


# When a rep is mentioned several times, the strongest judgement wins: praise,
# then a complaint (never credit a rep the customer complains about), then the rest.
_RANK = {"praised": 0, "praised in the next sentence": 1, "named in a complaint": 2,
         "named as the person who helped": 3, "named in a Smile": 4, "named": 5}


@dataclass(frozen=True, slots=True)
class _Located:
    cv: ClauseVerdict
    start: int
    end: int


class Classifier:
    def __init__(self, reps: Sequence[Rep] = (), topics: Sequence[TopicRule] = (),
                 review_below: float = 0.6) -> None:
        self.review_below = review_below
        self._reps = RepMatcher(reps)
        self._topics = TopicMatcher(topics)

    @classmethod
    def from_settings(cls, settings: Settings) -> Classifier:
        return cls(reps=settings.reps, topics=settings.topics,
                   review_below=settings.classifier.review_below)

    def classify(self, text: str, subject: str = "") -> Tags:
        body = normalise(text)
        mentions = self._reps.find(body)
        verdict = analyse(body, [(m.start, m.end) for m in mentions])
        credits, rep_reasons, rep_evidence = self._credits(body, verdict, mentions)
        topics = self._topics.find(body + "\n" + _SUBJECT_PREFIX.sub("", subject))

        review_reasons: list[str] = []
        if verdict.confidence < self.review_below:
            why = f"; {verdict.notes[0]}" if verdict.notes else ""
            review_reasons.append(
                f"confidence {verdict.confidence:.2f} below {self.review_below:.2f}{why}")
        review_reasons.extend(rep_reasons)
        if not body.strip():
            review_reasons.append("no visible text")
        return Tags(
            smile=verdict.smile,
            ofora=verdict.ofora,
            topics=topics,
            credits=credits,
            confidence=verdict.confidence,
            review=bool(review_reasons),
            review_reasons=tuple(review_reasons),
            evidence=tuple(verdict.evidence + rep_evidence),
        )

    # Reps

    def _credits(self, body: str, verdict: Verdict, mentions: list[Mention]
                 ) -> tuple[tuple[Credit, ...], list[str], list[str]]:
        if not mentions:
            return (), [], []
        located = [_Located(cv, cv.start, cv.end) for cv in verdict.clauses]
        certain = {mn.reps[0] for mn in mentions if not mn.ambiguous}
        reasons: list[str] = []
        evidence: list[str] = []
        best: dict[str, tuple[bool, Mention, str]] = {}
        for mn in mentions:
            reps = mn.reps
            if mn.ambiguous:
                # "Alex" next to "Alex Chen" is Alex Chen; "Alex" alone is for a manager.
                known = [r for r in reps if r in certain]
                if len(known) != 1:
                    reasons.append(f"ambiguous name {mn.evidence!r}: could be "
                                   + " or ".join(reps))
                    continue
                reps = (known[0],)
            rep = reps[0]
            credited, why = _judge_mention(mn, located, verdict)
            prev = best.get(rep)
            if prev is None or _RANK[why] < _RANK[prev[2]]:
                best[rep] = (credited, mn, why)
        credits = []
        for rep, (credited, mn, why) in sorted(best.items()):
            credits.append(Credit(rep=rep, credited=credited, reason=mn.reason,
                                  evidence=mn.evidence))
            evidence.append(f"rep {rep}: {why} ({mn.reason} {mn.evidence!r})")
        return tuple(credits), list(dict.fromkeys(reasons)), evidence


def _judge_mention(mn: Mention, located: list[_Located], verdict: Verdict) -> tuple[bool, str]:
    """Is the rep credited (praised or named as the helper), and why."""
    idx = next((i for i, loc in enumerate(located) if loc.start <= mn.start < loc.end + 1),
               None)
    if idx is None:
        return False, "named"
    cv = located[idx].cv
    if cv.polarity is Polarity.COMPLAINT:
        return False, "named in a complaint"
    if cv.polarity is Polarity.PRAISE:
        return True, "praised"
    # The next sentence often carries the praise: "I spoke to Jenny. She was wonderful."
    sentence = cv.clause.sentence
    following = [loc.cv for loc in located[idx + 1:] if loc.cv.clause.sentence == sentence + 1]
    if following and _PRONOUN_START.search(following[0].clause.text):
        if following[0].polarity is Polarity.PRAISE:
            return True, "praised in the next sentence"
        if following[0].polarity is Polarity.COMPLAINT:
            return False, "named in a complaint"
    if cv.resolved or (_HELPED.search(cv.clause.text) and not cv.request):
        return (True, "named as the person who helped") if verdict.smile else (
            False, "named")
    if verdict.smile and not verdict.ofora and not cv.request:
        return True, "named in a Smile"
    return False, "named"
