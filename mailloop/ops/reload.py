"""SIGHUP: read the configuration and the templates again, without a restart.

A configuration that does not load is refused with one clear error and the
running one kept (status shows it as `config_error` until a good one loads).
What a running daemon can take on at once: the roster, topics, rules, screening,
classifier, staff, company, templates and retention. Changes to the connections
themselves ([mailbox], [delivery], [store], state_dir, [metrics]) are logged and
take effect at the next restart.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mailloop.classify import Classifier
from mailloop.config import ConfigError, load_settings
from mailloop.logs import Redactor, secrets_of
from mailloop.render.live import LiveTemplates
from mailloop.systemd import monotonic_usec, notify
from mailloop.tokens import load_secret
from mailloop.tools import Tools

if TYPE_CHECKING:
    from mailloop.daemon import Daemon

log = logging.getLogger("mailloop")

RESTART_ONLY = ("state_dir", "mailbox", "delivery", "store", "metrics")
_lock = threading.Lock()


def reload(daemon: Daemon, config: Path | None, redactor: Redactor | None = None) -> bool:
    """Load the configuration again and switch to it; False when it was refused."""
    with _lock:
        notify("RELOADING=1", monotonic_usec())
        try:
            return _reload(daemon, config, redactor)
        finally:
            notify("READY=1", f"STATUS=watching {daemon.mailbox.name}")


def _reload(daemon: Daemon, config: Path | None, redactor: Redactor | None) -> bool:
    old = daemon.settings
    try:
        new = load_settings(config)
        templates = daemon.tools.templates
        same_templates = isinstance(templates, LiveTemplates) and (
            new.templates_path, new.templates.default_locale, new.templates.fallback,
            new.company) == (old.templates_path, old.templates.default_locale,
                             old.templates.fallback, old.company)
        if not same_templates:
            templates = LiveTemplates.from_settings(new)
        tools = Tools(settings=new, classifier=Classifier.from_settings(new),
                      templates=templates, secret=load_secret(new))
    except ConfigError as exc:
        log.error("configuration not reloaded, the running one is kept: %s", exc)
        daemon.status_extra["config_error"] = str(exc)
        daemon.write_status()
        return False
    except Exception as exc:  # a roster the classifier cannot use, an unreadable folder
        problem = f"{type(exc).__name__}: {exc}"
        log.error("configuration not reloaded, the running one is kept: %s", problem)
        daemon.status_extra["config_error"] = problem
        daemon.write_status()
        return False
    later = [name for name in RESTART_ONLY if getattr(new, name) != getattr(old, name)]
    if later:
        log.warning("changed %s: takes effect at the next restart",
                    ", ".join(f"[{n}]" if n != "state_dir" else n for n in later))
    daemon.settings = new
    daemon.tools = tools
    if redactor is not None:
        redactor.set_secrets([*secrets_of(old), *secrets_of(new)])
    if isinstance(templates, LiveTemplates) and same_templates:
        daemon.reload_templates(force=True)
    daemon.status_extra.pop("config_error", None)
    daemon.write_status()
    log.info("configuration reloaded from %s", config or "the environment")
    return True
