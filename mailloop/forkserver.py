"""The process the daemon's children fork from: the workers (mailloop/workers.py) and
the SMTP sender (mailloop/delivery/process.py). A fresh interpreter, not a fork of the
daemon, which by then runs threads of its own; it imports what they all need once
(mailloop/preload.py, a third of a second), then forks each child at once.

The children's start waits for those imports. `mailloop run` starts the server as soon
as its settings ask for workers, so that it imports on another processor while the
daemon imports and loads the rest; this module imports nothing of mailloop for that.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver


def context() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["mailloop.preload"])
    return ctx


def start() -> None:
    """Start the server now (it is started with the first child otherwise)."""
    context()
    multiprocessing.forkserver.ensure_running()
