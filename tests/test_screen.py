"""screen: every rule, on messages built the way real senders build them."""

from __future__ import annotations

import pytest

from mailloop.config import Settings
from mailloop.model import VerdictKind
from mailloop.parse import parse
from mailloop.samples import sample_files
from mailloop.screen import screen
from tests.helpers import NOW, inbound

SETTINGS = Settings(delivery={"from_address": "feedback@example.com"})  # type: ignore[arg-type]
SAMPLES = dict(sample_files())


def verdict_for(**kwargs: object):  # type: ignore[no-untyped-def]
    return screen(inbound(**kwargs), SETTINGS)  # type: ignore[arg-type]


def test_plain_customer_mail_is_answered() -> None:
    v = verdict_for()
    assert v.kind is VerdictKind.ANSWER


@pytest.mark.parametrize("value", ["auto-replied", "auto-generated", "auto-notified",
                                   "Auto-Replied; owner-email=x@example.org"])
def test_auto_submitted_other_than_no_is_skipped(value: str) -> None:
    v = verdict_for(headers={"Auto-Submitted": value})
    assert (v.kind, v.rule) == (VerdictKind.SKIP, "auto-submitted")


def test_auto_submitted_no_is_answered() -> None:
    assert verdict_for(headers={"Auto-Submitted": "no"}).kind is VerdictKind.ANSWER


def test_null_return_path_is_skipped() -> None:
    v = verdict_for(headers={"Return-Path": "<>"})
    assert (v.kind, v.rule) == (VerdictKind.SKIP, "null-return-path")


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.org", "postmaster@example.org",
                                    "owner-announce@lists.example.org",
                                    "announce-request@lists.example.org"])
def test_system_senders_are_skipped(sender: str) -> None:
    v = verdict_for(sender=sender)
    assert v.kind is VerdictKind.SKIP and v.rule == "robot-sender"


@pytest.mark.parametrize("value", ["bulk", "junk", "list", "auto_reply", "BULK"])
def test_bulk_precedence_is_skipped(value: str) -> None:
    v = verdict_for(headers={"Precedence": value})
    assert (v.kind, v.rule) == (VerdictKind.SKIP, "precedence")


@pytest.mark.parametrize("header", ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress",
                                    "List-Id", "List-Unsubscribe", "Feedback-ID", "X-Loop"])
def test_automation_headers_are_skipped(header: str) -> None:
    v = verdict_for(headers={header: "yes"})
    assert v.kind is VerdictKind.SKIP and v.rule == f"header:{header.lower()}"


@pytest.mark.parametrize("sender", ["noreply@shop.example", "no-reply@shop.example",
                                    "do_not_reply@shop.example", "DoNotReply@shop.example"])
def test_noreply_senders_are_skipped(sender: str) -> None:
    v = verdict_for(sender=sender)
    assert (v.kind, v.rule) == (VerdictKind.SKIP, "noreply-sender")


def test_our_own_mail_is_skipped_by_address_loop_header_and_message_id() -> None:
    assert verdict_for(sender="feedback@example.com").rule == "own-mail"
    assert verdict_for(headers={"X-Mailloop-Loop": "example.com"}).rule == "own-mail"
    v = verdict_for(message_id="mailloop.ack_smile.0123@example.com")
    assert v.rule == "own-mail"


def test_out_of_office_sample_is_skipped() -> None:
    msg = parse(SAMPLES["08-out-of-office.eml"], key="s8", received_at=NOW)
    assert screen(msg, SETTINGS).kind is VerdictKind.SKIP


def test_rfc3464_report_is_a_bounce() -> None:
    msg = parse(SAMPLES["09-bounce.eml"], key="s9", received_at=NOW)
    v = screen(msg, SETTINGS)
    assert (v.kind, v.rule) == (VerdictKind.BOUNCE, "delivery-report")


def test_bulk_sample_is_skipped() -> None:
    msg = parse(SAMPLES["12-newsletter.eml"], key="s12", received_at=NOW)
    assert screen(msg, SETTINGS).kind is VerdictKind.SKIP


def test_unreadable_is_parked() -> None:
    from dataclasses import replace

    msg = replace(inbound(), unreadable=True, problems=("cannot parse MIME",))
    v = screen(msg, SETTINGS)
    assert v.kind is VerdictKind.PARK
