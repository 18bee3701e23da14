"""Delivery reports, standard and not, read from realistic samples in tests/data/bounces."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailloop.config import Settings
from mailloop.model import DeliveryReport, VerdictKind
from mailloop.parse import parse
from mailloop.screen import screen

BOUNCES = Path(__file__).parent / "data" / "bounces"
NOW = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)


def report_of(name: str) -> DeliveryReport | None:
    return parse((BOUNCES / name).read_bytes(), key=f"test:{name}", received_at=NOW).report


@pytest.mark.parametrize(
    ("name", "original", "recipient", "status", "action", "diagnostic"),
    [
        ("postfix-dsn.eml", "mailloop.ack_smile.0a1b2c3d4e5f60718293a4b5@company.test",
         "jo.nobody@customer.test", "5.1.1", "failed", "User unknown"),
        ("gmail-dsn-headers-only.eml",
         "mailloop.ack_neutral.1111aaaa2222bbbb3333cccc@company.test",
         "no.such.person@gmail.example", "5.1.1", "failed", "does not exist"),
        ("qmail.eml", "mailloop.ack_ofora.9f8e7d6c5b4a39281706f5e4@company.test",
         "sam@oldhost.test", "5.1.1", "failed", "no mailbox here"),
        ("exchange-ndr-text.eml", "mailloop.ack_ofora.abcdefabcdefabcdefabcdef@company.test",
         "alex.example@contoso.test", "5.1.10", "failed", "RecipientNotFound"),
        ("exim.eml", "mailloop.ack_smile.feedfacefeedfacefeedface@company.test",
         "kim@isp.test", "5.0.0", "failed", "550 Mailbox quota exceeded"),
        ("undelivered-attached-no-status.eml",
         "mailloop.ack_neutral.0123456789abcdef01234567@company.test",
         "lee@hosting.test", "5.0.0", "failed", "554 delivery error"),
        ("verp-only.eml", "mailloop.ack_smile.c0ffeec0ffeec0ffeec0ffee@company.test",
         "pat@tiny-mta.test", "5.2.1", "failed", "Mailbox disabled"),
        ("delayed-dsn.eml", "mailloop.ack_smile.0a1b2c3d4e5f60718293a4b5@company.test",
         "jo.nobody@customer.test", "4.4.1", "delayed", "timed out"),
    ],
)
def test_reports_are_read(name: str, original: str, recipient: str, status: str, action: str,
                          diagnostic: str) -> None:
    report = report_of(name)
    assert report is not None
    assert report.original_message_id == original
    assert report.recipient == recipient
    assert report.status == status
    assert report.action == action
    assert report.diagnostic is not None and diagnostic in report.diagnostic


def test_the_envelope_token_is_kept() -> None:
    qmail = report_of("qmail.eml")
    assert qmail is not None
    assert qmail.envelope_token == "b.ack_ofora.9f8e7d6c5b4a39281706f5e4"
    exim = report_of("exim.eml")
    assert exim is not None and exim.envelope_token is None


@pytest.mark.parametrize("name", ["customer-mentions-undelivered.eml",
                                  "vacation-to-return-path.eml"])
def test_lookalikes_are_not_reports(name: str) -> None:
    assert report_of(name) is None


@pytest.mark.parametrize("name", sorted(p.name for p in BOUNCES.glob("*.eml")
                                        if not p.name.startswith(("customer-", "vacation-"))))
def test_a_bounce_is_never_answered(name: str) -> None:
    settings = Settings(delivery={"from_address": "feedback@company.test"})  # type: ignore[arg-type]
    msg = parse((BOUNCES / name).read_bytes(), key=f"test:{name}", received_at=NOW)
    assert screen(msg, settings).kind is VerdictKind.BOUNCE


def test_mail_to_the_return_path_is_never_feedback() -> None:
    settings = Settings(delivery={"from_address": "feedback@company.test"})  # type: ignore[arg-type]
    msg = parse((BOUNCES / "vacation-to-return-path.eml").read_bytes(), key="t:v",
                received_at=NOW)
    assert screen(msg, settings).kind is VerdictKind.SKIP
