"""Scoring a classifier against the labelled evaluation set (eval/feedback.jsonl).

Each line of the set is one message with its expected tags, credited reps,
named-but-not-credited reps and topics; a sibling roster.toml holds the reps and
topic rules it was labelled against. `evaluate` runs any function from text to
Tags over it and returns the figures `mailloop eval` prints.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mailloop.config import Rep, TopicRule
from mailloop.model import Tags

TAG_NAMES = ("smile", "ofora")


def default_set_path() -> Path:
    """The evaluation set shipped in the repository (or ./eval when run elsewhere)."""
    here = Path(__file__).resolve().parent.parent / "eval" / "feedback.jsonl"
    return here if here.exists() else Path("eval") / "feedback.jsonl"


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    subject: str
    tags: frozenset[str]
    reps: frozenset[str]  # credited
    named: frozenset[str]  # named, not credited
    topics: frozenset[str]
    review: bool  # a person must look (ambiguous rep)
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Roster:
    reps: tuple[Rep, ...]
    topics: tuple[TopicRule, ...]
    review_below: float | None = None


class EvalSetError(Exception):
    """The evaluation set cannot be read; the message names the file and line."""


def load_set(path: str | Path) -> list[Example]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalSetError(f"{path}: {exc.strerror or exc}") from None
    out: list[Example] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(Example(
                id=str(d.get("id", n)), text=str(d["text"]), subject=str(d.get("subject", "")),
                tags=frozenset(d.get("tags", [])), reps=frozenset(d.get("reps", [])),
                named=frozenset(d.get("named", [])), topics=frozenset(d.get("topics", [])),
                review=bool(d.get("review", False)), origin=str(d.get("origin", "")),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalSetError(f"{path}:{n}: not a valid example ({exc})") from None
    return out


def load_roster(path: str | Path) -> Roster:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EvalSetError(f"{path}: {exc}") from None
    review = data.get("classifier", {}).get("review_below")
    return Roster(
        reps=tuple(Rep(**r) for r in data.get("reps", [])),
        topics=tuple(TopicRule(**t) for t in data.get("topics", [])),
        review_below=float(review) if review is not None else None,
    )


def roster_for(set_path: str | Path) -> Path:
    return Path(set_path).with_name("roster.toml")


@dataclass(slots=True)
class PR:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, expected: Iterable[str], got: Iterable[str]) -> None:
        e, g = set(expected), set(got)
        self.tp += len(e & g)
        self.fp += len(g - e)
        self.fn += len(e - g)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": _r(self.precision), "recall": _r(self.recall)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass(slots=True)
class Mistake:
    id: str
    expected: list[str]
    got: list[str]
    text: str
    kind: str  # tags, reps, harmful


@dataclass(slots=True)
class Score:
    name: str
    total: int = 0
    exact: int = 0
    harmful: int = 0  # an OforA tagged Smile-only
    harmful_unreviewed: int = 0  # ... and not even sent to review: a thank-you would go out
    reviewed: int = 0
    ambiguous_flagged: int = 0  # expected review (ambiguous rep) and marked for review
    ambiguous_total: int = 0
    tags: dict[str, PR] = field(default_factory=lambda: {t: PR() for t in TAG_NAMES})
    reps: PR = field(default_factory=PR)
    topics: PR = field(default_factory=PR)
    mistakes: list[Mistake] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.exact / self.total if self.total else 0.0

    def as_dict(self, with_mistakes: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name, "examples": self.total, "exact_match": round(self.accuracy, 4),
            "harmful": self.harmful, "harmful_unreviewed": self.harmful_unreviewed,
            "reviewed": self.reviewed,
            "ambiguous_flagged": f"{self.ambiguous_flagged}/{self.ambiguous_total}",
            "tags": {t: pr.as_dict() for t, pr in self.tags.items()},
            "reps": self.reps.as_dict(), "topics": self.topics.as_dict(),
            "seconds": round(self.seconds, 3),
        }
        if with_mistakes:
            d["mistakes"] = [asdict(m) for m in self.mistakes]
        return d


Predict = Callable[[str, str], Tags]


def score(name: str, predict: Predict, examples: Sequence[Example]) -> Score:
    import time

    s = Score(name=name)
    started = time.perf_counter()
    for ex in examples:
        tags = predict(ex.text, ex.subject)
        got = set(tags.labels)
        s.total += 1
        if got == ex.tags:
            s.exact += 1
        else:
            s.mistakes.append(Mistake(ex.id, sorted(ex.tags), sorted(got), ex.text, "tags"))
        for t in TAG_NAMES:
            s.tags[t].add([t] if t in ex.tags else [], [t] if t in got else [])
        if "ofora" in ex.tags and tags.smile and not tags.ofora:
            s.harmful += 1
            if not tags.review:
                s.harmful_unreviewed += 1
        if tags.review:
            s.reviewed += 1
        if ex.review:
            s.ambiguous_total += 1
            s.ambiguous_flagged += tags.review
        credited = set(tags.credited_reps)
        s.reps.add(ex.reps, credited)
        if credited != ex.reps:
            s.mistakes.append(Mistake(ex.id, sorted(ex.reps), sorted(credited), ex.text, "reps"))
        s.topics.add(ex.topics, tags.topics)
    s.seconds = time.perf_counter() - started
    return s


# The bar the classifier must clear on the shipped set (issue #6).
THRESHOLDS = {"exact_match": 0.90, "harmful": 0, "rep_precision": 0.95, "rep_recall": 0.90}


def failures(s: Score) -> list[str]:
    """The thresholds this score misses, as sentences (empty when all hold)."""
    out = []
    if s.accuracy < THRESHOLDS["exact_match"]:
        out.append(f"exact-match accuracy {s.accuracy:.3f} < {THRESHOLDS['exact_match']}")
    if s.harmful > THRESHOLDS["harmful"]:
        out.append(f"{s.harmful} harmful errors (OforA tagged Smile-only)")
    p, r = s.reps.precision, s.reps.recall
    if p is None or p < THRESHOLDS["rep_precision"]:
        out.append(f"rep precision {p} < {THRESHOLDS['rep_precision']}")
    if r is None or r < THRESHOLDS["rep_recall"]:
        out.append(f"rep recall {r} < {THRESHOLDS['rep_recall']}")
    return out


def evaluate(set_path: str | Path | None = None, review_below: float | None = None,
             roster: Roster | None = None) -> tuple[Score, Score]:
    """Score mailloop's classifier and the plain VADER baseline on the set.

    The roster defaults to the roster.toml beside the set (the one it was
    labelled against); `roster` is used when there is none.
    """
    from mailloop.classify import Classifier
    from mailloop.classify.baseline import vader_tags

    path = Path(set_path) if set_path else default_set_path()
    examples = load_set(path)
    roster_path = roster_for(path)
    if roster_path.exists():
        roster = load_roster(roster_path)
    elif roster is None:
        roster = Roster((), ())
    threshold = review_below if review_below is not None else (
        roster.review_below if roster.review_below is not None else 0.6)
    clf = Classifier(reps=roster.reps, topics=roster.topics, review_below=threshold)
    ours = score("mailloop", lambda text, subject: clf.classify(text, subject=subject), examples)
    base = score("vader", vader_tags, examples)
    return ours, base
