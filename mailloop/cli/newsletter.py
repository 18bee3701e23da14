"""`mailloop newsletter`: build, preview and send the monthly newsletter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mailloop.cli.common import ConfigOption, settings_or_exit, stderr_console
from mailloop.cli.reporting import fail, month_option, reading, write
from mailloop.render import TemplateError, TemplateSet
from mailloop.store import open_store


def register(app: typer.Typer) -> None:
    app.command("newsletter")(newsletter)


def newsletter(
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: last "
                                                              "month)")] = None,
    preview: Annotated[Path | None, typer.Option("--preview", help="Write the HTML here "
                                                                   "(the chart beside it) "
                                                                   "to open in a browser.")]
    = None,
    send: Annotated[bool, typer.Option("--send", help="Send it to [newsletter] to, once per "
                                                      "month.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --send: send again although "
                                                        "this month's was sent.")] = False,
    config: ConfigOption = None,
) -> None:
    """The month's Smiles per rep (chart, quotes) and OforA topics, as one email."""
    from mailloop.factory import make_delivery
    from mailloop.reports import newsletter as builder
    from mailloop.reports.schedule import AlreadySent, send_newsletter

    settings = settings_or_exit(config)
    chosen = month_option(month, settings, default_offset=-1)
    if force and not send:
        raise fail("--force only goes with --send")
    try:
        templates = TemplateSet(settings.templates_path, settings.templates.default_locale)
    except TemplateError as exc:
        raise fail(str(exc)) from None
    with reading(settings) as (source, track):
        try:
            letter = builder.build(settings, source, templates, chosen, track)
        except TemplateError as exc:
            raise fail(str(exc)) from None
        if preview is not None:
            image = preview.with_suffix(".png")
            preview.parent.mkdir(parents=True, exist_ok=True)
            image.write_bytes(letter.png)
            preview.write_text(letter.html.replace(f"cid:{letter.cid}", image.name),
                               encoding="utf-8")
            stderr_console().print(f"preview: {preview} (chart: {image})", highlight=False)
        if not send:
            if preview is None:
                write(f"Subject: {letter.subject}\n\n{letter.text}")
            return
    delivery = make_delivery(settings)
    store = open_store(settings)
    try:
        state = send_newsletter(settings, store, delivery, templates, chosen,
                                datetime.now(UTC), force=force)
    except AlreadySent as exc:
        raise fail(str(exc), 1) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()
        delivery.close()
    if state != "sent":
        raise fail(f"the newsletter for {chosen} could not be sent ({state}); see the log", 1)
    stderr_console().print(f"sent the newsletter for {chosen} to "
                      f"{', '.join(settings.newsletter.to)}", highlight=False)
