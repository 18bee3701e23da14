"""The process the workers fork from (mailloop/workers.py): a fresh interpreter that
imports mailloop.workers once, a third of a second, then forks each worker at once.

The pool's start waits for those imports. `mailloop run` starts the server as soon
as its settings ask for workers, so that it imports on another processor while the
daemon imports and loads the rest; this module imports nothing of mailloop for that.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver


def context() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["mailloop.workers"])
    return ctx


def start() -> None:
    """Start the server now (it is started with the first worker otherwise)."""
    context()
    multiprocessing.forkserver.ensure_running()
