"""A follow-up campaign killed at random points: no customer gets two, none is missed.

The campaign runs as its own process (`mailloop followup SLUG`) on the embedded
default and is SIGKILLed at random moments, again and again, then run to the
end. Whatever the moment (importing, planning, committing, sending, recording
the outcome), every customer linked to the problem ends with exactly one second
chance in the outbox, one `followup:` record and one reply that was sent once.
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from mailloop.config import load_settings
from mailloop.mailbox.maildir import deliver
from mailloop.store.tinydb import TinyStore
from tests.helpers import email_bytes
from tests.loop_story import cli
from tests.test_lifecycle import make_config, run_once

ROOT = Path(__file__).resolve().parent.parent
SLUG = "double-charge"
CUSTOMERS = 40
KILLS = 55


def _campaign(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "mailloop", "followup", SLUG, "--config",
                             str(config), *extra], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _timed(config: Path, *extra: str) -> float:
    started = time.monotonic()
    proc = _campaign(config, *extra)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    return time.monotonic() - started


def _phase(folder: Path) -> str:
    """Where the campaign was when it was killed, read from the store it left."""
    store = TinyStore(load_settings(folder / "mailloop.toml").store_path)
    try:
        states = Counter(r["state"] for r in store.replies() if r["kind"] == "second_chance")
    finally:
        store.close()
    if not states:
        return "before planning"
    if states.get("sending"):
        return "sending"
    if states.get("planned"):
        return "planned, not sent"
    return "all sent"


def phases_left(folder: Path) -> bool:
    """True when the campaign has nothing left to do in `folder`."""
    return _phase(folder) == "all sent"


def _check(folder: Path) -> None:
    settings = load_settings(folder / "mailloop.toml")
    received: Counter[str] = Counter()
    for path in (settings.outbox_path / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(msg["X-Mailloop-Template"]).startswith("second_chance"):
            received[msg["To"].addresses[0].addr_spec] += 1  # type: ignore[union-attr]
    assert received == Counter({f"c{i}@example.org": 1 for i in range(CUSTOMERS)})
    store = TinyStore(settings.store_path)
    try:
        records = store.records("followup:")
        assert sorted(r["customer"] for r in records) == sorted(received)
        for record in records:
            reply = store.reply(record["reply"])
            assert reply is not None and reply["state"] == "sent", reply
            assert [h["state"] for h in reply["history"]].count("sent") == 1
        chances = [r for r in store.replies() if r["kind"] == "second_chance"]
        assert len(chances) == CUSTOMERS
    finally:
        store.close()


def test_a_campaign_killed_at_random_points_sends_each_follow_up_once(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    config = make_config(base)
    settings = load_settings(config)
    for i in range(CUSTOMERS):
        deliver(settings.inbox_path, email_bytes(
            sender=f"Customer {i} <c{i}@example.org>", subject=f"Charged twice ({i})",
            body="I was charged twice for my subscription. This is not acceptable.",
            message_id=f"c{i}@example.org"))
    run_once(settings)
    cli(config, "problem", "open", SLUG, "--title", "Charged twice", "--match", "charged twice")
    cli(config, "problem", "fixed", SLUG, "--note", "Fixed the payment retry.")

    # How long the process takes to start and plan (a dry run), and a whole campaign: the
    # kills are aimed between the two, where the campaign writes and sends.
    first = tmp_path / "uninterrupted"
    shutil.copytree(base, first)
    ready = min(_timed(first / "mailloop.toml", "--dry-run") for _ in range(2))
    full = _timed(first / "mailloop.toml")
    _check(first)

    rng = random.Random(11)
    kills = rounds = 0
    phases: Counter[str] = Counter()
    while kills < KILLS:
        rounds += 1
        folder = tmp_path / f"round{rounds}"
        shutil.copytree(base, folder)
        journal = folder / "var" / "mailloop.d" / "index.jsonl"
        for attempt in range(3):
            if attempt and (phases_left(folder) or rng.random() < 0.5):
                break  # nothing left to interrupt, or enough for this round
            size = journal.stat().st_size
            proc = _campaign(folder / "mailloop.toml")
            if rng.random() < 0.3:  # anywhere from the start
                time.sleep(rng.uniform(0.5 * ready, full))
            else:  # inside the campaign: once it first writes the store, then a little later
                while proc.poll() is None and journal.stat().st_size == size:
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0, max(0.01, 0.6 * (full - ready))))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                proc.wait(timeout=120)
                phases[_phase(folder)] += 1
            proc.wait(timeout=120)
        proc = _campaign(folder / "mailloop.toml")
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        _check(folder)
        shutil.rmtree(folder)
    assert kills >= KILLS
    print(f"{kills} kills in {rounds} rounds (start {ready:.2f}s, whole {full:.2f}s); "
          f"killed while: {dict(phases)}")
    # The kills landed in the campaign itself, not only before or after it.
    assert phases["planned, not sent"] + phases["sending"] >= 3, phases
