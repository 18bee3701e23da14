"""Benchmark: how long `report smiles`, `report topics` and the feature-request
export take on stores of 10,000 and 100,000 messages.

    PYTHONPATH=. .venv/bin/python bench/reports.py [--sizes 10000 100000] [--keep DIR]

Prints figures; it is not a test. Each store is generated directly through the
store's commit API, in batches, with documents shaped as the loop writes them
(docs/store.md): twelve months of messages, about a third Smiles (most crediting a
rep of a roster of 40), half OforAs (most matching a topic rule, the rest in a few
themes for the clustering), an acknowledgement reply for each message with its
complete raw email, and manager thank-yous for some Smiles. Each timing opens the
store afresh (as a command does) and runs the report over the latest month (Smiles)
or the default six-month window (topics, export).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mailloop.config import Rep, Settings, TopicRule
from mailloop.reports import views
from mailloop.reports.periods import add_months, month_range
from mailloop.reports.source import MonthFiles
from mailloop.store.base import Batch, Doc
from mailloop.store.tinydb import TinyStore

LAST_MONTH = "2026-11"
MONTHS = month_range(add_months(LAST_MONTH, -11), LAST_MONTH)
BATCH = 2000

FIRST = ["Jenny", "Sofia", "Priya", "Marcus", "Omar", "Lena", "Tom", "Aiko", "Raj", "Nina"]
LAST = ["Alvarez", "Romano", "Natarajan", "Chen"]
REPS = [Rep(name=f"{f} {s}", email=f"{f}.{s}@example.com".lower())
        for f in FIRST for s in LAST]
TOPICS = [
    TopicRule(name="billing", keywords=["invoice", "charged twice", "refund", "bill"],
              description="Invoices, double charges and refunds."),
    TopicRule(name="delivery", keywords=["delivery", "parcel", "package", "courier"]),
    TopicRule(name="app", keywords=["app", "crash", "login", "password"]),
    TopicRule(name="returns", keywords=["return label", "returns"]),
    TopicRule(name="stock", keywords=["out of stock", "back in stock"]),
]
PRAISE = ["{rep} on your phone line was wonderful and sorted out my order in minutes.",
          "I want to thank {rep} for being so patient with me yesterday, a real star.",
          "{rep} went above and beyond to help me with my account. Brilliant service!"]
TEAM = ["Your whole team was brilliant this week, thank you all.",
        "Thanks for the quick and friendly help, much appreciated."]
COMPLAINTS = {
    "billing": "I was charged twice for my order and still have no refund. Please fix it.",
    "delivery": "The parcel arrived a week late and the box was crushed, very disappointing.",
    "app": "The app keeps crashing when I try to log in, this is so frustrating.",
    "returns": "The return label you sent does not print and the returns page is broken.",
    "stock": "Everything I want is out of stock again and there is no way to be told.",
}
THEMES = ["There is no dark mode on the website and the white screen hurts my eyes at night.",
          "I cannot export my order history to a spreadsheet, please add an export.",
          "The gift card balance expired without any warning email, that is unfair.",
          "The loyalty points from my last purchase never showed up on my account."]
FILLER = (" I have been a customer for years and I usually like shopping with you."
          " Could someone please look at this when you have a moment? Kind regards.")
RAW = "X" * 2400  # an acknowledgement as sent: headers, text and HTML parts


def settings(path: Path) -> Settings:
    return Settings(state_dir=str(path), reps=REPS, topics=TOPICS, base_dir=str(path))


def message(i: int, month: str, rng: random.Random) -> tuple[Doc, list[Doc]]:
    day = rng.randint(1, 28)
    at = datetime(int(month[:4]), int(month[5:]), day, rng.randint(0, 23), rng.randint(0, 59),
                  tzinfo=UTC)
    key = f"maildir:bench-{i}"
    roll = rng.random()
    tags: list[str] = []
    credits: list[Doc] = []
    topics: list[str] = []
    if roll < 0.35:
        tags = ["smile"]
        if rng.random() < 0.85:
            rep = rng.choice(REPS).name
            text = rng.choice(PRAISE).format(rep=rep)
            credits = [{"rep": rep, "credited": True, "reason": "name", "evidence": rep}]
        else:
            text = rng.choice(TEAM)
    elif roll < 0.85:
        tags = ["ofora"]
        if rng.random() < 0.7:
            topic = rng.choice(TOPICS).name
            topics = [topic]
            text = COMPLAINTS[topic]
        else:
            text = rng.choice(THEMES)
    else:
        text = "What time do you open on Sunday? And do you deliver to the islands?"
    text += FILLER
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    sender = f"customer{rng.randint(1, 40_000)}@example.org"
    doc: Doc = {
        "key": key, "mailbox": "maildir:/var/inbox", "message_id": f"bench-{i}@example.org",
        "content_hash": f"{i:064x}", "received_at": at.isoformat(), "month": month,
        "date_header": at.isoformat(), "sender": sender, "sender_name": name,
        "subject": "Feedback", "text": text, "in_reply_to": [], "references": [],
        "language": None, "size": 2000 + len(text), "problems": [],
        "verdict": {"kind": "answer", "rule": "feedback", "reason": "a person wrote"},
        "conversation": f"c{i:011d}", "thread_by": "new", "tags": tags, "topics": topics,
        "credits": credits, "confidence": 0.95, "review": False, "review_reasons": [],
        "evidence": [], "decision": tags[0] if tags else "neither", "held": [],
        "replies": [f"ack-{i}@example.com"], "status": "done",
        "processed_at": at.isoformat(),
    }
    sent = (at + timedelta(seconds=rng.randint(5, 300))).isoformat()
    replies = [{
        "id": f"ack-{i}@example.com", "kind": f"ack_{tags[0] if tags else 'neutral'}",
        "template": "ack", "locale": "en", "template_hash": "0" * 16, "state": "sent",
        "history": [{"state": "planned", "at": at.isoformat()},
                    {"state": "sending", "at": sent}, {"state": "sent", "at": sent}],
        "to": [sender], "customer": sender, "subject": "Re: Feedback", "answers": key,
        "conversation": doc["conversation"], "created_at": at.isoformat(), "month": month,
        "attempts": 1, "next_try": None, "mail_from": "feedback@example.com", "raw": RAW,
    }]
    if credits and rng.random() < 0.5:
        replies.append({**replies[0], "id": f"thanks-{i}@example.com", "kind": "manager_thanks",
                        "history": [{"state": "sent", "at": (at + timedelta(hours=5))
                                     .isoformat()}]})
    return doc, replies


def generate(path: Path, count: int) -> float:
    rng = random.Random(count)
    store = TinyStore(path / "mailloop.json")
    started = time.perf_counter()
    per_month = count // len(MONTHS)
    i = 0
    for month in MONTHS:
        for start in range(0, per_month, BATCH):
            batch = Batch()
            for _ in range(min(BATCH, per_month - start)):
                doc, replies = message(i, month, rng)
                batch.put_message(doc)
                for reply in replies:
                    batch.put_reply(reply)
                i += 1
            store.commit(batch)
    store.close()
    return time.perf_counter() - started


def timed(path: Path, run: str) -> tuple[float, str]:
    cfg = settings(path)
    started = time.perf_counter()
    store = MonthFiles(path / "mailloop.json")  # what the commands read through
    until = date(2026, 11, 30)
    since = views.default_window(until)[0]
    if run == "report smiles":
        report = views.smiles(store, cfg, LAST_MONTH, LAST_MONTH)
        what = f"{report.total} Smiles, {len(report.reps)} reps"
    elif run == "report topics":
        topics = views.topics(store, cfg, since, until)
        what = (f"{topics.total} OforAs, {len(topics.topics)} topics, "
                f"{topics.unmatched} unmatched -> {len(topics.suggestions)} suggestions")
    else:
        requests = views.features(store, cfg, since, until)
        what = f"{len(requests)} feature requests"
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, help="generate the stores here and keep them")
    args = parser.parse_args()
    for size in args.sizes:
        folder = (args.keep / str(size)) if args.keep else Path(tempfile.mkdtemp())
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if not (folder / "mailloop.json").exists():
                took = generate(folder, size)
                print(f"{size:>7,} messages: store generated in {took:.1f}s")
            for run in ("report smiles", "report topics", "export feature-requests"):
                elapsed, what = timed(folder, run)
                print(f"{size:>7,} messages: {run:<24} {elapsed:6.2f}s  ({what})", flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
