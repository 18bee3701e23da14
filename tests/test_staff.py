"""Managers thank Smiles by email: the reply is checked, then turned into a thank-you."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

import pytest

from mailloop.config import Settings
from mailloop.daemon import utcnow
from mailloop.mailbox.maildir import deliver
from mailloop.staff import authentication_passes, manager_token, read_commands
from mailloop.store.tinydb import TinyStore
from mailloop.tokens import token_address
from tests.helpers import email_bytes, example_settings, run_once

ROOT = Path(__file__).resolve().parent.parent
SECRET = "staff-test-secret"
DANA = "dana.lee@example.com"
OMAR = "omar.said@example.com"
SMILE = ("Jenny on your phone line was wonderful: patient, kind and quick. "
         "Please thank her from me!")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return example_settings(tmp_path, secret=SECRET, managers=[
        {"name": "Dana Lee", "email": DANA}, {"name": "Omar Said", "email": OMAR}])


def outbox(settings: Settings) -> list[email.message.EmailMessage]:
    folder = settings.outbox_path / "new"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns)]


def sent(settings: Settings, template: str) -> list[email.message.EmailMessage]:
    return [m for m in outbox(settings) if str(m["X-Mailloop-Template"]).startswith(template)]


def body(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def smile_arrives(settings: Settings) -> email.message.EmailMessage:
    deliver(settings.inbox_path, email_bytes(sender="Maria Garcia <maria@example.org>",
                                             message_id="smile@example.org",
                                             subject="Thank you!", body=SMILE))
    run_once(settings)
    (note,) = [m for m in sent(settings, "manager_notification")
               if m["To"].addresses[0].addr_spec == DANA]
    return note


def manager_reply(note: email.message.EmailMessage, *, sender: str = f"Dana Lee <{DANA}>",
                  to: str | None = None, text: str, message_id: str = "reply@example.com",
                  headers: dict[str, str] | None = None) -> bytes:
    """A reply as Gmail writes it: the answer, a signature, the quoted notification."""
    quoted = "\n".join("> " + line for line in body(note).splitlines())
    full = (f"{text}\n\n--\nDana Lee | Head of Customer Care\n\n"
            "On Wed, 25 Nov 2026 at 10:00, Customer Care <feedback@example.com> wrote:\n"
            f"{quoted}\n")
    return email_bytes(sender=sender, to=to or note["Reply-To"].addresses[0].addr_spec,
                       subject="Re: " + str(note["Subject"]), message_id=message_id, body=full,
                       headers={"In-Reply-To": str(note["Message-ID"]), **(headers or {})})


def staff_doc(settings: Settings, message_id: str = "reply@example.com") -> dict[str, object]:
    docs = {d["message_id"]: d for d in TinyStore(settings.store_path).iter_messages()}
    return docs[message_id]["staff"]  # type: ignore[no-any-return]


def test_notification_goes_to_each_manager_with_their_own_token(settings: Settings) -> None:
    note = smile_arrives(settings)
    notes = sent(settings, "manager_notification")
    assert sorted(m["To"].addresses[0].addr_spec for m in notes) == [DANA, OMAR]
    reply_tos = {m["Reply-To"].addresses[0].addr_spec for m in notes}
    assert len(reply_tos) == 2 and all(a.startswith("feedback+m.") for a in reply_tos)
    text = body(note)
    assert "patient, kind and quick" in text and "#rep" in text and "#skip" in text
    assert "Jenny Alvarez" in str(note["Subject"])


def test_a_managers_reply_becomes_a_thank_you_crediting_the_rep(settings: Settings) -> None:
    note = smile_arrives(settings)
    deliver(settings.inbox_path, manager_reply(
        note, text="Maria, thank you so much for taking the time to tell us about Jenny."))
    run_once(settings)
    (thanks,) = sent(settings, "manager_thanks")
    assert thanks["To"].addresses[0].addr_spec == "maria@example.org"
    assert thanks["From"].addresses[0].display_name == "Dana Lee"
    assert thanks["From"].addresses[0].addr_spec == "feedback@example.com"
    assert str(thanks["In-Reply-To"]) == "<smile@example.org>"
    text = body(thanks)
    assert "thank you so much for taking the time" in text
    assert "Head of Customer Care" not in text and "> " not in text  # signature, quotes gone
    assert "Jenny" in text
    (recognition,) = sent(settings, "rep_recognition")
    assert recognition["To"].addresses[0].addr_spec == "jenny.alvarez@example.com"
    assert "patient, kind and quick" in body(recognition)
    (confirmation,) = sent(settings, "manager_confirmation")
    assert confirmation["To"].addresses[0].addr_spec == DANA
    assert "maria@example.org" in body(confirmation)
    assert staff_doc(settings)["accepted"] is True
    # A second answer to the same Smile is refused: one thank-you per Smile.
    deliver(settings.inbox_path, manager_reply(note, text="Thanks again!",
                                               message_id="again@example.com"))
    run_once(settings)
    assert len(sent(settings, "manager_thanks")) == 1
    assert "already answered" in str(staff_doc(settings, "again@example.com")["reason"])


def test_rep_command_changes_the_credit(settings: Settings) -> None:
    note = smile_arrives(settings)
    deliver(settings.inbox_path, manager_reply(
        note, text="#rep Priya Natarajan\nThank you, Maria! It was actually Priya who helped."))
    run_once(settings)
    (thanks,) = sent(settings, "manager_thanks")
    assert "#rep" not in body(thanks)
    (recognition,) = sent(settings, "rep_recognition")
    assert recognition["To"].addresses[0].addr_spec == "priya.natarajan@example.com"
    docs = {d["message_id"]: d for d in TinyStore(settings.store_path).iter_messages()}
    credits = {c["rep"]: c for c in docs["smile@example.org"]["credits"]}
    assert credits["Priya Natarajan"]["credited"] is True
    assert credits["Priya Natarajan"]["reason"] == "corrected by a manager with #rep"
    assert credits["Jenny Alvarez"]["credited"] is False


def test_skip_sends_nothing_to_the_customer(settings: Settings) -> None:
    note = smile_arrives(settings)
    deliver(settings.inbox_path, manager_reply(note, text="#skip"))
    run_once(settings)
    assert sent(settings, "manager_thanks") == [] and sent(settings, "rep_recognition") == []
    (confirmation,) = sent(settings, "manager_confirmation")
    assert "nothing was sent" in body(confirmation)


@pytest.mark.parametrize(("case", "reason"), [
    ("no token", "no staff reply token"),
    ("tampered token", "does not verify"),
    ("other manager's token", "issued to another manager"),
    ("not a manager", "is not a configured manager"),
    ("expired token", "expired"),
])
def test_forged_or_stale_replies_are_refused_and_recorded(
        settings: Settings, case: str, reason: str) -> None:
    note = smile_arrives(settings)
    address = note["Reply-To"].addresses[0].addr_spec
    clock = None
    kwargs: dict[str, str] = {}
    if case == "no token":
        kwargs["to"] = "feedback@example.com"
    elif case == "tampered token":
        local, _, domain = address.partition("@")
        kwargs["to"] = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    elif case == "other manager's token":
        kwargs["sender"] = f"Omar Said <{OMAR}>"
    elif case == "not a manager":
        kwargs["sender"] = "Mallory <mallory@example.net>"
    else:
        later = utcnow() + timedelta(days=settings.staff.token_days + 2)
        clock = lambda: later  # noqa: E731
    deliver(settings.inbox_path, manager_reply(note, text="Thanks, send this on!", **kwargs))
    run_once(settings, clock)  # type: ignore[arg-type]
    assert sent(settings, "manager_thanks") == []
    doc = staff_doc(settings) if case != "no token" else None
    if doc is not None:
        assert doc["accepted"] is False and reason in str(doc["reason"])
    refusals = sent(settings, "manager_rejected")
    if case == "not a manager":
        assert refusals == []  # nobody is told anything but the real managers
    elif case != "no token":
        (refusal,) = refusals
        assert reason in body(refusal)
        # Told at the manager's configured address, whoever the sender claimed to be.
        assert refusal["To"].addresses[0].addr_spec in {DANA, OMAR}


def test_read_commands() -> None:
    reps = ["Jenny Alvarez", "Priya Natarajan"]
    assert read_commands("#rep jenny\nThanks!", reps) == ("Thanks!", False, "Jenny Alvarez", [])
    assert read_commands("\n#skip\n", reps) == ("", True, None, [])
    _words, _, rep, problems = read_commands("#rep Nobody\nHi", reps)
    assert rep is None and problems == ["#rep 'Nobody' is not a rep on the roster"]
    assert read_commands("Thanks! #rep later is just text", reps)[2] is None


def test_authentication_results_only_from_our_own_server() -> None:
    ours = "mx.example.com; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=example.com"
    theirs = "evil.example.net; dkim=pass header.d=example.com"
    dmarc = "mx.example.com; dmarc=pass (p=reject) header.from=example.com"
    assert authentication_passes(ours, "mx.example.com", "example.com")
    assert authentication_passes(dmarc, "mx.example.com", "example.com")
    assert not authentication_passes(theirs, "mx.example.com", "example.com")
    assert not authentication_passes(ours.replace("pass", "fail"), "mx.example.com", "example.com")
    assert not authentication_passes(ours, "mx.example.com", "other.example")
    assert not authentication_passes(None, "mx.example.com", "example.com")


def test_required_authentication_results_are_enforced(tmp_path: Path) -> None:
    settings = example_settings(tmp_path, secret=SECRET, staff={
        "require_authentication_results": True, "authserv_id": "mx.example.com"})
    note = smile_arrives(settings)
    deliver(settings.inbox_path, manager_reply(note, text="Thank you!"))
    run_once(settings)
    assert sent(settings, "manager_thanks") == []
    assert "DKIM/DMARC" in str(staff_doc(settings)["reason"])
    deliver(settings.inbox_path, manager_reply(
        note, text="Thank you!", message_id="signed@example.com",
        headers={"Authentication-Results": "mx.example.com; dkim=pass header.d=example.com"}))
    run_once(settings)
    assert len(sent(settings, "manager_thanks")) == 1


def test_token_for_the_shared_managers_address_admits_any_manager() -> None:
    token = manager_token(b"k", "c123", None, utcnow(), 30)
    assert token_address("feedback@example.com", token).startswith("feedback+m.")
