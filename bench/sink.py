"""The benchmarks' SMTP server: aiosmtpd on loopback, in a process of its own, so it
does not compete with the client for one interpreter lock. It accepts everything and,
when given a log, notes the time, In-Reply-To and size of each message, one line each.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

_IN_REPLY_TO = re.compile(rb"^In-Reply-To:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


def serve(port: int, ready: Any, log_path: str | None = None) -> None:
    """aiosmtpd on 127.0.0.1:port until the process is stopped; sets `ready` once up."""
    from aiosmtpd.controller import Controller

    out = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 - for life

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if out is not None:
                content = envelope.original_content or envelope.content or b""
                found = _IN_REPLY_TO.search(content.split(b"\r\n\r\n", 1)[0])
                irt = found.group(1).decode() if found else "-"
                out.write(f"{time.time():.6f} {irt} {len(content)}\n")
            return "250 2.0.0 Message accepted for delivery"

    controller = Controller(Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def read_log(path: Path) -> list[tuple[float, str, int]]:
    """The log's lines: (time, In-Reply-To, size)."""
    rows = []
    for line in path.read_text().splitlines():
        ts, irt, size = line.split(" ")
        rows.append((float(ts), irt, int(size)))
    return rows
