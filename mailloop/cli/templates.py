"""`mailloop templates ...`: list, check, preview, send-test and document the reply templates."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mailloop.cli.common import ConfigOption, settings_or_exit, stderr_console
from mailloop.config import Settings
from mailloop.context import Person
from mailloop.model import Address, Credit, Inbound, Outgoing, Tags, ThreadRef
from mailloop.render.check import check_settings, uses
from mailloop.render.templateset import TemplateError, TemplateSet

app = typer.Typer(help="The reply templates: list, check, preview, send a test, document.",
                  no_args_is_help=True)

# The bundled sample feedback a preview uses when given no message.
SAMPLE_FOR = {"ack_smile": "01-praise-rep.eml", "ack_ofora": "02-complaint-billing.eml",
              "ack_neutral": "07-question.eml"}
DEFAULT_SAMPLE = "01-praise-rep.eml"
SAMPLE_MESSAGE = "Thank you so much for taking the time to tell us. It made our week!"


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="templates")


# ---- list ---------------------------------------------------------------------------


@app.command("list")
def list_templates(
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Every template: name, locale, path, last modified, and what uses it."""
    settings = settings_or_exit(config)
    tset = TemplateSet.from_settings(settings, strict=False)
    used = uses(settings)
    rows: list[dict[str, Any]] = []
    for (name, locale), compiled in sorted(tset.templates.items(),
                                           key=lambda item: (item[0][0], item[0][1] !=
                                                             tset.default_locale, item[0][1])):
        path = compiled.source.path
        rows.append({
            "name": name,
            "locale": locale,
            "path": str(path),
            "html_path": str(compiled.source.html_path) if compiled.source.html_path else None,
            "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(
                timespec="seconds"),
            "used_by": used.get(name, []),
        })
    if fmt == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("name", "locale", "path", "modified", "used by", box=None)
    for row in rows:
        table.add_row(row["name"], row["locale"], row["path"] + (" (+ .html)" if row[
            "html_path"] else ""), row["modified"], ", ".join(row["used_by"]) or "-")
    Console().print(table)
    for error in tset.errors:
        stderr_console().print(f"[red]{error}[/]", highlight=False)


# ---- check --------------------------------------------------------------------------


def run_check(settings: Settings, console: Console) -> int:
    """Print every problem; return the number of errors."""
    tset, problems = check_settings(settings)
    for problem in problems:
        colour = "red" if problem.is_error else "yellow"
        console.print(f"[{colour}]{problem}[/]", highlight=False, soft_wrap=True)
    errors = sum(p.is_error for p in problems)
    console.print(f"templates: {len(tset.templates)} in {len(tset.locales())} locales "
                  f"({', '.join(tset.locales())}) in {settings.templates_path}, set {tset.hash}: "
                  f"{errors} errors, {len(problems) - errors} warnings", highlight=False)
    return errors


@app.command("check")
def check(config: ConfigOption = None) -> None:
    """Render every template in every locale against the sample contexts; exit 1 on errors."""
    settings = settings_or_exit(config)
    if run_check(settings, Console()):
        raise typer.Exit(1)


# ---- preview and send-test ----------------------------------------------------------


def _inbound_from_doc(doc: dict[str, object]) -> tuple[Inbound, Tags, ThreadRef | None]:
    def strs(key: str) -> tuple[str, ...]:
        value = doc.get(key) or []
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    tags = strs("tags")
    credits = doc.get("credits") or []
    msg = Inbound(
        key=str(doc["key"]), message_id=str(doc.get("message_id", "")),
        content_hash=str(doc.get("content_hash", "")),
        received_at=datetime.fromisoformat(str(doc["received_at"])),
        sender=Address(str(doc.get("sender_name", "")), str(doc.get("sender", ""))),
        subject=str(doc.get("subject", "")), text=str(doc.get("text", "")),
        in_reply_to=strs("in_reply_to"), references=strs("references"),
        content_language=str(doc["language"]) if doc.get("language") else None)
    tag_value = Tags(smile="smile" in tags, ofora="ofora" in tags, topics=strs("topics"),
                     credits=tuple(Credit(str(c["rep"]), bool(c["credited"]), str(c["reason"]))
                                   for c in credits if isinstance(c, dict))
                     if isinstance(credits, list) else ())
    conversation = doc.get("conversation")
    ref = ThreadRef(str(conversation), "message_id", False) if conversation else None
    return msg, tag_value, ref


