"""The story of issue #11, told once and run on any transport pair.

Three customers complain about the same billing problem (one of them twice); the
acknowledgements go out; a staff member answers one OforA notification by email
with `#problem double-charge` and a personal answer; `problem open` links the
others by phrase; `problem fixed`; `followup --dry-run` lists three customers;
`followup` sends three; again sends nothing; one customer opts out through
List-Unsubscribe and gets no later `problem notify`; one answers the second
chance with praise and becomes a champion; `report loop` shows the counts.

`Mail` is what differs between transports: how a message reaches the feedback
mailbox, and what the customers and staff have received.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from typer.testing import CliRunner

from mailloop.cli import app
from tests.helpers import email_bytes

FEEDBACK = "feedback@example.com"
STAFF = "billing-lead@example.com"
SLUG = "double-charge"


@dataclass
class Mail:
    """The transports under test, as the story sees them."""

    feedback: str  # the feedback address (our from_address)
    customers: dict[str, str]  # short name -> address
    staff: str  # the billing lead's address
    send: Callable[[bytes], None]  # deliver a message to the feedback mailbox
    received: Callable[[], list[EmailMessage]]  # everything mailloop sent, as received
    run: Callable[[], None]  # one daemon cycle


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def template(msg: EmailMessage) -> str:
    return str(msg.get("X-Mailloop-Template", "")).split(";")[0]


def to(msg: EmailMessage) -> str:
    return str(msg["To"].addresses[0].addr_spec)


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def cli(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


COMPLAINTS = [
    ("ana", "Charged twice", "I was charged twice for my subscription this month. This is "
     "not acceptable, please fix it."),
    ("ben", "Double payment", "Your billing system took my payment twice! I was charged twice "
     "and nobody answers. Very disappointed."),
    ("cara", "Invoice wrong", "Again I was charged twice on my invoice. I am really annoyed."),
    ("ana", "Billing mess", "My card was billed twice for one payment. That is a disgrace, I "
     "want my money back."),
]


def story(mail: Mail, config: Path) -> dict[str, object]:
    """Run the whole story; assert each step; return the final loop report."""
    c = mail.customers

    def sent(kind: str, address: str | None = None) -> list[EmailMessage]:
        return [m for m in mail.received() if template(m) == kind
                and (address is None or to(m) == address)]

    # 1. Three customers complain, one of them twice; every complaint is acknowledged and
    #    the billing lead is told about each.
    for i, (who, subject, text) in enumerate(COMPLAINTS):
        mail.send(email_bytes(sender=f"{who.title()} Example <{c[who]}>", to=mail.feedback,
                              subject=subject, body=text, message_id=f"complaint{i}@example.org"))
    mail.run()
    assert sorted(to(m) for m in sent("ack_ofora")) == sorted(c[w] for w, _, _ in COMPLAINTS)
    notes = sent("ofora_notification", mail.staff)
    assert len(notes) == 4
    # 2. The billing lead answers Ben's notification from their mail client.
    (note,) = [m for m in notes if c["ben"].split("@")[0] in body(m)
               or "Ben Example" in str(m["Subject"])]
    quoted = "\n".join("> " + line for line in body(note).splitlines())
    answer = ("#problem double-charge\n\nDear Ben, I am so sorry: our payment provider took "
              "your payment twice. I have refunded the second charge today.\n\n--\nBill Okafor"
              f"\n\nOn Wed, Customer Care <{mail.feedback}> wrote:\n{quoted}\n")
    mail.send(email_bytes(sender=f"Bill Okafor <{mail.staff}>",
                          to=note["Reply-To"].addresses[0].addr_spec,
                          subject="Re: " + str(note["Subject"]), body=answer,
                          message_id="staff-answer@example.com",
                          headers={"In-Reply-To": str(note["Message-ID"])}))
    mail.run()
    (personal,) = sent("staff_answer", c["ben"])
    assert personal["From"].addresses[0].display_name == "Bill Okafor"
    assert personal["From"].addresses[0].addr_spec == mail.feedback
    assert "refunded the second charge" in body(personal)
    assert "#problem" not in body(personal) and "> " not in body(personal)
    (confirmation,) = sent("staff_confirmation", mail.staff)
    assert "double-charge" in body(confirmation)

    # 3. The problem is opened: the other two customers' complaints are linked by phrase.
    out = cli(config, "problem", "open", SLUG, "--title", "Some customers were charged twice",
              "--topic", "billing", "--match", "charged twice", "--match", "billed twice",
              "--by", "dana")
    assert "linked 3 more conversation(s), 4 in all" in out
    moved = json.loads(cli(config, "conversations", "--state", "moved", "--format", "json"))
    assert len(moved) == 4
    # 4. It is fixed.
    cli(config, "problem", "fixed", SLUG, "--note", "We found the bug in our payment retry "
        "and refunded every second charge.", "--ref", "BILL-142", "--by", "dana")
    problems = json.loads(cli(config, "problem", "list", "--format", "json"))
    assert problems[0]["status"] == "fixed" and problems[0]["customers"] == 3

    # 5. The dry run lists three customers, not four messages.
    dry = json.loads(cli(config, "followup", SLUG, "--dry-run", "--format", "json"))
    assert sorted(r["address"] for r in dry["recipients"]) == sorted(set(c.values()))
    assert dry["skipped"] == []
    ana = next(r for r in dry["recipients"] if r["address"] == c["ana"])
    assert len(ana["conversations"]) == 2
    shown = cli(config, "followup", SLUG, "--dry-run", "--offer", "a month free")
    assert "3 would get it" in shown and "a month free" in shown
    assert sent("second_chance") == []

    # 6. The follow-up goes out: three messages; run again, nothing more.
    cli(config, "followup", SLUG, "--offer", "a month free", "--by", "dana")
    chances = sent("second_chance")
    assert sorted(to(m) for m in chances) == sorted(set(c.values()))
    ana_chance = next(m for m in chances if to(m) == c["ana"])
    text = body(ana_chance)
    assert "charged twice for my subscription" in text and "billed twice" in text
    assert "refunded every second charge" in text and "a month free" in text
    local = mail.feedback.split("@")[0]
    assert str(ana_chance["List-Unsubscribe"]).startswith(f"<mailto:{local}+u.")
    again = json.loads(cli(config, "followup", SLUG, "--format", "json"))
    assert again["recipients"] == [] and len(again["skipped"]) == 3
    assert all("already sent" in s["reason"] for s in again["skipped"])
    mail.run()
    assert len(sent("second_chance")) == 3

    # 7. Cara opts out through the List-Unsubscribe address: recorded, never answered.
    cara_chance = next(m for m in chances if to(m) == c["cara"])
    unsubscribe = str(cara_chance["List-Unsubscribe"]).strip("<>").removeprefix("mailto:")
    before = len(mail.received())
    mail.send(email_bytes(sender=c["cara"], to=unsubscribe.split("?")[0], subject="unsubscribe",
                          body="unsubscribe", message_id="optout@example.org"))
    # 8. Ana answers her second chance with praise.
    mail.send(email_bytes(sender=f"Ana Example <{c['ana']}>",
                          to=ana_chance["Reply-To"].addresses[0].addr_spec,
                          subject="Re: " + str(ana_chance["Subject"]),
                          body="Wow, thank you so much! That is wonderful service, you really "
                               "made my day.", message_id="ana-praise@example.org",
                          headers={"In-Reply-To": str(ana_chance["Message-ID"])}))
    mail.run()
    new = mail.received()[before:]
    assert [template(m) for m in new if to(m) == c["cara"]] == []
    assert [template(m) for m in new if to(m) == c["ana"]] == ["ack_smile"]
    champions = json.loads(cli(config, "conversations", "--state", "champion", "--format",
                               "json"))
    assert {x["customer"] for x in champions} == {c["ana"]}
    shown_conv = json.loads(cli(config, "conversation", "show", champions[0]["id"],
                                "--format", "json"))
    assert set(shown_conv["stages"]) == {"listened", "acknowledged", "moved", "fixed",
                                         "boosted"}
    assert shown_conv["outcome"] == "champion"

    # 9. A later update reaches Ana and Ben, never Cara.
    out = cli(config, "problem", "notify", SLUG, "--note", "We now check every payment "
              "twice before it is taken.")
    assert "opted out" in out
    mail.run()
    assert sorted(to(m) for m in sent("problem_update")) == sorted([c["ana"], c["ben"]])
    assert sent("problem_update", c["cara"]) == []
    cli(config, "problem", "notify", SLUG, "--note", "We now check every payment twice "
        "before it is taken.")
    assert len(sent("problem_update")) == 2  # once per customer per update

    # 10. The loop report.
    report: dict[str, object] = json.loads(cli(config, "report", "loop", "--format", "json"))
    expected = {"received": 4, "acknowledged": 4, "moved": 4, "fixed": 4, "second_chances": 3,
                "answered": 1, "champions": 1, "recovery_rate": 0.3333,
                "critic_to_champion_rate": 0.3333, "recomplaint_rate": 0.0}
    assert {k: report[k] for k in expected} == expected, report
    assert set(report["stages"]) == {"acknowledged", "moved", "fixed", "boosted"}  # type: ignore[arg-type]
    assert report["topics"]["billing"]["received"] == 4  # type: ignore[index]
    return report
