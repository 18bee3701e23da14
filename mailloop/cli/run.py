"""`mailloop run`: the daemon."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from mailloop.cli.common import ConfigOption, settings_or_exit, setup_logging
from mailloop.config import Settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.samples import seed_inbox
from mailloop.store import open_store

log = logging.getLogger("mailloop")


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Process what is waiting, then exit.")]
    = False,
    seed: Annotated[bool, typer.Option(help="On first start of an empty Maildir inbox, "
                                             "deliver the sample feedback into it.")] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    """Run the daemon: read the mailbox, tag, acknowledge and record every message."""
    setup_logging(log_level.upper())
    settings = settings_or_exit(config)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    if seed:
        _seed(settings)
    store = open_store(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=make_delivery(settings),
                    store=store)

    def _stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: finishing the message in hand, then stopping",
                 signal.Signals(signum).name)
        daemon.stop()

    def _reload(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP received: reloading the templates")
        # off the signal handler: a reload renders every sample, which takes a moment
        threading.Thread(target=daemon.reload_templates, kwargs={"force": True},
                         name="template-reload", daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)
    # `mailloop outbox resend` leaves a request and wakes the daemon with SIGUSR1.
    signal.signal(signal.SIGUSR1, lambda signum, frame: daemon.wake())
    try:
        daemon.run(once=once, idle_timeout=settings.mailbox.idle_timeout)
    finally:
        store.close()
        daemon.mailbox.close()
        daemon.delivery.close()
    log.info("stopped")


def _seed(settings: Settings) -> None:
    if settings.mailbox.kind != "maildir":
        return
    count = seed_inbox(settings.inbox_path, settings.store_path)
    if count:
        log.info("first start: delivered %d sample feedback emails into %s", count,
                 settings.inbox_path)
