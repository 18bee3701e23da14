"""A pool of worker processes for the store-free steps of a batch (mailloop/prepare.py).

The daemon handles a batch in order, one message after another, because threading
and the rate limits read the messages before it. What needs nothing but the message
(parse, screen, classify, the reply's languages) is most of the processor time, so
with `[pipeline] workers = N` it runs in N processes ahead of the daemon, which takes
the results in mailbox order as they arrive.

The workers start from a fresh interpreter (the forkserver method), not a fork of the
daemon, which by then runs threads of its own (the SMTP connections, the render
watchdog). If the pool breaks (a worker killed), the daemon prepares the rest of the
batch itself and starts a new pool at the next batch: nothing is lost or repeated.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

from mailloop.classify import Classifier
from mailloop.config import Settings
from mailloop.forkserver import context
from mailloop.mailbox.base import Fetched
from mailloop.prepare import Prepared, prepare

log = logging.getLogger("mailloop")

# Below this many messages a batch is prepared in the daemon's own process: handing
# a few messages to the workers costs more than it saves, and keeps latency low.
MIN_BATCH = 16

_worker: tuple[Settings, Classifier] | None = None


def _start_worker(settings: Settings) -> None:
    global _worker
    # Ctrl-C in a terminal reaches the whole process group; the daemon decides when
    # its workers stop (it finishes the message in hand, then shuts the pool down).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = (settings, Classifier.from_settings(settings))


def _prepare_in_worker(job: tuple[bytes, str, datetime]) -> Prepared:
    assert _worker is not None, "worker started without its settings"
    raw, key, received_at = job
    return prepare(raw, key, received_at, *_worker)


def _ready() -> bool:
    return _worker is not None


class PreparePool:
    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the workers now (each imports mailloop and builds its classifier,
        about half a second) rather than on the first large batch."""
        executor = self._pool()
        for _ in range(self.workers):
            executor.submit(_ready)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context(),
                                                 initializer=_start_worker,
                                                 initargs=(self.settings,))
        return self._executor

    def prepare(self, items: Sequence[Fetched]) -> Iterator[Prepared] | None:
        """The items prepared in order, or None when the batch is too small to share."""
        if len(items) < MIN_BATCH:
            return None
        jobs = [(item.raw, item.key, item.received_at) for item in items]
        # Chunks small enough that the first results come back soon, large enough that
        # the round trips stay cheap.
        chunk = max(1, min(25, len(jobs) // (self.workers * 4)))
        return self._pool().map(_prepare_in_worker, jobs, chunksize=chunk)

    def broken(self, exc: BaseException) -> None:
        """The pool failed mid-batch: drop it; the next batch starts a new one."""
        log.error("worker pool failed (%s: %s); preparing in the daemon's process",
                  type(exc).__name__, exc)
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
