"""Reports on a store filled by running real email files through the loop: two
months of feedback (month edges included) whose truth tests/report_corpus.py seeds."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html

from mailloop.config import Settings, load_settings
from mailloop.daemon import Daemon
from mailloop.factory import make_delivery, make_mailbox
from mailloop.reports import views
from mailloop.reports.features import CSV_COLUMNS
from mailloop.reports.redact import display_name, excerpt, redact
from mailloop.reports.schedule import due_sends
from mailloop.reports.topics import trend
from mailloop.store import open_store
from mailloop.store.tinydb import TinyStore
from tests import report_corpus as corpus

OCT, NOV = date(2026, 10, 1), date(2026, 11, 30)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return corpus.fill(tmp_path_factory.mktemp("reports"))


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    config = Path(settings.base_dir) / "mailloop.toml"
    return subprocess.run([sys.executable, "-m", "mailloop", *args, "--config", str(config)],
                          capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def cli_json(settings: Settings, *args: str) -> dict:  # type: ignore[type-arg]
    done = cli(settings, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def mid(name: str) -> str:
    return corpus.message_id(name)


# ---- Smiles per rep -------------------------------------------------------------------


def test_smiles_per_rep_match_the_seeded_truth(filled: Settings) -> None:
    report = cli_json(filled, "report", "smiles", "--month", "2026-11")
    assert report["month"] == "2026-11"
    rows = {r["name"]: r for r in report["reps"]}
    # Every rep of the roster, zero included, in rank order.
    assert [r["name"] for r in report["reps"]] == ["Jenny Alvarez", "Marcus Chen",
                                                  "Sofia Romano", "Priya Natarajan"]
    got = {n: (r["smiles"], r["previous"], r["change"], r["rank"], r["thanked"],
               r["customers"]) for n, r in rows.items()}
    assert got == {
        # Nov 1 00:10 and Nov 30 23:50 New York both count for November; Ana wrote twice.
        "Jenny Alvarez": (3, 1, 2, 1, 1, 2),
        # One named, one an unnamed Smile a manager credited with `#rep Marcus`.
        "Marcus Chen": (2, 0, 2, 2, 1, 2),
        # Oct 31 23:30 New York (Nov 1 in UTC) counts for October.
        "Sofia Romano": (1, 2, -1, 3, 0, 1),
        "Priya Natarajan": (0, 1, -1, 4, 0, 0),
    }
    assert report["uncredited"] == 1 and report["total"] == 7
    assert report["previous_total"] == 5
    october = cli_json(filled, "report", "smiles", "--month", "2026-10")
    assert {r["name"]: r["smiles"] for r in october["reps"]} == {
        "Sofia Romano": 2, "Jenny Alvarez": 1, "Priya Natarajan": 1, "Marcus Chen": 0}
    assert october["uncredited"] == 1 and october["total"] == 5


def test_quotes_are_short_redacted_and_attributed(filled: Settings) -> None:
    report = cli_json(filled, "report", "smiles", "--month", "2026-11")
    jenny = next(r for r in report["reps"] if r["name"] == "Jenny Alvarez")
    assert 1 <= len(jenny["quotes"]) <= 3
    text = " ".join(q for r in report["reps"] for q in r["quotes"])
    assert "ana.souza@example.org" not in text and "201-3344" not in text
    assert "@" not in text
    assert "— Ana S." in text and "— Bea F." in text
    assert "Souza" not in text
    # One quote per customer: Ana wrote twice, she is quoted once.
    assert sum("— Ana S." in q for q in jenny["quotes"]) == 1
    assert all(len(q) < 200 for q in jenny["quotes"])


def test_incentive_period_and_csv(filled: Settings) -> None:
    period = cli_json(filled, "report", "smiles", "--from", "2026-10", "--to", "2026-11")
    assert period["from"] == "2026-10" and period["to"] == "2026-11"
    assert {r["name"]: r["smiles"] for r in period["reps"]} == {
        "Jenny Alvarez": 4, "Sofia Romano": 3, "Marcus Chen": 2, "Priya Natarajan": 1}
    assert period["uncredited"] == 2 and period["total"] == 12
    done = cli(filled, "report", "smiles", "--month", "2026-11", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == ["month", "rank", "rep", "smiles", "previous", "change", "thanked",
                             "customers", "opt_out", "quote_1", "quote_2", "quote_3"]
    assert [(r["rep"], r["smiles"]) for r in rows] == [
        ("Jenny Alvarez", "3"), ("Marcus Chen", "2"), ("Sofia Romano", "1"),
        ("Priya Natarajan", "0"), ("(uncredited)", "1"), ("(total)", "7")]
    table = cli(filled, "report", "smiles", "--month", "2026-11")
    assert table.returncode == 0 and "Jenny Alvarez" in table.stdout
    assert "[email]" in table.stdout  # printed as text, not taken for markup
    page = cli(filled, "report", "smiles", "--month", "2026-11", "--format", "html")
    assert page.returncode == 0 and "<table" in page.stdout


def test_credit_explain_shows_the_reason(filled: Settings) -> None:
    named = cli_json(filled, "credit", "explain", mid("n-jenny-2"))
    assert named["credits"] == [{"rep": "Jenny Alvarez", "credited": True, "reason": "alias",
                                 "evidence": named["credits"][0]["evidence"]}]
    corrected = cli_json(filled, "credit", "explain", f"<{mid('n-team-2')}>")
    assert [(c["rep"], c["reason"]) for c in corrected["credits"] if c["credited"]] == [
        ("Marcus Chen", "corrected by a manager with #rep")]
    text = cli(filled, "credit", "explain", mid("n-team-1"))
    assert text.returncode == 0 and "credits nobody" in text.stdout
    assert cli(filled, "credit", "explain", "nope@example.org").returncode == 1


# ---- Topics and feature requests --------------------------------------------------------


def test_topics_counts_trends_and_suggestions(filled: Settings) -> None:
    report = cli_json(filled, "report", "topics", "--since", "2026-10-01", "--until",
                      "2026-11-30")
    topics = {t["topic"]: t for t in report["topics"]}
    assert [t["topic"] for t in report["topics"]] == ["billing", "delivery", "app"]
    assert {n: (t["count"], t["customers"], t["trend"], t["series"]) for n, t in
            topics.items()} == {
        # 1 in October, 3 now: at least 3 and twice the trailing mean.
        "billing": (4, 4, "rising", {"2026-10": 1, "2026-11": 3}),
        "delivery": (4, 4, "steady", {"2026-10": 2, "2026-11": 2}),
        # none in the previous three months, 2 now.
        "app": (2, 2, "new", {"2026-10": 0, "2026-11": 2}),
    }
    assert all(1 <= len(t["quotes"]) <= 3 for t in report["topics"])
    assert report["unmatched"] == 7  # dark mode (3), order history export (3), gift card (1)
    suggestions = [(s["count"], s["terms"]) for s in report["suggestions"]]
    assert len(suggestions) == 2
    assert {s[0] for s in suggestions} == {3}
    assert any("dark" in " ".join(t) and "mode" in " ".join(t) for _, t in suggestions)
    assert any("export" in t and "spreadsheet" in t for _, t in suggestions)
    # A re-run (another process) gives the same suggestions.
    again = cli_json(filled, "report", "topics", "--since", "2026-10-01", "--until",
                     "2026-11-30")
    assert again["suggestions"] == report["suggestions"]
    november = cli_json(filled, "report", "topics", "--since", "2026-11-01", "--until",
                        "2026-11-30")
    assert {t["topic"]: t["count"] for t in november["topics"]} == {
        "billing": 3, "delivery": 2, "app": 2}
    assert november["unmatched"] == 6
    csv_out = cli(filled, "report", "topics", "--since", "2026-10-01", "--until", "2026-11-30",
                  "--format", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("topic,count,customers,trend")


def test_a_rule_added_later_sorts_the_past(filled: Settings, tmp_path: Path) -> None:
    rules = [*filled.topics, {"name": "dark-mode", "keywords": ["dark mode"]}]
    settings = load_settings(Path(filled.base_dir) / "mailloop.toml", topics=rules)
    store = open_store(settings)
    try:
        report = views.topics(store, settings, OCT, NOV)
    finally:
        store.close()
    counts = {t.topic: t.count for t in report.topics}
    assert counts["dark-mode"] == 3 and report.unmatched == 4


def test_trend_rules() -> None:
    assert trend(2, [0, 0, 0]) == "new"
    assert trend(1, [0, 0, 0]) == "steady"
    assert trend(3, [1, 1, 1]) == "rising"
    assert trend(3, [2, 2, 1]) == "steady"  # 3 < 2 x 1.67
    assert trend(2, [0, 0, 1]) == "steady"  # twice the mean, but fewer than 3


def test_feature_request_export(filled: Settings) -> None:
    data = cli_json(filled, "export", "feature-requests", "--since", "2026-10-01", "--until",
                    "2026-11-30", "--min-count", "3")
    requests = {r["topic"]: r for r in data["feature_requests"]}
    assert set(requests) == {"billing", "delivery"}  # app has only 2
    billing = requests["billing"]
    assert billing["description"] == "Invoices, double charges and refunds."
    assert (billing["count"], billing["customers"], billing["trend"]) == (4, 4, "rising")
    assert (billing["first_seen"], billing["last_seen"]) == ("2026-10-12", "2026-11-16")
    assert billing["message_ids"] == sorted(mid(m) for m in ("o-bill", "n-bill-1",
                                                             "n-bill-2", "n-bill-3"))
    assert len(billing["quotes"]) == 3
    done = cli(filled, "export", "feature-requests", "--since", "2026-10-01", "--until",
               "2026-11-30")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["topic"] for r in rows] == ["billing", "delivery"]
    assert mid("o-bill") in rows[0]["message_ids"] and mid("o-bill") in rows[0]["body"]
    markdown = cli(filled, "export", "feature-requests", "--since", "2026-10-01", "--until",
                   "2026-11-30", "--min-count", "2", "--format", "markdown").stdout
    assert "## Customer feedback: app" in markdown and f"`{mid('n-app-1')}`" in markdown


# ---- Replies ------------------------------------------------------------------------------


def test_replies_by_kind_and_outcome(filled: Settings) -> None:
    report = cli_json(filled, "report", "replies")
    by_kind = report["by_kind"]
    assert by_kind["ack_ofora"] == {"sent": 17}
    assert sum(by_kind[k].get("sent", 0) for k in by_kind if k.startswith("ack_")) == 30
    assert by_kind["manager_thanks"] == {"sent": 2}
    assert report["acknowledgement_seconds"]["count"] == 30
    assert report["thanks_seconds"]["count"] == 2
    ack = report["acknowledgement_seconds"]
    assert ack["p50"] <= ack["p90"] <= ack["max"]


# ---- The newsletter -----------------------------------------------------------------------


def _newsletters(settings: Settings) -> list[email.message.EmailMessage]:
    found = []
    for path in (settings.outbox_path / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg.get("X-Mailloop-Kind") == "newsletter":
            found.append(msg)
    return found  # type: ignore[return-value]


def test_newsletter_is_one_self_contained_email_sent_once(filled: Settings) -> None:
    # The daemon would send last month's newsletter on its send day...
    on_day = load_settings(Path(filled.base_dir) / "mailloop.toml",
                           newsletter={"to": ["team@example.com"], "send_day": 1})
    store = open_store(on_day)
    december_2 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    try:
        assert [d.record_id for d in due_sends(on_day, store, december_2)] == [
            "newsletter:2026-11"]
    finally:
        store.close()
    done = cli(filled, "newsletter", "--month", "2026-11", "--send")
    assert done.returncode == 0, done.stderr
    (msg,) = _newsletters(filled)
    assert msg["To"].addresses[0].addr_spec == "team@example.com"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert text is not None and html_part is not None
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    html = html_part.get_content()  # type: ignore[attr-defined]
    images = {str(p["Content-ID"]).strip("<>"): p for p in msg.walk()
              if p.get_content_maintype() == "image"}
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert cids and all(c in images for c in cids)
    assert all(p.get_content_type() == "image/png" for p in images.values())
    assert images[cids[0]].get_content()[:8] == b"\x89PNG\r\n\x1a\n"  # type: ignore[attr-defined]
    lowered = html.lower()
    assert "<svg" not in lowered and "data:" not in lowered and "<style" not in lowered
    assert not re.search(r'src="https?:', lowered)
    assert len(html.encode()) < 80 * 1024
    # The table bar chart: one bar per published rep, with the right value.
    tree = lxml_html.fromstring(html)
    bars = {row.get("data-label"): (int(row.xpath("string(td[@class='bar-value'])")),
                                    len(row.xpath(".//td[@class='bar']")))
            for row in tree.xpath("//tr[@class='bar-row']")}
    assert bars == {"Jenny Alvarez": (3, 1), "Marcus Chen": (2, 1), "Sofia Romano": (1, 1),
                    "Priya Natarajan": (0, 1)}
    # Inlined CSS: the headings carry their own style.
    assert tree.xpath("//h1")[0].get("style")
    plain = text.get_content()  # type: ignore[attr-defined]
    assert "Jenny Alvarez" in plain and "billing" in plain and "(rising)" in plain
    assert "@example.org" not in plain and "@example.org" not in html
    # Once per month: the send is recorded, a second --send is refused...
    store = TinyStore(filled.store_path)
    record = store.record("newsletter:2026-11")
    assert record is not None and record["state"] == "sent"
    assert [d.record_id for d in due_sends(on_day, store, december_2)] == []
    again = cli(filled, "newsletter", "--month", "2026-11", "--send")
    assert again.returncode == 1 and "already sent" in again.stderr
    assert len(_newsletters(filled)) == 1
    # ...unless forced.
    forced = cli(filled, "newsletter", "--month", "2026-11", "--send", "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(_newsletters(filled)) == 2


def test_newsletter_team_mode_and_opt_out(filled: Settings, tmp_path: Path) -> None:
    from mailloop.render import TemplateSet
    from mailloop.reports import newsletter

    reps = [r.model_dump() for r in filled.reps]
    reps[0]["opt_out"] = True  # Jenny leaves the published ranking
    settings = load_settings(Path(filled.base_dir) / "mailloop.toml", reps=reps)
    templates = TemplateSet(settings.templates_path)
    store = open_store(settings)
    try:
        letter = newsletter.build(settings, store, templates, "2026-11")
        assert [b.label for b in letter.bars] == ["Marcus Chen", "Sofia Romano",
                                                  "Priya Natarajan"]
        assert "### Jenny Alvarez" not in letter.text
        team = load_settings(Path(filled.base_dir) / "mailloop.toml",
                             newsletter={"team_mode": True, "to": ["team@example.com"]})
        team_letter = newsletter.build(team, store, TemplateSet(team.templates_path),
                                       "2026-11")
    finally:
        store.close()
    assert [(b.label, b.value) for b in team_letter.bars][-2:] == [("Oct 2026", 5),
                                                                  ("Nov 2026", 7)]
    for name in ("Jenny Alvarez", "Marcus Chen", "Sofia Romano", "Priya Natarajan"):
        assert name not in team_letter.text and name not in team_letter.html
    assert "[our colleague]" in team_letter.text


# ---- Digests ------------------------------------------------------------------------------


def _digests(settings: Settings) -> list[email.message.EmailMessage]:
    found = []
    for path in (settings.outbox_path / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg.get("X-Mailloop-Kind") == "digest":
            found.append(msg)
    return found  # type: ignore[return-value]


def test_digests_go_out_once_per_period_and_never_empty(filled: Settings) -> None:
    settings = load_settings(Path(filled.base_dir) / "mailloop.toml", digests=[
        {"name": "billing-lead", "to": ["billing-lead@example.com"], "every": "daily",
         "tags": ["ofora"], "topics": ["billing"], "send_hour": 8},
        {"name": "smiles", "to": ["team@example.com"], "every": "weekly", "tags": ["smile"]},
    ], loop={"targets": {}})  # no stage targets: no overdue conversation fills a digest here
    clock = {"now": datetime(2026, 11, 3, 14, 0, tzinfo=UTC)}  # 09:00 in New York
    store = open_store(settings)
    try:
        daemon = Daemon(settings, mailbox=make_mailbox(settings),
                        delivery=make_delivery(settings), store=store,
                        clock=lambda: clock["now"])
        daemon.send_scheduled()  # Nov 2: one billing OforA; week 44 (Oct 26 - Nov 1): 2 Smiles
        daemon.send_scheduled()  # the same periods again: nothing more
        sent = _digests(settings)
        assert sorted(str(m["Subject"]) for m in sent) == [
            "billing-lead: 1 message on Monday 2 November 2026",
            "smiles: 2 messages in week 44 of 2026"]
        billing = next(m for m in sent if "billing" in str(m["Subject"]))
        body = billing.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "charged twice" in body and mid("n-bill-1") in body
        weekly = next(m for m in sent if "smiles" in str(m["Subject"]))
        weekly_body = weekly.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Sofia Romano" in weekly_body and "Jenny Alvarez" in weekly_body
        # Nov 3 had no billing OforA: the next day's digest is recorded empty, not sent.
        clock["now"] = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
        daemon.send_scheduled()
        assert len(_digests(settings)) == 2
        empty = store.record("digest:billing-lead:2026-11-03")
        assert empty is not None and empty["state"] == "empty"
        assert store.record("digest:billing-lead:2026-11-02")["state"] == "sent"  # type: ignore[index]
        # Before its hour yesterday's digest is not due yet; last week's (never sent) is.
        clock["now"] = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # Tuesday 07:00 in New York
        assert [d.record_id for d in due_sends(settings, store, clock["now"])] == [
            "digest:smiles:2026-W45"]
    finally:
        store.close()


# ---- Redaction ----------------------------------------------------------------------------


def test_redaction_and_names() -> None:
    assert redact("call +44 20 7946 0958 or mail a.b@example.co.uk") == \
        "call [phone] or mail [email]"
    assert redact("order 12345 arrived") == "order 12345 arrived"
    assert display_name("Maria García") == "Maria G."
    assert display_name("García, Maria") == "Maria G."
    assert display_name("") == "a customer"
    assert display_name("maria@example.org") == "a customer"
    long = "Jenny was great. " + "word " * 80
    assert len(excerpt(long, ["Jenny"])) <= 160
