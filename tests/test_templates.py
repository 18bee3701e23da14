"""Reply templates: rendering, safety, checks, preview, send-test, live reload, languages."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError
from typer.testing import CliRunner

from mailloop.cli import app
from mailloop.cli.status import DEGRADED, collect, health
from mailloop.config import Settings, load_settings
from mailloop.context import Company, Person, TemplateContext
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.mailbox.maildir import deliver
from mailloop.render import Rendered, TemplateError, TemplateSet
from mailloop.render.check import check_set, check_settings
from mailloop.render.docs import update_page
from mailloop.render.live import LiveTemplates
from mailloop.render.samples import sample_contexts
from mailloop.store import open_store
from mailloop.store.tinydb import TinyStore
from tests.helpers import email_bytes

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "templates"
NAMES = {"ack_smile", "ack_ofora", "ack_neutral", "manager_notification", "manager_thanks",
         "rep_recognition", "manager_confirmation", "manager_rejected",
         "ofora_notification", "staff_answer", "staff_confirmation", "problem_update",
         "second_chance"}
HOSTILE = "<script>alert(1)</script>{{ 7*7 }}\r\nBcc: victim@example.org"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "mailloop.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    shutil.copytree(SHIPPED, tmp_path / "templates")
    return load_settings(config)


def parse_mail(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def outbox(settings: Settings) -> list[EmailMessage]:
    folder = settings.outbox_path / "new"
    if not folder.exists():
        return []
    return [parse_mail(p.read_bytes()) for p in sorted(folder.iterdir(),
                                                        key=lambda p: p.stat().st_mtime_ns)]


def to_customers(settings: Settings) -> list[EmailMessage]:
    """The replies that went to customers (not the notifications to staff)."""
    staff = {m.email for m in settings.managers} | {r.email for r in settings.reps}
    return [m for m in outbox(settings) if str(m["To"]).split("<")[-1].strip(">") not in staff]


def body(mail: EmailMessage, kind: str) -> str:
    part = mail.get_body((kind,))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def edit(path: Path, text: str) -> None:
    """Write and make sure the mtime moves, however coarse the file system clock."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def context(**values: object) -> TemplateContext:
    base: dict[str, object] = {
        "customer": Person(name="Maria García", first_name="Maria", email="m@example.org"),
        "company": Company(name="Example Co.", signature="The team")}
    base.update(values)
    return TemplateContext.model_validate(base)


# ---- the shipped set ---------------------------------------------------------------


def test_every_shipped_template_renders_in_every_locale_for_every_sample(
        settings: Settings) -> None:
    tset, problems = check_settings(settings)
    assert [str(p) for p in problems] == []
    assert tset.locales() == ["en", "de", "fr"]
    reports = {"newsletter", "digest"}  # the team's reports, in the default locale only
    for locale in tset.locales():
        assert {name for name, loc in tset.templates if loc == locale} - reports == NAMES
    samples = sample_contexts()
    assert len(samples) >= 10
    for (name, _), compiled in tset.templates.items():
        if name in reports:
            continue  # rendered with their own contexts (tests/test_reports.py)
        for sample, ctx in samples.items():
            if sample == "no manager" and not name.startswith("ack_"):
                continue
            out = tset.render_compiled(compiled, ctx)
            assert out.subject and "\n" not in out.subject and len(out.subject) <= 200
            assert out.text.strip() and "<html" in out.html.lower()


def test_text_part_wraps_and_keeps_links_as_footnotes(tmp_path: Path) -> None:
    (tmp_path / "t.md").write_text(
        "Subject: Hi\n\nRead [our status page](https://status.example.com) for news, and "
        "this is a long sentence that will certainly need wrapping somewhere.\n\n"
        "Kind regards,\n{{ company.signature }}\n")
    out = TemplateSet(tmp_path).render("t", context())
    assert "our status page [1]" in out.text
    assert out.text.rstrip().endswith("[1] https://status.example.com")
    assert all(len(line) <= 72 for line in out.text.splitlines())
    assert "Kind regards,\nThe team" in out.text
    assert 'href="https://status.example.com"' in out.html


def test_html_part_has_inlined_css_from_the_layout(tmp_path: Path) -> None:
    (tmp_path / "t.md").write_text("Subject: Hi\n\nHello *there*.\n")
    (tmp_path / "_layout.html").write_text(
        "<html><head><style>p { color: #123456; }</style></head>"
        "<body>{{ body }}</body></html>")
    out = TemplateSet(tmp_path).render("t", context())
    assert 'style="color: #123456;"' in out.html
    assert "<style>" not in out.html


