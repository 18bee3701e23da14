"""`mailloop check`: is the configuration usable?"""

from __future__ import annotations

import typer
from rich.console import Console

from mailloop.cli.common import ConfigOption, settings_or_exit
from mailloop.config import Settings
from mailloop.factory import make_delivery, make_mailbox


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(config: ConfigOption = None) -> None:
    """Validate the configuration and the templates; connect to configured servers."""
    console = Console()
    settings = settings_or_exit(config)
    console.print(f"configuration: ok ({len(settings.reps)} reps, {len(settings.managers)} "
                  f"managers, {len(settings.topics)} topics)")
    from mailloop.cli.templates import run_check

    failed = run_check(settings, console)
    failed = not _servers_answer(settings, console) or failed
    if failed:
        raise typer.Exit(1)


def _servers_answer(settings: Settings, console: Console) -> bool:
    """Log in to the configured IMAP and SMTP servers as the daemon would."""
    ok = True
    if settings.mailbox.kind == "imap":
        mailbox = make_mailbox(settings)
        try:
            mailbox.connect()
            backlog = mailbox.status().get("backlog")
            console.print(f"mailbox: ok ({mailbox.name}, backlog {backlog})", highlight=False)
        except Exception as exc:
            console.print(f"[red]mailbox: {mailbox.name}: {exc}[/]", highlight=False)
            ok = False
        finally:
            mailbox.close()
    if settings.delivery.kind == "smtp":
        from mailloop.delivery.smtp import SmtpDelivery

        delivery = make_delivery(settings)
        try:
            assert isinstance(delivery, SmtpDelivery)
            console.print(f"delivery: ok ({delivery.name}: {delivery.probe()})", highlight=False)
        except Exception as exc:
            console.print(f"[red]delivery: {delivery.name}: {exc}[/]", highlight=False)
            ok = False
        finally:
            delivery.close()
    return ok
