"""parse: real mail files in, Inbound values out; never an exception."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailloop.parse import _PLAIN_VALUES, _POLICY, parse
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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.characters() | st.sampled_from([chr(0xdc00 + b) for b in range(0x80, 0x100)]))
       .map("".join).filter(lambda text: "=?" not in text))
def test_a_header_without_encoded_words_decodes_to_itself(value: str) -> None:
    # What lets parse skip decode_header and make_header for such headers (8-bit bytes
    # in a raw header are surrogate escapes).
    assert str(make_header(decode_header(value))) == value


# ---- parse's email policy reads MIME headers as policy.default does

_MIME_HEADERS = {"content-type": "Content-Type", "content-disposition": "Content-Disposition",
                 "content-transfer-encoding": "Content-Transfer-Encoding"}
_PIECES = ["text/plain", "multipart/mixed", "attachment", "base64", "/", ";", "=", '"', " ",
           "\t", "\r\n ", "\n\t", "charset", "boundary", "filename", "name*0", "utf-8",
           "x.y", "(c)", "\\", "*", "'", "%41", "=?utf-8?q?a?=", "=?", "\udce9", "é", ","]


def _reading(msg: Message, value: str) -> list[object]:
    """Everything mailloop and the email package read from a part's MIME headers."""
    def call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return repr(fn(*args, **kwargs))
        except Exception as exc:
            return type(exc).__name__

    names = {"charset", "boundary", "filename", *re.findall(r"([^\s;=\"]+)=", value)}
    out: list[object] = [
        msg.get_content_type(), call(msg.get_content_charset), call(msg.get_boundary),
        str(msg.get("content-transfer-encoding", "")).lower(),
        str(msg.get("content-disposition", "")).split(";")[0].strip().lower(),
        [type(d).__name__ for d in msg.defects], call(msg.get_payload, decode=True)]
    for name in sorted(names):
        out += [call(msg.get_param, name), call(msg.get_param, name, header="content-disposition")]
    return out


def _both_readings(header: str, value: str) -> tuple[list[object], list[object]]:
    raw = f"{_MIME_HEADERS[header]}: {value}\r\n\r\nSGVsbG8=\r\n".encode("utf-8", "surrogateescape")
    ours = email.message_from_bytes(raw, policy=_POLICY)
    default = email.message_from_bytes(raw, policy=email.policy.default)
    return _reading(ours, value), _reading(default, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_MIME_HEADERS)).flatmap(lambda header: st.tuples(
    st.just(header), st.from_regex(_PLAIN_VALUES[header], fullmatch=True))))
def test_plain_mime_headers_read_as_under_policy_default(header_value: tuple[str, str]) -> None:
    ours, default = _both_readings(*header_value)
    assert ours == default


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_MIME_HEADERS)), st.lists(st.sampled_from(_PIECES), max_size=14))
def test_other_mime_headers_read_as_under_policy_default(header: str, pieces: list[str]) -> None:
    ours, default = _both_readings(header, "".join(pieces))
    assert ours == default


@pytest.mark.parametrize(("name", "value"), [
    ("Content-Type", 'text/plain; charset="utf-8"'),
    ("Content-Type", "text/plain; charset=UTF-8; format=flowed; delsp=yes"),
    ("Content-Type", 'multipart/alternative;\r\n\tboundary="----=_Part_12_34.5678"'),
    ("Content-Type", 'multipart/mixed; boundary="Apple-Mail=_0C3F+A/B"'),
    ("Content-Transfer-Encoding", "quoted-printable"),
    ("Content-Disposition", 'attachment; filename="invoice 42.pdf"'),
])
def test_ordinary_mime_headers_are_taken_as_they_are(name: str, value: str) -> None:
    assert _POLICY.header_fetch_parse(name, value) is value


@pytest.mark.parametrize(("name", "value"), [
    ("Content-Type", "text/plain; charset=utf-8 (comment)"),
    ("Content-Type", "text/plain; charset*=us-ascii'en'iso-8859-1"),
    ("Content-Type", 'multipart/mixed; boundary="=?utf-8?q?x?="'),
    ("Content-Disposition", "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf"),
    ("Subject", "hello"),
])
def test_other_headers_are_read_through_policy_default(name: str, value: str) -> None:
    assert _POLICY.header_fetch_parse(name, value) == str(
        email.policy.default.header_fetch_parse(name, value))
