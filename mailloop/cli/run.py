"""`mailloop run`: the daemon."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from mailloop import forkserver
from mailloop.cli import lasting_imports
from mailloop.cli.common import ConfigOption, settings_or_exit, setup_logging, stderr_console
from mailloop.config import ConfigError, Settings
from mailloop.logs import LOG_FORMATS, secrets_of

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
    log_format: Annotated[str | None, typer.Option(
        "--log-format", help="text or json (JSON lines); default: json under journald, "
                             "else text")] = None,
) -> None:
    """Run the daemon: read the mailbox, tag, acknowledge and record every message.

    SIGTERM/SIGINT: finish the message in hand, then stop (exit 0). SIGHUP: reload the
    configuration and the templates.
    """
    if log_format is not None and log_format not in LOG_FORMATS:
        raise typer.BadParameter(f"{log_format!r}: expected text or json",
                                 param_hint="--log-format")
    redactor = setup_logging(log_level.upper(), log_format)
    settings = settings_or_exit(config)
    if settings.pipeline.workers:
        forkserver.start()  # it imports mailloop on another processor while this one does
    with lasting_imports():  # the daemon's, after the settings: see mailloop/forkserver.py
        from mailloop.daemon import Daemon
        from mailloop.factory import make_delivery, make_mailbox
        from mailloop.ops.metrics import Metrics
        from mailloop.ops.privacy import RetentionTask
        from mailloop.ops.reload import reload
        from mailloop.ops.requests import run_requests
        from mailloop.store import open_store
        from mailloop.systemd import Watchdog, notify
    redactor.set_secrets(secrets_of(settings))
    settings.state_path.mkdir(parents=True, exist_ok=True)
    if seed:
        _seed(settings)
    store = open_store(settings)
    # With worker processes, the SMTP connections get a process of their own as well.
    delivery = make_delivery(settings, own_process=settings.pipeline.workers > 0)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=delivery, store=store)
    daemon.tasks.append(run_requests)
    daemon.tasks.append(RetentionTask())
    metrics = None
    if settings.metrics.enabled:
        try:
            metrics = Metrics(daemon)
            metrics.serve(settings.metrics.address, settings.metrics.port)
        except (ConfigError, OSError) as exc:
            store.close()
            stderr_console().print(f"[bold red]metrics:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None

    def _stop(signum: int, frame: FrameType | None) -> None:
        if daemon.stop_event.is_set():
            log.info("%s received again: still finishing the message in hand",
                     signal.Signals(signum).name)
            return
        log.info("%s received: finishing the message in hand, then stopping",
                 signal.Signals(signum).name)
        notify("STOPPING=1", "STATUS=stopping")
        daemon.stop()

    def _reload(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP received: reloading the configuration and the templates")
        # off the signal handler: a reload renders every sample, which takes a moment
        threading.Thread(target=reload, args=(daemon, config, redactor),
                         name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)
    # `mailloop outbox resend` leaves a request and wakes the daemon with SIGUSR1.
    signal.signal(signal.SIGUSR1, lambda signum, frame: daemon.wake())
    watchdog = Watchdog.start_if_wanted(daemon.alive)
    try:
        daemon.run(once=once, idle_timeout=settings.mailbox.idle_timeout)
    finally:
        if watchdog is not None:
            watchdog.stop()
        store.close()
        daemon.mailbox.close()
        daemon.delivery.close()
        if metrics is not None:
            metrics.close()
    log.info("stopped")


def _seed(settings: Settings) -> None:
    from mailloop.samples import seed_inbox

    if settings.mailbox.kind != "maildir":
        return
    count = seed_inbox(settings.inbox_path, settings.store_path)
    if count:
        log.info("first start: delivered %d sample feedback emails into %s", count,
                 settings.inbox_path)
