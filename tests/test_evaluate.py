"""The evaluation set, its scoring, the thresholds of issue #6 and `mailloop eval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mailloop.cli.evaluate import register
from mailloop.config import Rep, TopicRule
from mailloop.evaluate import (
    PR,
    EvalSetError,
    Roster,
    default_set_path,
    evaluate,
    failures,
    load_roster,
    load_set,
    roster_for,
    score,
)
from mailloop.model import Tags

SET = default_set_path()


def test_the_shipped_set_is_large_and_varied() -> None:
    examples = load_set(SET)
    assert len(examples) >= 200
    assert len({e.id for e in examples}) == len(examples)
    kinds = {tuple(sorted(e.tags)) for e in examples}
    assert kinds == {(), ("smile",), ("ofora",), ("ofora", "smile")}
    assert {"email", "mobile", "survey", "letter"} <= {e.origin for e in examples}
    lengths = sorted(len(e.text) for e in examples)
    assert lengths[0] < 40 and lengths[-1] > 600


def test_labels_use_the_roster() -> None:
    roster = load_roster(roster_for(SET))
    names = {r.name for r in roster.reps}
    topics = {t.name for t in roster.topics}
    firsts = [r.name.split()[0] for r in roster.reps]
    assert any(firsts.count(f) > 1 for f in firsts), "two reps must share a first name"
    for ex in load_set(SET):
        assert ex.reps <= names and ex.named <= names, ex.id
        assert ex.topics <= topics, ex.id
        assert ex.tags <= {"smile", "ofora"}, ex.id


def test_issue_6_thresholds_hold_on_the_shipped_set() -> None:
    ours, base = evaluate(SET)
    assert ours.accuracy >= 0.90
    assert ours.harmful == 0
    assert ours.reps.precision is not None and ours.reps.precision >= 0.95
    assert ours.reps.recall is not None and ours.reps.recall >= 0.90
    assert failures(ours) == []
    # And the work on top of VADER is worth it.
    assert ours.accuracy > base.accuracy
    assert base.harmful > 0


def test_held_out_set_has_no_harmful_errors() -> None:
    ours, _ = evaluate(SET.with_name("holdout.jsonl"))
    assert ours.harmful == 0


def test_pr_arithmetic() -> None:
    pr = PR()
    pr.add(["a", "b"], ["b", "c"])
    pr.add([], [])
    assert (pr.tp, pr.fp, pr.fn) == (1, 1, 1)
    assert pr.precision == 0.5 and pr.recall == 0.5
    assert PR().precision is None


def test_score_counts_harmful_errors(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [
        {"id": "1", "text": "angry", "tags": ["ofora"], "reps": [], "topics": []},
        {"id": "2", "text": "mixed", "tags": ["ofora", "smile"], "reps": ["A B"], "topics": []},
        {"id": "3", "text": "happy", "tags": ["smile"], "reps": ["A B"], "topics": []},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    examples = load_set(path)

    def always_smile(text: str, subject: str) -> Tags:
        return Tags(smile=True, ofora=False)

    s = score("smile", always_smile, examples)
    assert s.harmful == 2 and s.harmful_unreviewed == 2
    assert s.exact == 1
    assert s.tags["smile"].precision == pytest.approx(2 / 3)
    assert s.reps.recall == 0.0
    assert failures(s)


def test_bad_set_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "text": "ok"}\n{"id": "2"}\n')
    with pytest.raises(EvalSetError, match=r"bad.jsonl:2"):
        load_set(path)


def test_roster_from_config_when_the_set_has_none(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "Zoe was great, thanks!", "tags": ["smile"],
                                "reps": ["Zoe Quinn"], "topics": ["praise"]}) + "\n")
    roster = Roster((Rep(name="Zoe Quinn", email="z@example.com"),),
                    (TopicRule(name="praise", keywords=["great"]),))
    ours, _ = evaluate(path, roster=roster)
    assert ours.reps.recall == 1.0 and ours.topics.recall == 1.0


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command, so typer keeps "eval" as a subcommand
        pass

    return app


def test_cli_table() -> None:
    result = CliRunner().invoke(_app(), ["eval"])
    assert result.exit_code == 0, result.output
    for words in ("exact-match accuracy", "rep precision", "harmful errors", "VADER baseline",
                  "smile recall", "ofora precision"):
        assert words in result.output


def test_cli_json_and_check() -> None:
    result = CliRunner().invoke(_app(), ["eval", "--format", "json", "--check"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["classifier"]["harmful"] == 0
    assert data["classifier"]["exact_match"] >= 0.9
    assert {"smile", "ofora"} <= set(data["baseline"]["tags"])
    assert data["failures"] == []


def test_cli_check_fails_below_the_bar(tmp_path: Path) -> None:
    path = tmp_path / "hard.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "Lovely weather.", "tags": ["ofora"]}) + "\n")
    result = CliRunner().invoke(_app(), ["eval", "--set", str(path), "--check"])
    assert result.exit_code == 1


def test_cli_missing_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["eval", "--set", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2


def test_cli_config(tmp_path: Path) -> None:
    cfg = tmp_path / "mailloop.toml"
    cfg.write_text("[classifier]\nreview_below = 0.5\n")
    result = CliRunner().invoke(_app(), ["eval", "--config", str(cfg), "--format", "json"])
    assert result.exit_code == 0, result.output
