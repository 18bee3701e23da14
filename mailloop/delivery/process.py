"""Sending from a process of its own, for a daemon that has cores to spare.

The SMTP client reads a reply line after every command, and each time it needs the
interpreter lock back, which the daemon's main thread holds while it threads and
renders the next batch: in one process the exchanges queue behind that work. With
`[pipeline] workers` set, the daemon hands each chunk of replies to this process,
which owns the SMTP connections (and the Sent folder) and returns one result per
reply, as the transport in the daemon's own process would.

The process starts from a fresh interpreter (forkserver), like the workers. If it
dies mid-chunk, `send` raises: the chunk stays `sending` in the ledger, which asks
the transport at recovery and marks what it cannot settle `uncertain`, as after a
crash of the whole daemon; nothing is sent twice. The next call starts a new one.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from mailloop.config import Settings
from mailloop.delivery.base import Delivery, Envelope
from mailloop.delivery.smtp import server_port, transport_name
from mailloop.factory import make_delivery
from mailloop.forkserver import context
from mailloop.model import SendResult

log = logging.getLogger("mailloop")

T = TypeVar("T")

_delivery: Delivery | None = None


class SenderDied(Exception):
    """The sending process ended while it had a chunk in hand."""


def _start_sender(settings: Settings) -> None:
    global _delivery
    # Ctrl-C in a terminal reaches the whole process group; the daemon decides when
    # its sender stops (after the chunk in hand is recorded).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _delivery = make_delivery(settings)


def _in_sender() -> Delivery:
    assert _delivery is not None, "sender started without its settings"
    return _delivery


def _ready() -> bool:
    return _delivery is not None


def _send(envelopes: list[Envelope]) -> tuple[list[SendResult], dict[str, Any]]:
    delivery = _in_sender()
    return delivery.send(envelopes), delivery.status()


def _already_sent(message_id: str) -> bool | None:
    return _in_sender().already_sent(message_id)


def _close() -> None:
    _in_sender().close()


class ProcessDelivery:
    """The transport `settings` asks for, run in a child process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        config = settings.delivery
        self.name = transport_name(config)
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        # Until the first chunk, the status the transport would give before sending.
        self._status: dict[str, Any] = {
            "kind": "smtp", "host": config.host, "port": server_port(config),
            "tls": config.tls, "connections": config.connections, "connected": 0,
            "opened": 0, "sent": 0, "last_error": None}
        # The process starts now, while the daemon gets ready, not on the first reply.
        self._pool().submit(_ready)

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        if not envelopes:
            return []
        results, self._status = self._call(_send, list(envelopes))
        return results

    def already_sent(self, message_id: str) -> bool | None:
        return self._call(_already_sent, message_id)

    def status(self) -> dict[str, Any]:
        """The transport's status as of its last chunk (asking would wait for the chunk
        in hand), and the sending process's id."""
        return {**self._status, "pid": self.pid}

    @property
    def pid(self) -> int | None:
        """The sending process's id, once it runs."""
        processes = getattr(self._executor, "_processes", None) or {}
        return next(iter(processes), None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._executor is None:
            return
        try:
            self._executor.submit(_close).result()
        except (BrokenProcessPool, OSError) as exc:  # QUIT to a dead server, or a dead child
            log.debug("closing the sending process: %s", exc)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError("ProcessDelivery is closed")
        executor = self._pool()
        try:
            return executor.submit(function, *args).result()
        except BrokenProcessPool as exc:
            self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise SenderDied("the sending process ended unexpectedly; replies it had in "
                             "hand are settled at recovery") from exc

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(1, mp_context=context(),
                                                 initializer=_start_sender,
                                                 initargs=(self.settings,))
        return self._executor
