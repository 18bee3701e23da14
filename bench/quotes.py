"""Quote extraction accuracy over the reply corpus in tests/data/replies.

    .venv/bin/python bench/quotes.py [--dir tests/data/replies] [--quiet]

Each `<client>-<lang>-<nn>-<slug>.eml` is parsed with mailloop.parse.parse and its
`Inbound.text` (what the person wrote, as the pipeline sees it) is compared with the
sibling `.expected.txt`, whitespace normalised. A reply counts as right only on an
exact match. Files named `-heldout-` were written after the rules in mailloop/visible.py
and are also scored on their own. Prints accuracy per client, per language and in total, then each
failure with a short diff. Always exits 0: it reports, it does not judge.
"""

from __future__ import annotations

import argparse
import difflib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mailloop.parse import parse

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "replies"


@dataclass(frozen=True)
class Result:
    name: str
    client: str
    language: str
    expected: str
    got: str

    @property
    def ok(self) -> bool:
        return self.expected == self.got

    @property
    def lost(self) -> bool:
        """The person's words are missing from what was extracted (worse than extra lines)."""
        return self.expected not in self.got


def normalise(text: str) -> str:
    return " ".join(text.split())


def run(directory: Path = DEFAULT_DIR) -> list[Result]:
    results = []
    for eml in sorted(directory.glob("*.eml")):
        client, language = eml.stem.split("-")[:2]
        expected = eml.with_name(f"{eml.stem}.expected.txt").read_text(encoding="utf-8")
        msg = parse(eml.read_bytes(), key=eml.name, received_at=datetime(2026, 11, 25, tzinfo=UTC))
        results.append(Result(eml.stem, client, language, normalise(expected), normalise(msg.text)))
    return results


def accuracy(results: list[Result]) -> float:
    return sum(r.ok for r in results) / len(results) if results else 0.0


def _table(title: str, groups: dict[str, list[Result]]) -> None:
    print(f"{title:<14} {'right':>5} {'of':>4} {'accuracy':>9}")
    for key in sorted(groups):
        rs = groups[key]
        print(f"{key:<14} {sum(r.ok for r in rs):>5} {len(rs):>4} {accuracy(rs):>9.0%}")
    print()


def _diff(expected: str, got: str) -> str:
    lines = difflib.ndiff(expected.replace(". ", ".\n").splitlines(),
                          got.replace(". ", ".\n").splitlines())
    return "\n".join(f"      {line}" for line in lines if line[:1] in "+-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--quiet", action="store_true", help="figures only, no diffs")
    args = parser.parse_args()

    results = run(args.dir)
    by_client: dict[str, list[Result]] = defaultdict(list)
    by_language: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_client[r.client].append(r)
        by_language[r.language].append(r)
    _table("client", by_client)
    _table("language", by_language)
    held = [r for r in results if "-heldout-" in r.name]
    if held:
        print(f"held out (written after the rules): {sum(r.ok for r in held)}/{len(held)}"
              f" = {accuracy(held):.1%}")
    right = sum(r.ok for r in results)
    print(f"total: {right}/{len(results)} = {accuracy(results):.1%}"
          f"  (words lost entirely: {sum(r.lost for r in results)})")
    failures = [r for r in results if not r.ok]
    if failures and not args.quiet:
        print("\nfailures (- expected, + extracted):")
        for r in failures:
            print(f"  {r.name}{'  LOST WORDS' if r.lost else ''}")
            print(_diff(r.expected, r.got))


if __name__ == "__main__":
    main()
