"""parse held to fixed results: every Inbound field of every message in tests/data and
mailloop/samples, and of odd MIME shapes (below), as recorded in tests/data/parsed.json.

After a deliberate change to what parse reads, record again and review the diff:

    MAILLOOP_RECORD_PARSED=1 pytest tests/test_parse_corpus.py
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from mailloop.model import Inbound
from mailloop.parse import parse
from mailloop.samples import sample_files

DATA = Path(__file__).parent / "data"
RECORD = DATA / "parsed.json"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

_HEAD = ("From: Ana <ana@example.org>\r\nTo: feedback@example.com\r\nSubject: odd\r\n"
         "Message-ID: <odd@example.org>\r\nMIME-Version: 1.0\r\n")


def _odd(headers: str, body: str | bytes) -> bytes:
    """A message with the usual headers, then `headers` (one per line) and `body`."""
    raw_body = body if isinstance(body, bytes) else body.encode()
    return (_HEAD + headers.replace("\n", "\r\n") + "\r\n\r\n").encode("utf-8",
                                                                       "surrogateescape") + raw_body


def _multipart(boundary: str, parts: list[str]) -> str:
    return "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"


# MIME headers that the email package reads differently depending on its policy (comments,
# RFC 2231, backslashes, encoded words, 8-bit bytes, folding), and shapes around them.
ODD = {
    "comment-in-content-type": _odd("Content-Type: text/plain; charset=utf-8 (comment)",
                                    "Grüße aus Köln".encode()),
    "rfc2231-charset": _odd("Content-Type: text/plain; charset*=us-ascii'en'iso-8859-1",
                            "Caf\xe9 au lait".encode("latin-1")),
    "backslash-in-charset": _odd('Content-Type: text/plain; charset="utf\\-8"', "Grüße".encode()),
    "8bit-byte-in-charset": _odd('Content-Type: text/plain; charset="utf-8\udce9"',
                                 "Grüße".encode()),
    "encoded-word-content-type": _odd("Content-Type: =?utf-8?q?text/html?=",
                                      "<p>Hello <b>there</b></p>"),
    "duplicate-charset": _odd("Content-Type: text/plain; charset=koi8-r; charset=utf-8",
                              "Привет".encode("koi8-r")),
    "mixed-case": _odd("Content-Type: Text/Plain; CHARSET=ISO-8859-1\nContent-Transfer-Encoding:"
                       " Quoted-Printable", "Gr=FC=DFe"),
    "cte-with-comment": _odd("Content-Type: text/plain\nContent-Transfer-Encoding: base64 (x)",
                             "SGVsbG8gdGhlcmU=\r\n"),
    "folded-parameters": _odd(
        'Content-Type: multipart/alternative;\n\tboundary="=_b1/x+y";\n\treport-type=none',
        _multipart("=_b1/x+y", [
            'Content-Type: text/plain;\r\n charset="utf-8"\r\n\r\nThe plain words.',
            "Content-Type: text/html\r\n\r\n<p>The <i>html</i> words.</p>"])),
    "folding-inside-quoted-boundary": _odd(
        'Content-Type: multipart/mixed; boundary="a\n b"',
        _multipart("a b", ["Content-Type: text/plain\r\n\r\nInside the fold."])),
    "rfc2231-attachment": _odd(
        "Content-Type: multipart/mixed; boundary=b2",
        _multipart("b2", [
            "Content-Type: text/plain; charset=us-ascii\r\n\r\nSee the file.",
            "Content-Type: text/plain; name*=utf-8''r%C3%A9sum%C3%A9.txt\r\n"
            "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt\r\n\r\n"
            "Not what she wrote."])),
    "disposition-with-comment": _odd(
        "Content-Type: multipart/mixed; boundary=b3",
        _multipart("b3", [
            "Content-Type: text/plain\r\n\r\nFirst.",
            "Content-Type: text/plain\r\nContent-Disposition: (file) attachment\r\n\r\nSecond."])),
    "html-only-with-quote": _odd(
        'Content-Type: text/html; charset="UTF-8"',
        "<div>Thanks, it works now.</div><blockquote>On Monday you wrote: try again</blockquote>"),
    "unknown-charset": _odd("Content-Type: text/plain; charset=x-nope", "Plain enough."),
    "no-boundary": _odd("Content-Type: multipart/mixed", "Where are the parts?"),
    "report-with-odd-status": _odd(
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\n'
        "Return-Path: <>",
        _multipart("r", [
            "Content-Type: text/plain\r\n\r\nDelivery to the following recipient failed.",
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net"
            "\r\n\r\nFinal-Recipient: rfc822; =?utf-8?q?j=C3=B6rg?=@example.net\r\n"
            "Action: failed\r\nStatus: 5.1.1 (no such user)"])),
}


@cache
def _messages() -> dict[str, bytes]:
    found = {str(p.relative_to(DATA)): p.read_bytes() for p in sorted(DATA.rglob("*.eml"))}
    found.update({f"samples/{name}": raw for name, raw in sample_files()})
    found.update({f"odd/{name}": raw for name, raw in ODD.items()})
    return found


def _plain(value: object) -> object:
    """An Inbound field as JSON has it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _fields(name: str, raw: bytes) -> object:
    msg: Inbound = parse(raw, key=f"test:{name}", received_at=NOW)
    return _plain(msg)


@cache
def _record() -> dict[str, object]:
    return dict(json.loads(RECORD.read_text(encoding="utf-8")))


def test_record_covers_every_message() -> None:
    if os.environ.get("MAILLOOP_RECORD_PARSED"):
        RECORD.write_text(json.dumps({name: _fields(name, raw) for name, raw in
                                      _messages().items()}, indent=1,
                                     sort_keys=True) + "\n", encoding="utf-8")
    assert sorted(_record()) == sorted(_messages())


@pytest.mark.parametrize("name", sorted(_messages()))
def test_parse_gives_the_recorded_fields(name: str) -> None:
    assert _fields(name, _messages()[name]) == _record()[name]
