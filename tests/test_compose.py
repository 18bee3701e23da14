"""The quick way to a reply's bytes gives exactly what the email package gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailloop.compose import _quick_bytes, to_bytes, to_email
from mailloop.model import Address, Outgoing

NOW = datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC)
SENDER = Address("Customer Care", "feedback@company.test")


def outgoing(**changes: object) -> Outgoing:
    base: dict[str, object] = {
        "message_id": "mailloop.ack_smile.0123456789abcdef01234567@company.test",
        "kind": "ack_smile", "template": "ack_smile", "locale": "en", "sender": SENDER,
        "to": (Address("Maria Garcia", "maria@example.org"),),
        "subject": "Re: Charged twice for my order",
        "text": "Dear Maria,\n\nThank you for writing to us.\n\nThe Customer Care team\n",
        "html": "<p style=\"margin: 0\">Dear Maria,</p>\n<p>Thank you for writing.</p>\n",
        "in_reply_to": "m1@example.org", "references": ("m0@example.org", "m1@example.org"),
        "answers": "imap:INBOX:1:1", "template_hash": "abc123def456"}
    base.update(changes)
    return Outgoing(**base)  # type: ignore[arg-type]


LONG = "word " * 40
CASES = {
    "typical": {},
    "text only": {"html": None},
    "reply-to": {"reply_to": Address("", "reply+tok.abc@company.test")},
    "no name": {"to": (Address("", "maria@example.org"),)},
    "two recipients": {"to": (Address("Ann", "a@x.test"), Address("Bob Ray", "b@x.test"))},
    "no threading": {"in_reply_to": None, "references": ()},
    "no template": {"template": "", "locale": ""},
    "long lines": {"text": LONG * 3 + "\n" + "é" * 100, "html": "<p>" + LONG * 4 + "</p>"},
    "unicode body": {"text": "Grüße aus Köln — “quoted” ☺\r\nline two\rline three",
                     "html": "<p>Grüße ☺</p>"},
    "trailing spaces": {"text": "line with trailing space \nand tab\t\n\n\n", "html": "<p> </p> "},
    "equals and dots": {"text": "a=b\n.\n.leading dot\nFrom the start\n", "html": "x=3D"},
    "empty text": {"text": "", "html": ""},
    "long subject": {"subject": "Re: " + "a very long subject line " * 5},
    "unicode subject": {"subject": "Re: Grüße"},
    "unicode name": {"to": (Address("Zoë Müller", "zoe@example.org"),)},
    "comma name": {"to": (Address("Garcia, Maria", "maria@example.org"),)},
    "many references": {"references": tuple(f"m{i}@example.org" for i in range(12))},
    "encoded-word lookalike": {"subject": "Re: =?utf-8?q?x?="},
    "extra headers": {"extra_headers": (("X-Mailloop-Token", "abc"),)},
    "region locale": {"locale": "pt-BR"},
    "region locale, text only": {"locale": "de-AT", "html": None},
}


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_quick_bytes_are_the_email_packages_bytes(changes: dict[str, object]) -> None:
    out = outgoing(**changes)
    assert to_bytes(out, now=NOW) == to_email(out, now=NOW).as_bytes()


def test_the_quick_way_takes_every_reply_without_extra_headers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {name: to_email(outgoing(**changes), now=NOW).as_bytes()
                for name, changes in CASES.items()}
    monkeypatch.setattr("mailloop.compose.to_email", None)
    for name, changes in CASES.items():
        if "extra_headers" not in changes:
            assert to_bytes(outgoing(**changes), now=NOW) == expected[name], name


def test_quick_bytes_match_on_random_bodies() -> None:
    import random

    rng = random.Random(13)
    alphabet = "abc xyz=.\t\n\r-é☺—<>\"'" + "word " * 4
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        html = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        name = rng.choice(["", "Ann", "Ann Lee", "A B C", "Zoë Müller", "O'Brien, Jean-Luc",
                           "李小龍", "Grüße " * 12])
        out = outgoing(text=text, html=html or None, to=(Address(name, "ann@example.org"),),
                       subject=rng.choice(["Re: Hi", "Re: " + "x" * rng.randint(0, 80),
                                           "Danke für Ihre Nachricht, Zoë", "Re: Grüße " * 9]))
        assert to_bytes(out, now=NOW) == to_email(out, now=NOW).as_bytes()


def test_quick_bytes_match_with_long_addresses() -> None:
    import random

    rng = random.Random(7)
    for _ in range(300):
        name = " ".join("N" * rng.randint(1, 12) for _ in range(rng.randint(0, 6)))
        local = "x" * rng.randint(1, 60)
        token = Address(name, f"{local}@company.test")
        out = outgoing(reply_to=token, to=(Address(name, f"{local[:30]}@example.org"),))
        assert to_bytes(out, now=NOW) == to_email(out, now=NOW).as_bytes()
    long_reply_to = Address("Customer Care", "feedback+c." + "a" * 50 + "@company.test")
    out = outgoing(reply_to=long_reply_to)
    assert _quick_bytes(out, now=NOW) == to_email(out, now=NOW).as_bytes()


@pytest.mark.parametrize("html", ["<p>Hallo</p>", None])
def test_the_reply_says_its_language_at_the_top(html: str | None) -> None:
    from email import message_from_bytes, policy

    for build in (to_bytes, lambda out, now: to_email(out, now=now).as_bytes()):
        raw = build(outgoing(locale="de", html=html), now=NOW)
        msg = message_from_bytes(raw, policy=policy.default)
        assert msg.get_all("Content-Language") == ["de"]
        assert all(part.get("Content-Language") is None for part in msg.iter_parts())
    assert b"Content-Language" not in to_bytes(outgoing(template="", locale=""), now=NOW)


def test_quoted_printable_lines_break_as_the_email_package_breaks_them() -> None:
    """Lines around the length limit, escapes and whitespace where lines break."""
    import random
    from email import quoprimime

    from mailloop.compose import _qp_body

    rng = random.Random(5)
    pieces = ["a", "word ", "=", " ", "\t", "é", "\x0b", "\x7f", "\x85", "\x00", "<p>"]
    for _ in range(2000):
        lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 90)))
                 for _ in range(rng.randint(1, 4))]
        body = "\n".join(lines) + rng.choice(["", "\n"])
        if rng.random() < 0.5:
            body = body.encode("utf-8").decode("latin-1")
        for width, eol in ((78, "\r\n"), (76, "\n")):
            assert _qp_body(body, width, eol) == quoprimime.body_encode(body, width, eol), body


def test_the_same_moment_in_another_zone_gets_its_own_date_header() -> None:
    from datetime import timedelta, timezone

    there = NOW.astimezone(timezone(timedelta(hours=2)))
    assert b"Date: Wed, 25 Nov 2026 12:00:05 +0000" in to_bytes(outgoing(), now=NOW)
    assert b"Date: Wed, 25 Nov 2026 14:00:05 +0200" in to_bytes(outgoing(), now=there)
