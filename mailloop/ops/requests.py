"""Operator requests carried out by the running daemon, the only writer of its store.

A command that changes the store while the daemon runs leaves a request file in
`<state_dir>/requests/ops/`, wakes the daemon with SIGUSR1 and waits for the result
file the daemon writes beside it. When no daemon runs, the command carries the
request out itself, through the same handler. (`mailloop outbox resend` uses the
ledger's own request files in `<state_dir>/requests/`.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailloop.store.tinydb import atomic_write

if TYPE_CHECKING:
    from mailloop.config import Settings
    from mailloop.daemon import Daemon

log = logging.getLogger("mailloop")

OPS_DIR = Path("requests") / "ops"
Handler = Callable[["Daemon", dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


class RequestError(Exception):
    """The request cannot be carried out; the message says why."""


def handler(action: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[action] = fn
        return fn
    return register


def running_daemon(settings: Settings) -> int | None:
    """The pid of the daemon running on this state folder, or None."""
    path = settings.state_path / "status.json"
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8")).get("pid") or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # another user's process (a systemd DynamicUser): it is running
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        if cmdline.exists() and b"mailloop" not in cmdline.read_bytes():
            return None  # the pid now belongs to another program
    return pid


def submit(settings: Settings, pid: int, action: str, params: dict[str, Any], *,
           wait: float = 120.0) -> dict[str, Any]:
    """Hand a request to the running daemon and wait for its result."""
    folder = settings.state_path / OPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    request, result = folder / f"{name}.json", folder / f"{name}.result"
    atomic_write(request, json.dumps({"action": action, **params}).encode("utf-8"))
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + wait
    while not result.exists():
        if time.monotonic() > deadline:
            raise RequestError(f"the daemon (pid {pid}) has not carried out the request in "
                               f"{wait:.0f} s; it stays queued in {request}")
        time.sleep(0.1)
    answer: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    result.unlink(missing_ok=True)
    if "error" in answer:
        raise RequestError(str(answer["error"]))
    return answer


def perform(daemon: Daemon, action: str, params: dict[str, Any]) -> dict[str, Any]:
    # The handlers live beside their commands; importing them registers them.
    from mailloop.ops import parked, privacy  # noqa: F401

    fn = HANDLERS.get(action)
    if fn is None:
        raise RequestError(f"unknown request {action!r}")
    return fn(daemon, params)


def run_requests(daemon: Daemon) -> None:
    """A daemon task: carry out waiting requests, oldest first."""
    folder = daemon.settings.state_path / OPS_DIR
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        try:
            request = json.loads(path.read_text(encoding="utf-8"))
            action = str(request.pop("action"))
            log.info("operator request: %s", action)
            answer = perform(daemon, action, request)
        except Exception as exc:  # a bad request must not stop the daemon
            log.error("request %s refused: %s", path.name, exc)
            answer = {"error": str(exc)}
        atomic_write(path.with_suffix(".result"), json.dumps(answer).encode("utf-8"))
        path.unlink(missing_ok=True)
