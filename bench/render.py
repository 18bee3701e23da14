"""CPU cost of one reply: rendering it, and writing it as bytes.

    PYTHONPATH=. .venv/bin/python bench/render.py [--count 1000] [--rounds 5]

Renders the shipped templates (every name and locale but the team's reports)
with the sample contexts of `mailloop templates check`, varied per reply
(names with accents, hyphens and none, words, long subjects), and prints the
best of `rounds` of milliseconds per reply for `TemplateSet.render_compiled`,
for `make_outgoing` (render and Outgoing) and for `compose.to_bytes`.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailloop.compose import to_bytes
from mailloop.config import load_settings
from mailloop.context import Person, TemplateContext
from mailloop.model import Address, Outgoing
from mailloop.outgoing import make_outgoing
from mailloop.render import TemplateSet
from mailloop.render.samples import sample_contexts
from mailloop.tools import Tools

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["Maria", "Jenny", "Zoë", "Jean-Luc", "", "O'Brien", "李", "Anna", "Bob"]
WORDS = [
    "Jenny on your phone line was wonderful: she sorted out my order {n} in five minutes "
    "and even called back to check. Thank you so much!",
    "I was charged twice for order {n} and nobody has answered my emails for a week. "
    "I want a refund of the second payment. See https://example.com/order/{n}.",
    "The parcel for order #{n} arrived two days late and the box was damaged, but the "
    "support team was lovely about it.\n\nPlease fix the delivery.",
]
MANAGER = Person(name="Dana Lee", first_name="Dana", email="dana.lee@example.com")


def contexts(count: int) -> list[TemplateContext]:
    rng = random.Random(42)
    samples = list(sample_contexts().values())
    out = []
    for i in range(count):
        first = rng.choice(NAMES)
        values = samples[i % len(samples)].model_dump()
        values.update(
            customer=Person(name=f"{first} Customer {i}".strip(), first_name=first,
                            email=f"c{i}@customers.test"),
            words=WORDS[i % len(WORDS)].format(n=i), manager=MANAGER,
            subject=f"Order {i}" if i % 3 else "Re: " + "long subject " * (i % 20),
            received=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * i))
        out.append(TemplateContext.model_validate(values))
    return out


def best(rounds: int, count: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings(ROOT / "config.example.toml")
    tset = TemplateSet(ROOT / "templates")
    keys = sorted(k for k in tset.templates if k[0] not in ("newsletter", "digest"))
    jobs = [(tset.templates[keys[i % len(keys)]], ctx)
            for i, ctx in enumerate(contexts(args.count))]
    tools = Tools(settings=settings, classifier=None, templates=tset,  # type: ignore[arg-type]
                  secret=b"bench")
    now = datetime(2026, 11, 25, tzinfo=UTC)

    def outgoing() -> list[Outgoing]:
        return [make_outgoing(tools, c.name, ctx, Address(ctx.customer.name, ctx.customer.email),
                              key=f"k{i}", locales=[c.locale], conversation="c",
                              in_reply_to="m@customers.test", references=("m@customers.test",))
                for i, (c, ctx) in enumerate(jobs)]

    def render() -> list[object]:
        return [tset.render_compiled(compiled, ctx) for compiled, ctx in jobs]

    def write() -> list[bytes]:
        return [to_bytes(reply, now=now) for reply in replies]

    render()  # warm up: Babel's locale data, the layout's frame
    replies = outgoing()
    for name, run in (("render_compiled", render), ("make_outgoing", outgoing),
                      ("to_bytes", write)):
        print(f"{name:<16} {best(args.rounds, args.count, run):.3f} ms")


if __name__ == "__main__":
    main()
