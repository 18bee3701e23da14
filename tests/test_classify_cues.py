"""find_cues finds what matching each cue family on its own, blanking masked phrases
with `re.sub` before the next family, found: held to that reference over every message
the repository holds and over clauses built to tempt a pattern."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from mailloop.classify import cues
from mailloop.classify import sentiment as S
from mailloop.classify.cues import Kind
from mailloop.classify.text import clauses, normalise
from mailloop.parse import parse

ROOT = Path(__file__).resolve().parent.parent


def reference_cues(text: str) -> list[tuple[str, Kind, str]]:
    """The cues of one clause, as find_cues first matched them (re.sub and all)."""
    low = text.lower()
    found: list[tuple[str, Kind, str]] = []
    wait = S._long_wait(low)
    if wait:
        found.append(("long wait", Kind.COMPLAINT, wait))
    for fam in cues.MASKING:
        for m in fam.pattern.finditer(low):
            found.append((fam.name, fam.kind, m.group(0)))
        low = fam.pattern.sub(lambda m: "#" * len(m.group(0)), low)
    for fam in cues.FAMILIES:
        for m in fam.pattern.finditer(low):
            if fam.negatable and S._negated(low, m.start()):
                continue
            found.append((fam.name, fam.kind, m.group(0)))
    return found


def _bench_feedback() -> list[str]:
    """bench/e2e.py's generated feedback, read from its source (importing it starts more)."""
    tree = ast.parse((ROOT / "bench" / "e2e.py").read_text())
    bodies = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "BODIES" for t in node.targets))
    return [body.format(n=n, name=f"Customer r {n}") for n in (7, 1234) for body in bodies]


@lru_cache(maxsize=1)
def corpus() -> list[str]:
    """The evaluation sets, the test and sample mail (raw and parsed), the benchmark's
    feedback and the sentences the classifier tests are written with."""
    texts: list[str] = []
    for path in sorted((ROOT / "eval").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines()
                  if line.strip()]
    parsed = json.loads((ROOT / "tests" / "data" / "parsed.json").read_text())
    texts += [m["text"] for m in parsed.values() if m.get("text")]
    mail = sorted((ROOT / "tests" / "data").rglob("*.eml")) + sorted(
        (ROOT / "mailloop" / "samples").glob("*.eml"))
    received = datetime(2026, 3, 3, tzinfo=UTC)
    texts += [parse(p.read_bytes(), key=p.name, received_at=received).text for p in mail]
    texts += _bench_feedback()
    tree = ast.parse((ROOT / "tests" / "test_classify.py").read_text())
    texts += [node.value for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return texts


def test_every_clause_gets_the_cues_the_reference_finds() -> None:
    parts = [c.text for t in corpus() for c in clauses(normalise(t))]
    assert len(parts) > 1200
    assert sum(bool(reference_cues(p)) for p in parts) > 500
    for part in parts:
        assert S.find_cues(part) == reference_cues(part), part


# Clauses, in groups that follow each other in a message, that tempt a pattern.
TEMPTING = [
    ["no", "problems at all"], ["without", "any issues"], ["not", "bad"], ["not a", "single fault"],
    ["it was not", "broken"], ["nothing", "wrong"], ["i wasn't", "happy"], ["they didn", "'t come"],
    ["never", "arrived"], ["it isn't", "resolved"], ["i can't", "log in"], ["nobody", "came"],
    ["i want", "a refund"], ["charged", "twice"], ["ordered a", "got b"], ["took", "to load"],
    ["been waiting", "since monday"], ["still", "waiting"], ["on", "hold"], ["3", "hours on hold"],
    ["waited for three", "hours"], ["it took", "an hour"], ["five", "minutes late"],
    ["late", "husband"], ["late", " husband"], ["late", "\nhusband"], ["it was late)", "husband"],
    ["yet another", "another failure", "not another", "yet again"], ["and another", "another"],
    ["my", "helpful"], ["our", "kind staff"], ["my helpful", "our kind", "so kind"],
    ["sorry if i've spelt (your name", "wrong) thanks"], ["sorry if i spelt it", "wrong"],
    ["sorry if i've spelt it", ")", "."], ["(", ")", ".", "!", "?", "..."], [")).", ".)", "()"],
    ["1.", "5/5"], ["2", "/5"], ["1", ".5 / 5"], ["10", "/10"], ["five", "stars"], ["1.5", "/ 5"],
    ["a\x00b", "another"], ["\x00another", "late"], ["another\x00", "yet another"], ["\x00"],
    ["İ", "another"], ["İİİ was late", "no İssues"], ["ΟΔΟΣ", "late"], ["straße", "late"],
    ["thank", "you"], ["thanks", "in advance"], ["made it", "easy"], ["would", "be grateful if"],
    ["", "late", ""], ["no", ""], ["", "problems"], ["#", "##"], ["- ", "-"], ["'", "'t"],
]


def test_tempting_clauses_get_the_cues_the_reference_finds() -> None:
    parts = [p for group in TEMPTING for p in group]
    parts += [" ".join(group) for group in TEMPTING]
    for part in parts:
        assert S.find_cues(part) == reference_cues(part), part
