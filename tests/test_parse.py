"""parse: real mail files in, Inbound values out; never an exception."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailloop.parse import parse
from mailloop.samples import sample_files

DATA = Path(__file__).parent / "data" / "mail"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SAMPLES = dict(sample_files())


def parsed(name: str, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    data = raw if raw is not None else (SAMPLES.get(name) or (DATA / name).read_bytes())
    return parse(data, key=f"test:{name}", received_at=NOW)


def test_plain_text_with_signature_and_name() -> None:
    msg = parsed("01-praise-rep.eml")
    assert msg.sender is not None and msg.sender.email == "maria.garcia@example.org"
    assert msg.sender.name == "Maria Garcia"
    assert msg.message_id == "sample-01@example.org"
    assert "Jenny on your phone line" in msg.text
    assert msg.date == datetime(2026, 11, 23, 8, 12, tzinfo=UTC)
    assert msg.received_at == NOW
    assert not msg.unreadable and msg.problems == ()


def test_html_only_becomes_text() -> None:
    msg = parsed("03-html-only.eml")
    assert "Priya was amazing" in " ".join(msg.text.split())
    assert "<b>" not in msg.text
    assert any("HTML" in p for p in msg.problems)


def test_latin1_body_and_encoded_headers() -> None:
    msg = parsed("04-latin1-german.eml")
    assert msg.sender is not None and msg.sender.name == "Jürgen Müller"
    assert msg.subject == "Lieferung verspätet"
    assert "ärgerlich" in msg.text
    assert msg.content_language == "de"


def test_quoted_reply_is_removed_and_threading_headers_read() -> None:
    msg = parsed("05-reply-with-quote.eml")
    assert msg.text.startswith("One more thing")
    assert "Thank you for taking the time" not in msg.text
    assert "Thank you for taking the time" in msg.full_text
    assert msg.in_reply_to == ("sample-01-reply@example.com",)
    assert msg.references == ("sample-01@example.org", "sample-01-reply@example.com")


def test_base64_utf8_name_and_quoted_printable_body() -> None:
    msg = parsed("06-both.eml")
    assert msg.sender is not None and msg.sender.name == "Søren Jørgensen"
    assert "Sofia was lovely" in msg.text


def test_koi8r_and_shift_jis() -> None:
    ru = parsed("koi8r.eml")
    assert ru.subject == "Спасибо"
    assert "Спасибо за помощь" in ru.text
    assert ru.sender is not None and ru.sender.name == "Наташа"
    jp = parsed("shift-jis.eml")
    assert "ありがとう" in jp.text
    assert jp.subject == "しつもん"


def test_attachments_are_not_the_customers_words() -> None:
    msg = parsed("multipart-mixed-attachment.eml")
    assert "The lamp arrived broken" in msg.text
    assert "not part of what she wrote" not in msg.full_text


def test_malformed_headers_are_reported_not_raised() -> None:
    msg = parsed("10-malformed-headers.eml")
    assert not msg.unreadable
    assert msg.sender is None
    assert msg.date is None
    assert msg.message_id == "no-angle-brackets-here"
    assert "soaked" in msg.text
    problems = " ".join(msg.problems)
    assert "From" in problems and "Date" in problems and "charset" in problems


def test_broken_mime_and_raw_8bit_headers() -> None:
    msg = parsed("broken-mime.eml")
    assert msg.key == "test:broken-mime.eml"
    assert "\x00" not in (msg.sender.name if msg.sender else "")
    assert "\n" not in msg.subject and "\r" not in msg.subject


def test_no_headers_at_all() -> None:
    msg = parsed("no-headers-body-only.eml")
    assert msg.message_id.endswith("@no-message-id.invalid")
    assert msg.sender is None
    assert "no Message-ID header" in msg.problems


def test_delivery_report_is_read() -> None:
    msg = parsed("09-bounce.eml")
    assert msg.report is not None
    assert msg.report.original_message_id == (
        "mailloop.ack_neutral.ffffffffffffffffffffffff@example.com")
    assert msg.report.recipient == "nobody@example.net"
    assert msg.report.status == "5.1.1"
    assert msg.report.action == "failed"
    assert "Recipient address rejected" in (msg.report.diagnostic or "")


def test_header_injection_characters_never_survive() -> None:
    raw = (b"From: a@example.com\r\nSubject: =?utf-8?q?hello=0D=0ABcc:_victim@example.com?=\r\n"
           b"Message-ID: <inj@example.com>\r\n\r\nhi\r\n")
    msg = parsed("inj", raw)
    assert "\r" not in msg.subject and "\n" not in msg.subject
    assert msg.subject.startswith("hello")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_parses(name: str) -> None:
    msg = parsed(name)
    assert msg.content_hash and msg.size == len(SAMPLES[name])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    msg = parse(raw, key="fuzz", received_at=NOW)
    assert msg.key == "fuzz"
    assert msg.message_id


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    b"From: ", b"Subject: ", b"Content-Type: multipart/mixed; boundary=x\n", b"--x\n",
    b"Content-Transfer-Encoding: base64\n", b"=?utf-8?b?", b"?=", b"\n", b"\r\n", b"<", b">",
    b"charset=\"nope\"\n", b"Content-Type: text/html\n", b"<blockquote>", b"\xff", b"@",
]), max_size=40))
def test_parse_never_raises_on_mime_shaped_noise(chunks: list[bytes]) -> None:
    msg = parse(b"".join(chunks), key="fuzz", received_at=NOW)
    assert msg.key == "fuzz"
