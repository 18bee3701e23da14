"""systemd integration without a dependency: readiness, status and watchdog pings.

`Type=notify` units are told about the daemon through the datagram socket named in
`$NOTIFY_SOCKET` (sd_notify(3)). Outside systemd the variable is unset and every
call here does nothing.

The watchdog is pinged from a small thread, but only while the daemon's loop shows
signs of life: it beat recently, or it is inside a wait whose end is still ahead. A
loop stuck in a call that never returns stops the pings, and systemd restarts it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger("mailloop")


def notify(*fields: str) -> bool:
    """Send `KEY=VALUE` lines to systemd; False when not run under a notify unit."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode("utf-8"))
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", address, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of WatchdogSec), or None when not asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.5, int(usec) / 2_000_000)
    except ValueError:
        return None


class Watchdog:
    """Pings `WATCHDOG=1` every interval while `alive()` says the loop is healthy."""

    def __init__(self, alive: Callable[[], bool], interval: float) -> None:
        self.alive = alive
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    @classmethod
    def start_if_wanted(cls, alive: Callable[[], bool]) -> Watchdog | None:
        interval = watchdog_interval()
        if interval is None:
            return None
        dog = cls(alive, interval)
        dog._thread.start()
        return dog

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.alive():
                notify("WATCHDOG=1")
            else:
                log.warning("the main loop shows no sign of life: watchdog pings stopped")

    def stop(self) -> None:
        self._stop.set()


def monotonic_usec() -> str:
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
