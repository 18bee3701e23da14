"""The reply ledger: every reply's way from `planned` to its outcome, in the store.

    planned -> sending -> sent | deferred | failed        (deferred -> sending -> ...)
    sent -> bounced                                       (a delivery report came back)
    sending (found at start-up) -> sent | planned | uncertain

A chunk of replies is written as `sending` (one commit) before any of it is handed
to the transport, and its outcomes are written in one commit after. While a backlog
is worked through, the last chunk of a cycle is sent in the background while the
daemon processes the next batch, and settled in that batch's commit if the send has
finished by then, else at the start of the next send (or before a recovery, or at
exit). So a crash can only leave replies in `sending`, and those are never blindly
sent again:
`recover()` asks the transport (the Maildir outbox file, the Sent folder) and
marks what it cannot settle `uncertain` for an operator, who resends it with
`mailloop outbox resend ID`.

An operator's command must not write the store while the daemon does. When the
daemon is running, `mailloop outbox resend` leaves a request file in
`<state_dir>/requests/` and the daemon carries it out at its next cycle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mailloop.config import DeliveryConfig
from mailloop.delivery.base import Delivery, Envelope
from mailloop.model import ReplyState, SendResult
from mailloop.process import pid_alive
from mailloop.records import due_replies, iso, retry_delay, with_state
from mailloop.store.base import Batch, Doc, Repository
from mailloop.store.tinydb import atomic_write

log = logging.getLogger("mailloop")

SEND_CHUNK = 500  # replies claimed (one commit) and settled (one commit) together
REQUESTS_DIR = "requests"


class LedgerError(Exception):
    """An operator's request cannot be carried out; the message says why."""


@dataclass
class SendCounts:
    sent: int = 0
    deferred: int = 0
    failed: int = 0

    def add(self, other: SendCounts) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed


