"""The daemon: the thin shell that owns the connections and drives the steps.

One cycle: fetch a batch from the mailbox, run each message through the pure
pipeline, write every decision (and the mailbox checkpoint) in one store commit,
tell the mailbox they are done, then send what is due through the reply ledger:
planned -> sending -> sent | deferred | failed. A reply found in `sending` at
start-up was interrupted mid-send: it is checked against the transport, never
blindly sent again.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailloop.classify import Classifier
from mailloop.config import Settings
from mailloop.delivery.base import Delivery
from mailloop.ledger import Ledger
from mailloop.mailbox.base import Fetched, FetchResult, Mailbox, Processed
from mailloop.model import VerdictKind
from mailloop.ops.parked import raw_path
from mailloop.outcome import Outcome
from mailloop.pipeline import process
from mailloop.prepare import Prepared, prepare
from mailloop.records import iso, record_outcome
from mailloop.render import TemplateSet
from mailloop.render.live import LiveTemplates
from mailloop.store.base import Batch, Repository
from mailloop.store.tinydb import atomic_write
from mailloop.systemd import notify
from mailloop.tokens import load_secret
from mailloop.tools import Tools
from mailloop.view import BatchView
from mailloop.workers import PreparePool

log = logging.getLogger("mailloop")

BACKOFF_START = 1.0  # seconds
BACKOFF_CAP = 60.0


@dataclass
class CycleStats:
    fetched: int = 0
    processed: int = 0
    duplicates: int = 0
    parked: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    more: bool = False
    outcomes: list[Outcome] = field(default_factory=list)


Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class _Ahead:
    """The next batch, fetched and handed to the workers while this one is committed."""

    after: dict[str, Any]  # the checkpoint it was fetched after
    result: FetchResult
    pool: PreparePool
    prepared: Iterator[Prepared] | None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(self, settings: Settings, *, mailbox: Mailbox, delivery: Delivery,
                 store: Repository, templates: TemplateSet | LiveTemplates | None = None,
                 classifier: Classifier | None = None, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.mailbox = mailbox
        self.delivery = delivery
        self.store = store
        self.clock = clock
        self.tools = Tools(
            settings=settings,
            classifier=classifier or Classifier.from_settings(settings),
            templates=templates or LiveTemplates.from_settings(settings),
            secret=load_secret(settings),
        )
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()  # set by stop() and wake(): ends a mailbox wait
        self.started_at = clock()
        self.last_error: str | None = None
        # Who claims replies in a shared store: stable for this process, readable by people.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{mailbox.name}"
        self.ledger = Ledger(store, delivery, settings.delivery, clock=clock,
                             state_path=settings.state_path, owner=self.owner)
        # Operations hooks (see mailloop/ops/): tasks run each cycle between receiving and
        # sending; observers see each cycle's stats and each status written.
        self.tasks: list[Callable[[Daemon], None]] = []
        self.observers: list[Callable[[CycleStats], None]] = []
        self.status_observers: list[Callable[[dict[str, object]], None]] = []
        self.status_extra: dict[str, object] = {}
        # Liveness for the systemd watchdog: the loop's last beat, and the end of its wait.
        self.beat_at = time.monotonic()
        self.waiting_until = 0.0
        self.ledger.observers.append(self._beat)
        # Workers build their classifier from the settings, so an injected one (a
        # test's) keeps everything in this process.
        self._classifier_from_settings = classifier is None
        self.pool: PreparePool | None = None
        self._current_pool()
        self._next: _Ahead | None = None

    # ---- the loop ------------------------------------------------------------

    def run(self, *, once: bool = False, idle_timeout: float = 30.0) -> None:
        """Process mail until stopped. A failing connection or store is retried with
        capped exponential backoff and jitter, and logged once per change of state."""
        log.info("watching %s; replies go to %s", self.mailbox.name, self.delivery.name)
        if self.pool is not None:
            self.pool.start()
        # What lives as long as the process (the store's index, the templates, the
        # lexicons) leaves the collector's sight: each collection then walks what the
        # current batch allocated, not 100,000 index entries.
        gc.collect()
        gc.freeze()
        try:
            self._loop(once=once, idle_timeout=idle_timeout)
        finally:
            try:
                self.ledger.close()  # the chunk still in flight, if any, is settled
            finally:
                if self.pool is not None:
                    self.pool.close()

    def _loop(self, *, once: bool, idle_timeout: float) -> None:
        backoff = BACKOFF_START
        connected = False
        ready = False
        while not self.stop_event.is_set():
            self.beat_at = time.monotonic()
            try:
                if not connected:
                    self.mailbox.connect()
                    connected = True
                    self.recover()
                if not ready:
                    ready = True
                    notify("READY=1", f"STATUS=watching {self.mailbox.name}")
                stats = self.cycle(overlap=True)
                for observe in self.observers:
                    observe(stats)
                if self.last_error is not None:
                    log.info("recovered: %s is reachable again", self.mailbox.name)
                    self.last_error = None
                backoff = BACKOFF_START
                self.write_status()
                if stats.more:
                    continue
                if once:
                    break
                self.wake_event.clear()
                if not self.stop_event.is_set():
                    wait = self.ledger.wait_time(idle_timeout)
                    self.waiting_until = time.monotonic() + wait + 30
                    self.mailbox.wait(wait, self.wake_event)
                    self.waiting_until = 0.0
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if problem != self.last_error:
                    log.error("%s; retrying with backoff (logged again only if it changes)",
                              problem)
                self.last_error = problem
                self.write_status()
                if not ready:  # systemd waits for READY: tell it the daemon is up, retrying
                    ready = True
                    notify("READY=1", f"STATUS=retrying: {problem[:200]}")
                connected = False
                self._safe_close()
                if once and self.stop_event.wait(0):
                    break
                pause = backoff * random.uniform(0.5, 1.0)
                self.waiting_until = time.monotonic() + pause + 30
                self.stop_event.wait(pause)
                self.waiting_until = 0.0
                backoff = min(BACKOFF_CAP, backoff * 2)
                if once and backoff >= BACKOFF_CAP:
                    raise
        self._safe_close()
        self.write_status()

    def _safe_close(self) -> None:
        try:
            self.mailbox.close()
        except Exception as exc:  # closing a broken connection may fail too; nothing to do
            log.debug("closing %s: %s", self.mailbox.name, exc)

    def cycle(self, *, overlap: bool = False) -> CycleStats:
        """Receive a batch, then send what is due. With `overlap`, while more mail is
        waiting the last chunk of replies goes out in the background as the next batch
        is processed; it is settled at the next send (see ledger.py)."""
        stats = self.receive()
        for task in self.tasks:
            task(self)
        sent, deferred, failed = self.send_due(wait=not (overlap and stats.more))
        stats.sent += sent
        stats.deferred += deferred
        stats.failed += failed
        self.send_scheduled()
        return stats

    def send_scheduled(self) -> None:
        """The newsletter and digests due now, each once per period (see reports.schedule)."""
        from mailloop.reports.schedule import run_due

        try:
            run_due(self.settings, self.store, self.delivery, self.tools.templates, self.clock())
        except Exception as exc:  # a report must never stop the mail loop
            log.error("scheduled send failed: %s: %s", type(exc).__name__, exc)

    def stop(self) -> None:
        self.stop_event.set()
        self.wake_event.set()

    def _beat(self, *_: object) -> None:
        self.beat_at = time.monotonic()

    def alive(self) -> bool:
        """Is the loop making progress? (Beat in the last minute, or inside a wait.)"""
        now = time.monotonic()
        return now - self.beat_at < 60 or now < self.waiting_until

    def wake(self) -> None:
        """Stop waiting for mail and run a cycle now (an operator's request is waiting)."""
        self.wake_event.set()

    # ---- receiving -------------------------------------------------------------

    def reload_templates(self, *, force: bool = False) -> None:
        """Pick up edited templates (a SIGHUP forces it); a broken edit keeps the
        last good set serving and shows in status.json until fixed."""
        templates = self.tools.templates
        if isinstance(templates, LiveTemplates):
            error = templates.error
            templates.refresh(force=force)
            if templates.error != error:
                self.write_status()

    @property
    def template_error(self) -> str | None:
        templates = self.tools.templates
        return templates.error if isinstance(templates, LiveTemplates) else None

    def receive(self, limit: int | None = None) -> CycleStats:
        self.reload_templates()
        pool = self._current_pool()
        stats = CycleStats()
        checkpoint = self.store.checkpoint(self.mailbox.name)
        early, self._next = self._next, None
        if early is not None and early.pool is pool and limit is None and checkpoint is not None \
                and all(checkpoint.get(k) == v for k, v in early.after.items()):
            result, ahead = early.result, early.prepared
        else:
            result = self.mailbox.fetch(checkpoint, limit or self.settings.mailbox.batch_size)
            ahead = pool.prepare(result.items) if pool is not None else None
        stats.fetched, stats.more = len(result.items), result.more
        if not result.items and result.checkpoint is None:
            return stats
        batch = Batch()
        view = BatchView(self.store, batch)
        now = self.clock()
        done: list[Processed] = []
        stopped_early = False
        for item in result.items:
            if self.stop_event.is_set():
                # Stopping: record what is done; the rest stays in the mailbox for next time.
                stopped_early = True
                break
            self.beat_at = time.monotonic()
            prepared: Prepared | None = None
            if ahead is not None:
                try:
                    prepared = next(ahead)
                except Exception as exc:  # a broken pool: the daemon prepares the rest
                    assert pool is not None
                    pool.broken(exc)
                    ahead = None
            known = view.message(item.key)
            if known is not None:
                stats.duplicates += 1
                done.append(Processed(item, known.get("tags", []), known["verdict"]["kind"]))
                continue
            outcome = self._process(item, view, now, prepared)
            if outcome is None:
                stats.duplicates += 1
                done.append(Processed(item, (), "duplicate"))
                continue
            record_outcome(outcome, batch, view, mailbox=self.mailbox.name,
                           timezone=self.settings.timezone, now=now)
            if outcome.parked:
                self._park_raw(item)
                stats.parked += 1
            stats.processed += 1
            stats.outcomes.append(outcome)
            done.append(Processed(item, outcome.tags.labels, outcome.verdict.kind.value))
            self._log_outcome(outcome)
        if result.checkpoint is not None and not stopped_early:
            batch.checkpoints[self.mailbox.name] = result.checkpoint
            if pool is not None and result.more and limit is None:
                self._fetch_next(result.checkpoint, pool)
        settled, replies = self.ledger.settle_finished(batch)
        self.store.commit(batch)
        self.ledger.announce(replies)
        stats.sent, stats.deferred, stats.failed = settled.sent, settled.deferred, settled.failed
        self.mailbox.done(done)
        return stats

    def _fetch_next(self, after: dict[str, Any], pool: PreparePool) -> None:
        """Fetch the next batch and hand it to the workers before this one is committed
        and its replies sent, so they are not idle meanwhile. It is used if the next
        cycle starts from the same checkpoint with the same pool; otherwise (a failed
        commit, a stop, a reload) it is dropped and the mailbox read again."""
        try:
            result = self.mailbox.fetch(after, self.settings.mailbox.batch_size)
        except Exception as exc:  # the next cycle's own fetch meets it, and says so
            log.debug("fetching ahead: %s: %s", type(exc).__name__, exc)
            return
        self._next = _Ahead(after, result, pool, pool.prepare(result.items))

    def _current_pool(self) -> PreparePool | None:
        """The worker pool for the settings in force: a reload (SIGHUP) swaps the
        settings between batches, and workers started with the old ones would classify
        by the old roster and rules, so they are replaced."""
        pool = self.pool
        if pool is not None and pool.settings is self.settings:
            return pool
        if pool is not None:
            pool.close()
        workers = self.settings.pipeline.workers if self._classifier_from_settings else 0
        self.pool = PreparePool(self.settings, workers) if workers else None
        return self.pool

    def _process(self, item: Fetched, view: BatchView, now: datetime,
                 prepared: Prepared | None = None) -> Outcome | None:
        if prepared is None:
            prepared = prepare(item.raw, item.key, item.received_at, self.settings,
                               self.tools.classifier)
        msg = prepared.inbound
        # The same message under a new key (a mailbox resync, a copy): never answered twice.
        if not msg.unreadable and view.repo.has_content(msg.content_hash):
            for doc in view.messages_by_message_id(msg.message_id):
                if doc.get("content_hash") == msg.content_hash:
                    log.info("already processed %s (as %s): skipped", item.key, doc["key"])
                    return None
        return process(msg, self.tools, view, now, prepared.early)

    def _park_raw(self, item: Fetched) -> None:
        atomic_write(raw_path(self.settings.state_path, item.key), item.raw)

    def parked_raw(self, key: str) -> bytes | None:
        path = raw_path(self.settings.state_path, key)
        return path.read_bytes() if path.exists() else None

    def _log_outcome(self, outcome: Outcome) -> None:
        msg = outcome.inbound
        who = msg.sender.email if msg.sender else "(no sender)"
        if outcome.parked:
            log.error("parked %s from %s: %s", msg.message_id, who, outcome.error,
                      extra={"message_id": msg.message_id})
            return
        if outcome.verdict.kind is not VerdictKind.ANSWER:
            log.info("%s %s from %s: %s", outcome.verdict.kind.value, msg.message_id, who,
                     outcome.verdict.reason, extra={"message_id": msg.message_id})
            return
        tags = "+".join(outcome.tags.labels) or "neither"
        reps = ", ".join(outcome.tags.credited_reps)
        review = " (for review)" if outcome.tags.review else ""
        planned = ", ".join(r.kind for r in outcome.replies) or "no reply"
        held = f"; held: {'; '.join(outcome.decision.held)}" if outcome.decision and \
            outcome.decision.held else ""
        log.info("%s from %s %r: %s%s %.2f%s -> %s%s", msg.message_id, who, msg.subject[:60],
                 tags, review, outcome.tags.confidence, f" credits {reps}" if reps else "",
                 planned, held, extra={"message_id": msg.message_id})

    # ---- sending ---------------------------------------------------------------

    def recover(self) -> None:
        """Settle replies a previous run left in `sending` (see mailloop/ledger.py)."""
        self.ledger.recover()

    def send_due(self, *, wait: bool = True) -> tuple[int, int, int]:
        self.ledger.run_requests()
        counts = self.ledger.send_due(self.stop_event.is_set, wait=wait)
        return counts.sent, counts.deferred, counts.failed

    # ---- status ----------------------------------------------------------------

    def write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "started_at": iso(self.started_at),
            "heartbeat": iso(self.clock()),
            "mailbox": self.mailbox.status(),
            "delivery": self.delivery.status(),
            "last_error": self.last_error,
            "template_error": self.template_error,
            **self.status_extra,
        }
        for observe in self.status_observers:
            observe(status)
        atomic_write(self.settings.state_path / "status.json",
                     json.dumps(status, indent=2).encode())
