"""Facts about processes on this host."""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import BaseContext


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_context() -> BaseContext:
    """Child processes start from a fresh interpreter (forkserver), not a fork of the
    daemon, which by then runs threads of its own."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mailloop.preload"])
    return context
