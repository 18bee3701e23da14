"""Benchmark: how long the classifier takes over 10,000 messages on one core.

    .venv/bin/python bench/classify.py [--count N]

Prints figures; it is not a test. The messages are the evaluation set's texts
(short notes to long letters), cycled to the count, through one Classifier built
once from the set's roster, as the daemon does.
"""

from __future__ import annotations

import argparse
import statistics
import time

from mailloop.classify import Classifier
from mailloop.classify.baseline import vader_tags
from mailloop.evaluate import default_set_path, load_roster, load_set, roster_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()

    path = default_set_path()
    examples = load_set(path)
    roster = load_roster(roster_for(path))

    t0 = time.perf_counter()
    clf = Classifier(reps=roster.reps, topics=roster.topics)
    clf.classify("warm-up: loads the VADER lexicon and the word list")
    build = time.perf_counter() - t0

    messages = [(examples[i % len(examples)].text, examples[i % len(examples)].subject)
                for i in range(args.count)]
    chars = sum(len(t) for t, _ in messages)
    per: list[float] = []
    t0 = time.perf_counter()
    for text, subject in messages:
        s = time.perf_counter()
        clf.classify(text, subject=subject)
        per.append(time.perf_counter() - s)
    total = time.perf_counter() - t0

    t0 = time.perf_counter()
    for text, _ in messages:
        vader_tags(text)
    vader_total = time.perf_counter() - t0

    per.sort()
    print(f"messages            {args.count:,} ({chars / args.count:.0f} characters on average)")
    print(f"classifier setup    {build * 1000:.0f} ms (roster of {len(roster.reps)} reps, "
          f"{len(roster.topics)} topics, lexicons)")
    print(f"total               {total:.2f} s  ({args.count / total:,.0f} messages/s)")
    print(f"per message         mean {statistics.mean(per) * 1e3:.3f} ms, "
          f"median {per[len(per) // 2] * 1e3:.3f} ms, p99 {per[int(len(per) * 0.99)] * 1e3:.3f} ms")
    print(f"plain VADER         {vader_total:.2f} s for the same messages (whole text, one call)")


if __name__ == "__main__":
    main()