class Ledger:
    def __init__(self, store: Repository, delivery: Delivery, config: DeliveryConfig, *,
                 clock: Callable[[], datetime], state_path: Path | None = None,
                 owner: str | None = None) -> None:
        # Who claims replies in a shared store: host, pid and mailbox, readable by people.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.store = store
        self.delivery = delivery
        self.config = config
        self.clock = clock
        self.requests_dir = state_path / REQUESTS_DIR if state_path is not None else None
        # Called with each reply as committed after an attempt (metrics, for one).
        self.observers: list[Callable[[Doc], None]] = []
        # A chunk handed to the transport and not yet settled (see send_due(wait=False)).
        self._inflight: tuple[list[Doc], Future[list[SendResult]]] | None = None
        self._sender: ThreadPoolExecutor | None = None

    # ---- after a restart -------------------------------------------------------

    def recover(self) -> list[Doc]:
        """Settle replies a previous run left in `sending`; returns their new docs."""
        self.settle()  # our own chunk in flight is not an interrupted one
        now = self.clock()
        interrupted = [d for d in self.store.replies([ReplyState.SENDING.value])
                       if self._claim_abandoned(d, now)]
        if not interrupted:
            return []
        batch = Batch()
        now = self.clock()
        for doc in interrupted:
            sent = self.delivery.already_sent(doc["id"])
            if sent is True:
                batch.put_reply(with_state(doc, ReplyState.SENT, now,
                                           response="found at the transport after a restart"))
                log.info("reply %s was interrupted mid-send but had gone out: sent", doc["id"])
            elif sent is False:
                batch.put_reply(with_state(doc, ReplyState.PLANNED, now,
                                           error="interrupted before it reached the transport"))
                log.info("reply %s was interrupted before it went out: planned again",
                         doc["id"])
            else:
                batch.put_reply(with_state(doc, ReplyState.UNCERTAIN, now,
                                           error="interrupted mid-send; cannot tell whether it "
                                                 "went out: check, then `mailloop outbox resend`"))
                log.warning("reply %s was interrupted mid-send: marked uncertain", doc["id"])
        self.store.commit(batch)
        return list(batch.replies.values())

    # ---- sending ---------------------------------------------------------------

    def send_due(self, stop: Callable[[], bool] = lambda: False, *,
                 wait: bool = True) -> SendCounts:
        """Send every due reply. With `wait=False` the last chunk is left in flight,
        to be settled by the next call (or `settle()`): the caller gets on with the
        next batch while the transport works. Counts cover what was settled."""
        counts = self.settle()
        due = list(due_replies(self.store.replies([ReplyState.PLANNED.value,
                                                   ReplyState.DEFERRED.value]), self.clock()))
        due.sort(key=lambda d: d.get("created_at", ""))
        for start in range(0, len(due), SEND_CHUNK):
            if stop():
                break
            chunk = due[start:start + SEND_CHUNK]
            if wait or start + SEND_CHUNK < len(due):
                counts.add(self.send_chunk(chunk))
            else:
                self._start(chunk)
        return counts

    def settle(self) -> SendCounts:
        """Wait for the chunk in flight, if any, and commit its outcomes."""
        if self._inflight is None:
            return SendCounts()
        docs, future = self._inflight
        self._inflight = None
        return self._settle(docs, future.result())

    def settle_finished(self, into: Batch) -> tuple[SendCounts, list[Doc]]:
        """If the chunk in flight has been sent, put its outcomes into `into`, a batch
        the caller is about to commit anyway (one commit fewer per cycle), and return
        the counts and the documents, to `announce` once committed. A chunk still being
        sent, or whose send raised, is left to `settle`."""
        if self._inflight is None:
            return SendCounts(), []
        docs, future = self._inflight
        if not future.done() or future.exception() is not None:
            return SendCounts(), []
        self._inflight = None
        counts = self._outcomes(docs, future.result(), into)
        return counts, [into.replies[d["id"]] for d in docs]

    def announce(self, docs: Sequence[Doc]) -> None:
        """Tell the observers about replies whose attempt has been committed."""
        for doc in docs:
            for observe in self.observers:
                observe(doc)

    def close(self) -> None:
        """Settle what is in flight and stop the sending thread."""
        try:
            self.settle()
        finally:
            if self._sender is not None:
                self._sender.shutdown(wait=True)
                self._sender = None

    def _start(self, docs: Sequence[Doc]) -> None:
        claimed = self._claim(docs)
        if not claimed:
            return
        if self._sender is None:
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="mailloop-send")
        self._inflight = (claimed, self._sender.submit(self.delivery.send,
                                                       _envelopes(claimed)))

    def _claim_abandoned(self, doc: Doc, now: datetime) -> bool:
        """Was this `sending` reply left by a daemon that is gone? (Another daemon sharing
        the store may be sending it right now: then it is not ours to settle.)"""
        claim = (doc.get("history") or [{}])[-1]
        owner = str(claim.get("owner") or "")
        if not owner or owner == self.owner:
            return True
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host == socket.gethostname() and pid.isdigit():
            return not pid_alive(int(pid))
        try:
            age = (now - datetime.fromisoformat(str(claim.get("at")))).total_seconds()
        except (TypeError, ValueError):
            return True
        # Longer than a chunk of sends can take, each operation timing out.
        return age > SEND_CHUNK * self.config.timeout + 60

    def send_chunk(self, docs: Sequence[Doc], *, claim: bool = True,
                   **sending_details: Any) -> SendCounts:
        """One attempt for each reply: `sending` committed first, the outcomes after.

        Due replies are claimed through the store, so where daemons share a store each
        reply goes to exactly one of them, and this one sends only what it claimed (as
        stored now, not as read earlier). An operator's resend is sent as asked."""
        self.settle()  # one attempt at a time per reply, in the order they were claimed
        if claim:
            claimed = self._claim(docs)
        else:
            sending = Batch()
            now = self.clock()
            for doc in docs:
                sending.put_reply(with_state(doc, ReplyState.SENDING, now,
                                             attempts=int(doc.get("attempts", 0)) + 1,
                                             owner=self.owner, **sending_details))
            self.store.commit(sending)
            claimed = list(sending.replies.values())
        if not claimed:
            return SendCounts()
        return self._settle(claimed, self.delivery.send(_envelopes(claimed)))

    def _claim(self, docs: Sequence[Doc]) -> list[Doc]:
        """The due replies this daemon now owns, committed as `sending`."""
        return list(self.store.claim_replies([d["id"] for d in docs], self.owner, self.clock()))

    def _settle(self, docs: Sequence[Doc], results: Sequence[SendResult]) -> SendCounts:
        """Commit one attempt's outcomes, in one commit."""
        after = Batch()
        counts = self._outcomes(docs, results, after)
        self.store.commit(after)
        self.announce(list(after.replies.values()))
        return counts

    def _outcomes(self, docs: Sequence[Doc], results: Sequence[SendResult],
                  after: Batch) -> SendCounts:
        """One attempt's outcomes, put into `after`."""
        now = self.clock()
        counts = SendCounts()
        for doc, result in zip(docs, results, strict=True):
            attempts = int(doc["attempts"])
            state = result.state
            detail: dict[str, Any] = {"response": result.response, "refused": dict(result.refused)}
            if state is ReplyState.DEFERRED and attempts >= self.config.max_attempts:
                state = ReplyState.FAILED
                detail["error"] = f"gave up after {attempts} attempts: {result.response}"
            elif state is ReplyState.FAILED:
                detail["error"] = result.response
            elif doc.get("error"):
                detail["error"] = None  # an earlier attempt's error no longer describes it
            if state is ReplyState.DEFERRED:
                detail["next_try"] = iso(now + retry_delay(attempts, self.config.retry_base,
                                                           self.config.retry_cap))
            elif doc.get("next_try"):
                detail["next_try"] = None
            after.put_reply(with_state(doc, state, now, **detail))
            setattr(counts, state.value, getattr(counts, state.value) + 1)
            level = logging.INFO if state is ReplyState.SENT else logging.WARNING
            log.log(level, "%s %s to %s: %s", state.value, doc["kind"], ", ".join(doc["to"]),
                    result.response or detail.get("error", ""), extra={"message_id": doc["id"]})
            for rcpt, why in result.refused.items():
                log.warning("reply %s: recipient %s refused: %s", doc["id"], rcpt, why)
        return counts

    def wait_time(self, idle_timeout: float) -> float:
        """How long the daemon may wait for mail before a deferred reply falls due."""
        stamps = [d["next_try"] for d in self.store.replies([ReplyState.DEFERRED.value])
                  if d.get("next_try")]
        if not stamps:
            return idle_timeout
        due = datetime.fromisoformat(min(stamps))
        return max(1.0, min(idle_timeout, (due - self.clock()).total_seconds() + 0.5))

    # ---- operators -------------------------------------------------------------

    def resend(self, reply_id: str, *, force: bool = False, by: str = "operator") -> Doc:
        """Send one reply again now, as a new attempt in its history."""
        doc = self.store.reply(reply_id)
        if doc is None:
            raise LedgerError(f"no reply with id {reply_id!r} (see `mailloop outbox`)")
        state = doc.get("state")
        if state in (ReplyState.SENT.value, ReplyState.ANSWERED.value) and not force:
            raise LedgerError(f"reply {reply_id} is {state}: resending would duplicate it "
                              "(use --force if the customer really did not get it)")
        if state == ReplyState.SENDING.value:
            raise LedgerError(f"reply {reply_id} is being sent right now")
        self.send_chunk([doc], claim=False, resend=f"requested by {by} in state {state}")
        updated = self.store.reply(reply_id)
        assert updated is not None
        return updated

    def run_requests(self) -> int:
        """Carry out the operators' requests waiting in the state folder."""
        if self.requests_dir is None or not self.requests_dir.is_dir():
            return 0
        done = 0
        for path in sorted(self.requests_dir.glob("*.json")):
            try:
                request = json.loads(path.read_text(encoding="utf-8"))
                if request.get("action") == "resend":
                    doc = self.resend(str(request["id"]), force=bool(request.get("force")),
                                      by="operator (request file)")
                    log.info("resend of %s requested by an operator: %s", doc["id"],
                             doc["state"])
            except LedgerError as exc:
                log.error("request %s refused: %s", path.name, exc)
            except (OSError, ValueError, KeyError) as exc:
                log.error("request %s unreadable: %s", path.name, exc)
            path.unlink(missing_ok=True)
            done += 1
        return done


def _envelopes(docs: Sequence[Doc]) -> list[Envelope]:
    return [Envelope(d["id"], d["mail_from"], tuple(d["to"]),
                     d["raw"].encode("ascii", errors="surrogateescape")) for d in docs]


def request_resend(state_path: Path, reply_id: str, *, force: bool, now: datetime) -> Path:
    """Leave a resend request for the running daemon (carried out by `run_requests`)."""
    folder = state_path / REQUESTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(reply_id.encode()).hexdigest()[:16]
    path = folder / f"resend-{digest}-{os.getpid()}.json"
    atomic_write(path, json.dumps({"action": "resend", "id": reply_id, "force": force,
                                   "at": iso(now)}).encode())
    return path