def build_reply(settings: Settings, name: str, *, locale: str | None, message: Path | None,
                stored: str | None, now: datetime) -> Outgoing:
    """The reply the daemon would send, through the same code path."""
    from mailloop.classify import Classifier
    from mailloop.language import customer_locales
    from mailloop.outgoing import context_for, customer_reply_to, make_outgoing
    from mailloop.parse import parse
    from mailloop.samples import sample_files
    from mailloop.store import open_store
    from mailloop.store.base import Batch
    from mailloop.thread import thread
    from mailloop.tokens import load_secret
    from mailloop.tools import Tools
    from mailloop.view import BatchView

    tools = Tools(settings=settings, classifier=Classifier.from_settings(settings),
                  templates=TemplateSet.from_settings(settings), secret=load_secret(settings))
    store = open_store(settings)
    try:
        view = BatchView(store, Batch())
        if stored is not None:
            doc = store.message(stored)
            if doc is None:
                stderr_console().print(f"[red]no stored message with key {stored!r}[/]")
                raise typer.Exit(2)
            msg, tags, ref = _inbound_from_doc(doc)
        else:
            if message is not None:
                raw, key = message.read_bytes(), f"file:{message}"
                received = datetime.fromtimestamp(message.stat().st_mtime, UTC)
            else:
                wanted = SAMPLE_FOR.get(name, DEFAULT_SAMPLE)
                raw = dict(sample_files())[wanted]
                key, received = f"sample:{wanted}", now
            msg = parse(raw, key=key, received_at=received)
            # A message the daemon already handled: previewed exactly as it was answered.
            for known in view.messages_by_message_id(msg.message_id):
                if known.get("content_hash") == msg.content_hash:
                    msg = parse(raw, key=str(known["key"]),
                                received_at=datetime.fromisoformat(str(known["received_at"])))
                    break
            tags = tools.classifier.classify(msg.text, subject=msg.subject)
            ref = thread(msg, view)
    finally:
        store.close()
    to = msg.reply_to or msg.sender
    if to is None:
        stderr_console().print("[red]the message has no sender address to reply to[/]")
        raise typer.Exit(2)
    context = context_for(msg, ref, tags, settings)
    if not name.startswith("ack_"):  # staff replies: a manager and their words
        manager = settings.managers[0] if settings.managers else None
        context = context.model_copy(update={
            "manager": Person(name=manager.name, first_name=manager.name.split()[0],
                              email=manager.email) if manager else
            Person(name="Dana Lee", first_name="Dana", email="dana.lee@example.com"),
            "message": SAMPLE_MESSAGE,
            "note": f"Your thank-you was sent to {to.email}.",
        })
    # as the pipeline renders an acknowledgement (mailloop.pipeline._render)
    try:
        return make_outgoing(
            tools, name, context, to, key=msg.key,
            locales=[locale] if locale else customer_locales(msg.text, msg.content_language),
            conversation=ref.conversation_id if ref else None, in_reply_to=msg.message_id,
            references=(*msg.references, msg.message_id),
            reply_to=customer_reply_to(tools, ref, now))
    except TemplateError as exc:
        stderr_console().print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None


MessageOption = Annotated[Path | None, typer.Option(
    "--message", help="A raw email file (.eml) to render the reply to.", exists=True,
    dir_okay=False)]
StoredOption = Annotated[str | None, typer.Option(
    "--stored", help="The store key of a received message (see `mailloop status`, the store).")]
LocaleOption = Annotated[str | None, typer.Option(
    "--locale", help="Render this locale (its fallback chain applies) instead of the "
                     "customer's language.")]