def test_a_hand_written_html_part_replaces_the_generated_one(tmp_path: Path) -> None:
    (tmp_path / "t.md").write_text("Subject: Hi\n\nHello {{ customer.first_name }}.\n")
    (tmp_path / "t.html").write_text("<html><body><h1>Hand made for {{ customer.name }}"
                                     "</h1></body></html>")
    out = TemplateSet(tmp_path).render("t", context(customer=Person(name="<b>x</b>")))
    assert "Hand made for &lt;b&gt;x&lt;/b&gt;" in out.html
    assert "Hello" in out.text


def test_dates_and_numbers_follow_the_template_locale(tmp_path: Path) -> None:
    from datetime import UTC, datetime
    for folder, text in ((tmp_path, "Subject: x\n\n{{ received|date }} {{ 1234.5|number }}\n"),
                         (tmp_path / "de", "Subject: x\n\n{{ received|date }} "
                                           "{{ 1234.5|number }}\n")):
        folder.mkdir(exist_ok=True)
        (folder / "t.md").write_text(text)
    tset = TemplateSet(tmp_path)
    ctx = context(received=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    assert tset.render("t", ctx).text.strip() == "March 1, 2026 1,234.5"
    assert tset.render("t", ctx, ["de"]).text.strip() == "1. März 2026 1.234,5"


# ---- safety ------------------------------------------------------------------------


def test_customer_fields_are_inert_in_subject_text_and_html(settings: Settings) -> None:
    tset = TemplateSet.from_settings(settings)
    ctx = context(customer=Person(name=HOSTILE, first_name=HOSTILE, email="x@example.org"),
                  words=HOSTILE, subject=HOSTILE, tags=["ofora"])
    for name in ("ack_smile", "ack_ofora", "ack_neutral"):
        out = tset.render(name, ctx)
        assert "\r" not in out.subject and "\n" not in out.subject
        assert "{{ 7*7" in out.subject and "49" not in out.subject
        assert "<script>" not in out.html and "&lt;script&gt;" in out.html
        assert "{{ 7*7 }}" in out.text or name != "ack_smile"
        assert "49" not in out.text


def test_hostile_name_cannot_inject_headers_in_the_sent_mail(settings: Settings) -> None:
    settings.inbox_path.mkdir(parents=True, exist_ok=True)
    deliver(settings.inbox_path, email_bytes(
        sender='"<script>x</script> {{ 7*7 }}" <maria@example.org>',
        subject="=?utf-8?q?Hi=0D=0ABcc=3A_victim=40example=2Eorg?=",
        body="Jenny on your phone line was wonderful, thank you so much!"))
    run_once(settings)
    [reply] = to_customers(settings)
    assert reply["Bcc"] is None and "victim" not in str(reply["To"])
    assert "\n" not in str(reply["Subject"])
    assert "<script>" not in body(reply, "html") and "&lt;script&gt;" in body(reply, "html")
    assert "Dear <script>x</script>" in body(reply, "plain")


BROKEN = {
    "undefined name": ("{{ no_such_field }}", "'no_such_field' is not in the template context"),
    "bad attribute": ("{{ customer.nmae }}", "'customer' has no field 'nmae'"),
    # compiling folds `false and ...` away: the check reads the template as written
    "folded away": ("{{ (false and no_such_field) ~ customer.name }}",
                    "'no_such_field' is not in the template context"),
    "syntax error": ("{% if customer.name %}unclosed", "unexpected end of template"),
    "mro": ("{{ ''.__class__.__mro__ }}", "unsafe"),
    "globals": ("{{ cycler.__init__.__globals__ }}", "'cycler' is not in the template context"),
    "attr filter": ("{{ customer|attr('__class__') }}", "unsafe"),
    "format method": ("{{ '{0.__class__}'.format(customer) }}", "unsafe"),
    "format filter": ("{{ '%s'|format(''.__class__) }}", "unsafe"),
    "huge repetition": ("{{ 'a' * 10**9 }}", "too large"),
    "huge padding": ("{{ 'a'|center(1000000000) }}", "too large"),
    "huge format": ("{{ '%999999999s'|format('a') }}", "too large"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_template_fails_check_at_its_file_and_line(settings: Settings, case: str) -> None:
    expression, message = BROKEN[case]
    path = settings.templates_path / "de" / "ack_smile.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(5, expression)  # line 6 of the file
    edit(path, "\n".join(lines) + "\n")
    _, problems = check_settings(settings)
    errors = [p for p in problems if p.is_error]
    assert errors, case
    first = errors[0]
    expected_line = 6 if case != "syntax error" else len(lines)
    assert (first.file, first.line) == (str(path), expected_line), str(first)
    assert message.lower() in first.message.lower(), str(first)
    assert str(first).startswith(f"{path}:{expected_line}: error: ")
    result = CliRunner().invoke(app, ["templates", "check", "--config",
                                      str(settings.base_dir) + "/mailloop.toml"])
    assert result.exit_code == 1
    assert f"{path}:{expected_line}: error:" in result.output.replace("\n", "")


def test_a_dict_key_is_read_as_the_sandbox_reads_it() -> None:
    from mailloop.render.sandbox import environment

    env = environment("en", mode="plain")
    values = {"d": {"name": "Maria", "keys": "not this", "pop": "nor this"}}
    assert env.from_string("{{ d.name }}").render(values) == "Maria"
    # a dict's own attribute wins over its key, and mutating ones stay refused
    assert env.from_string("{{ d.keys == 'not this' }}").render(values) == "False"
    with pytest.raises(SecurityError):
        env.from_string("{{ d.pop('name') }}").render(values)
    assert env.from_string("{{ d.nope is defined }}").render(values) == "False"


def test_a_runaway_loop_is_stopped_by_the_time_budget(tmp_path: Path) -> None:
    (tmp_path / "t.md").write_text("Subject: x\n\nHi\n{% for i in range(10000) %}"
                                   "{% for j in range(10000) %}{% endfor %}{% endfor %}\n")
    (tmp_path / "ok.md").write_text("Subject: ok\n\nFine.\n")
    tset = TemplateSet(tmp_path)
    with pytest.raises(TemplateError) as caught:
        tset.render("t", context(), budget=0.3)
    assert caught.value.line == 4 and "time budget" in caught.value.message
    # the thread goes on rendering normally, and no late interruption lands
    import time
    assert tset.render("ok", context()).text == "Fine.\n"
    time.sleep(0.4)


def test_lint_warnings(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "t.md").write_text(
        "Subject: " + "A very long subject line " * 5 + "\n\nDear {{ customer.first_name }},\n\n"
        "![](https://example.com/logo.png) [help](/help) {{ '{{' }}\n")
    (tmp_path / "u.md").write_text("Subject: u\n\nHello,\n")
    (tmp_path / "de" / "t.md").write_text("Subject: x\n\nHallo,\n")
    os.utime(tmp_path / "de" / "t.md", (1_000_000, 1_000_000))
    problems = [str(p) for p in check_set(TemplateSet(tmp_path))]
    text = "\n".join(problems)
    assert f"{tmp_path / 't.md'}:1: warning: subject is" in text
    assert "warning: empty greeting: 'Dear ,' (sample: no customer name)" in text
    assert "image without alt text" in text
    assert "link is not absolute: '/help'" in text
    assert "leftover '{{' in the text part" in text
    assert f"{tmp_path / 'de' / 'u.md'}:1: warning: missing locale variant" in text
    assert f"{tmp_path / 'de' / 't.md'}:1: warning: translation older than its source" in text
    assert not any(" error: " in p for p in problems)


def test_mailloop_check_runs_the_template_check(settings: Settings) -> None:
    config = str(Path(settings.base_dir) / "mailloop.toml")
    assert CliRunner().invoke(app, ["check", "--config", config]).exit_code == 0
    edit(settings.templates_path / "ack_neutral.md", "Subject: x\n\n{{ nope }}\n")
    result = CliRunner().invoke(app, ["check", "--config", config])
    assert result.exit_code == 1 and "ack_neutral.md:3: error:" in result.output


# ---- languages ---------------------------------------------------------------------


def run_once(settings: Settings, daemon: Daemon | None = None) -> Daemon:
    store = open_store(settings)
    try:
        daemon = daemon or Daemon(settings, mailbox=make_mailbox(settings),
                                  delivery=make_delivery(settings), store=store)
        daemon.store = daemon.ledger.store = store
        daemon.run(once=True)
    finally:
        store.close()
    return daemon


def test_german_gets_german_portuguese_gets_the_fallback(settings: Settings) -> None:
    settings.inbox_path.mkdir(parents=True, exist_ok=True)
    deliver(settings.inbox_path, email_bytes(
        message_id="de@example.de", sender="=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@example.de>",
        subject="Lieferung", body="Meine Bestellung ist seit zwei Wochen unterwegs und niemand "
                                  "kann mir sagen, wo sie ist. Das ist sehr ärgerlich."))
    deliver(settings.inbox_path, email_bytes(
        message_id="pt@example.pt", sender="=?utf-8?q?Jo=C3=A3o_Silva?= <j@example.pt>",
        subject="Encomenda",
        body="A minha encomenda chegou atrasada e ninguém me responde. Estou muito "
             "insatisfeito com o serviço."))
    run_once(settings)
    replies = {str(m["In-Reply-To"]).strip("<>"): m for m in to_customers(settings)}
    german, portuguese = replies["de@example.de"], replies["pt@example.pt"]
    assert "; locale=de; set=" in str(german["X-Mailloop-Template"])
    assert "Hallo Jürgen Müller" in body(german, "plain")
    assert "; locale=en; set=" in str(portuguese["X-Mailloop-Template"])
    assert "Dear João" in body(portuguese, "plain")
    assert german["Content-Language"] == "de" and portuguese["Content-Language"] == "en"
    docs = {d["to"][0]: d for d in TinyStore(settings.store_path).replies()}
    assert docs["j@example.de"]["locale"] == "de" and docs["j@example.pt"]["locale"] == "en"
    assert docs["j@example.de"]["template_hash"] == TemplateSet.from_settings(settings).hash


def test_fallback_chain(tmp_path: Path) -> None:
    for folder in (tmp_path, tmp_path / "fr"):
        folder.mkdir(exist_ok=True)
        (folder / "t.md").write_text(f"Subject: {folder.name}\n\nx\n")
    tset = TemplateSet(tmp_path, "en", {"fr-CA": "fr", "pt-BR": "es"})
    assert tset.chain(["fr_ca"]) == ["fr-CA", "fr", "en"]
    assert tset.chain(["pt-BR"]) == ["pt-BR", "es", "en"]
    assert tset.render("t", context(), ["fr-CA"]).locale == "fr"
    assert tset.render("t", context(), ["pt-BR"]).locale == "en"


# ---- preview and send-test -----------------------------------------------------------


def test_preview_is_the_sent_message_but_for_date_and_message_id(
        settings: Settings, tmp_path: Path) -> None:
    raw = email_bytes(message_id="p1@example.org", subject="Charged twice",
                      body="I was charged twice for my order and nobody answers. "
                           "This is really frustrating.")
    settings.inbox_path.mkdir(parents=True, exist_ok=True)
    deliver(settings.inbox_path, raw)
    run_once(settings)
    [sent_path] = (settings.outbox_path / "new").iterdir()
    sent = sent_path.read_bytes()
    message = tmp_path / "message.eml"
    message.write_bytes(raw)
    eml, html = tmp_path / "preview.eml", tmp_path / "preview.html"
    result = CliRunner().invoke(app, [
        "templates", "preview", "ack_ofora", "--message", str(message), "--eml", str(eml),
        "--html", str(html), "--config", str(Path(settings.base_dir) / "mailloop.toml")])
    assert result.exit_code == 0, result.output

    def strip(data: bytes) -> list[bytes]:
        return [line for line in data.split(b"\r\n")
                if not line.startswith((b"Date:", b"Message-ID:"))]

    assert strip(eml.read_bytes()) == strip(sent)
    assert "Subject: We hear you, Maria, and we are on it" in result.output
    assert "Dear Maria," in result.output
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_preview_from_a_sample_and_a_stored_message(settings: Settings) -> None:
    config = str(Path(settings.base_dir) / "mailloop.toml")
    result = CliRunner().invoke(app, ["templates", "preview", "manager_thanks", "--locale", "fr",
                                      "--config", config])
    assert result.exit_code == 0, result.output
    assert "Avec mes remerciements,\nDana Lee" in result.output
    settings.inbox_path.mkdir(parents=True, exist_ok=True)
    deliver(settings.inbox_path, email_bytes(message_id="s1@example.org",
                                             body="Jenny was wonderful, thank you so much!"))
    run_once(settings)
    [doc] = list(TinyStore(settings.store_path).iter_messages())
    result = CliRunner().invoke(app, ["templates", "preview", "ack_smile", "--stored", doc["key"],
                                      "--config", config])
    assert result.exit_code == 0, result.output
    assert "passed your words on to Jenny" in result.output


def test_send_test_goes_to_staff_only_and_is_not_recorded(settings: Settings) -> None:
    config = str(Path(settings.base_dir) / "mailloop.toml")
    refused = CliRunner().invoke(app, ["templates", "send-test", "ack_smile", "--to",
                                       "customer@example.org", "--config", config])
    assert refused.exit_code == 2 and outbox(settings) == []
    result = CliRunner().invoke(app, ["templates", "send-test", "ack_ofora", "--to",
                                      "dana.lee@example.com", "--config", config])
    assert result.exit_code == 0, result.output
    [mail] = outbox(settings)
    assert str(mail["Subject"]).startswith("[TEST] ")
    assert str(mail["To"]) == "dana.lee@example.com"
    assert not settings.store_path.exists() or TinyStore(settings.store_path).replies() == []


def test_list_json(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["templates", "list", "--format", "json", "--config",
                                      str(Path(settings.base_dir) / "mailloop.toml")])
    rows = json.loads(result.output)
    assert {(r["name"], r["locale"]) for r in rows} == {(n, loc) for n in NAMES
                                                        for loc in ("en", "de", "fr")} | {
        ("newsletter", "en"), ("digest", "en")}  # the team's reports: one language
    smile = next(r for r in rows if r["name"] == "ack_smile" and r["locale"] == "en")
    assert smile["path"].endswith("templates/ack_smile.md")
    assert "rule when=smile" in smile["used_by"] and smile["modified"]


# ---- live reload -------------------------------------------------------------------


def test_edits_reach_the_next_reply_and_broken_edits_never_do(settings: Settings) -> None:
    settings.inbox_path.mkdir(parents=True, exist_ok=True)
    praise = "Jenny on your phone line was wonderful, thank you so much!"
    store = open_store(settings)
    daemon = Daemon(settings, mailbox=make_mailbox(settings), delivery=make_delivery(settings),
                    store=store)
    store.close()
    deliver(settings.inbox_path, email_bytes(message_id="a@example.org", body=praise))
    run_once(settings, daemon)
    path = settings.templates_path / "ack_smile.md"
    good = path.read_text().replace("Messages like yours make our day.",
                                    "Your note made the whole team smile.")
    edit(path, good)
    deliver(settings.inbox_path, email_bytes(message_id="b@example.org", body=praise,
                                             sender="Ann Lee <ann@example.org>"))
    run_once(settings, daemon)
    edit(path, good.replace("{{ company.signature }}", "{{ company.signatur }}"))
    deliver(settings.inbox_path, email_bytes(message_id="c@example.org", body=praise,
                                             sender="Bob Ray <bob@example.org>"))
    run_once(settings, daemon)
    texts = [" ".join(body(m, "plain").split()) for m in to_customers(settings)]
    assert len(texts) == 3
    assert "make our day" in texts[0]
    assert "made the whole team smile" in texts[1] and "made the whole team smile" in texts[2]
    status = collect(settings)
    assert status["template_error"].startswith(f"{path}:14: 'company' has no field 'signatur'")
    assert health(status) >= DEGRADED
    result = CliRunner().invoke(app, ["status", "--config",
                                      str(Path(settings.base_dir) / "mailloop.toml")])
    assert "template error" in result.output and "signatur" in result.output
    # fixed: the error clears
    edit(path, good)
    daemon.reload_templates(force=True)
    assert daemon.template_error is None
    assert json.loads((settings.state_path / "status.json").read_text())["template_error"] is None


def test_live_templates_start_with_a_broken_set_and_park_only_its_failures(
        settings: Settings) -> None:
    edit(settings.templates_path / "ack_ofora.md", "Subject: x\n\n{{ broken.x }}\n")
    live = LiveTemplates.from_settings(settings)
    assert live.error is not None and "ack_ofora.md:3" in live.error
    assert isinstance(live.render("ack_smile", context()), Rendered)
    with pytest.raises(TemplateError):
        live.render("ack_ofora", context())


# ---- docs --------------------------------------------------------------------------


def test_docs_field_table_matches_the_context_model() -> None:
    page = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
    assert update_page(page) == page, "run `mailloop templates docs`"
    for field in TemplateContext.model_fields:
        assert f"| `{field}` |" in page