@app.command("preview")
def preview(
    name: Annotated[str, typer.Argument(help="Template name, e.g. ack_ofora.")],
    locale: LocaleOption = None,
    message: MessageOption = None,
    stored: StoredOption = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML part here.")]
    = None,
    eml: Annotated[Path | None, typer.Option("--eml", help="Write the whole message here.")]
    = None,
    config: ConfigOption = None,
) -> None:
    """Exactly what the customer would get: headers, subject and text part (HTML to a file)."""
    from mailloop.compose import to_email

    settings = settings_or_exit(config)
    out = build_reply(settings, name, locale=locale, message=message, stored=stored,
                      now=datetime.now(UTC))
    mail = to_email(out, now=datetime.now(UTC))
    for header, value in mail.items():
        print(f"{header}: {value}")
    print()
    print(out.text, end="")
    if html is not None:
        html.write_text(out.html or "", encoding="utf-8")
        stderr_console().print(f"HTML part written to {html}")
    if eml is not None:
        eml.write_bytes(mail.as_bytes())
        stderr_console().print(f"message written to {eml}")


def staff_addresses(settings: Settings) -> set[str]:
    return {a.casefold() for a in (*(r.email for r in settings.reps),
                                   *(m.email for m in settings.managers),
                                   *settings.templates.test_recipients)}


@app.command("send-test")
def send_test(
    name: Annotated[str, typer.Argument(help="Template name, e.g. ack_ofora.")],
    to: Annotated[str, typer.Option("--to", help="A staff address: a manager, a rep, or one "
                                                 "in [templates] test_recipients.")],
    locale: LocaleOption = None,
    message: MessageOption = None,
    config: ConfigOption = None,
) -> None:
    """Send a rendered reply to a staff address through the configured delivery, subject
    prefixed [TEST]. Never recorded as a reply."""
    from mailloop.compose import to_bytes
    from mailloop.delivery.base import Envelope
    from mailloop.factory import make_delivery
    from mailloop.model import ReplyState

    settings = settings_or_exit(config)
    if to.strip().casefold() not in staff_addresses(settings):
        stderr_console().print(f"[red]{to} is not a staff address: send tests only to managers, "
                          "reps or [templates] test_recipients[/]", highlight=False)
        raise typer.Exit(2)
    now = datetime.now(UTC)
    out = build_reply(settings, name, locale=locale, message=message, stored=None, now=now)
    test = dataclasses.replace(
        out, to=(Address("", to.strip()),), subject=f"[TEST] {out.subject}",
        message_id=f"mailloop.test.{uuid.uuid4().hex[:24]}@{out.sender.domain}",
        in_reply_to=None, references=(), answers=None)
    delivery = make_delivery(settings)
    try:
        result = delivery.send([Envelope(test.message_id, test.sender.email, (to.strip(),),
                                         to_bytes(test, now=now))])[0]
    finally:
        delivery.close()
    if result.state is not ReplyState.SENT:
        stderr_console().print(f"[red]not sent ({result.state.value}): {result.response}[/]",
                          highlight=False)
        raise typer.Exit(1)
    print(f"sent {name} ({out.locale}) to {to} via {delivery.name}: {test.subject}")


# ---- docs ---------------------------------------------------------------------------


@app.command("docs")
def docs(
    output: Annotated[Path, typer.Option("--output", help="The page to update.")] =
    Path("docs/templates.md"),
    check_only: Annotated[bool, typer.Option("--check", help="Exit 1 if the page is out of "
                                                             "date instead of writing it.")]
    = False,
) -> None:
    """Regenerate the field reference in docs/templates.md from the TemplateContext model."""
    from mailloop.render.docs import update_page

    current = output.read_text(encoding="utf-8") if output.exists() else ""
    updated = update_page(current)
    if check_only:
        if updated != current:
            stderr_console().print(f"{output} is out of date: run `mailloop templates docs`")
            raise typer.Exit(1)
        return
    output.write_text(updated, encoding="utf-8")
    print(f"wrote {output}")

