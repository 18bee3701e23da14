"""compose: an Outgoing value -> the bytes of a MIME message.

Every message we send says it is automatic (RFC 3834 `Auto-Submitted`, the
Microsoft and de-facto equivalents) and carries our loop header, so no
auto-responder answers it and our own screening recognises it if it comes back.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from mailloop.model import Address, Outgoing
from mailloop.screen import LOOP_HEADER


def reply_message_id(answers: str, kind: str, recipient: str, domain: str) -> str:
    """The deterministic Message-ID of our reply of `kind` to `answers` for `recipient`."""
    digest = hashlib.sha256(f"{answers}\0{kind}\0{recipient.casefold()}".encode()).hexdigest()
    return f"mailloop.{kind}.{digest[:24]}@{domain}"


def _format(addr: Address) -> str:
    return formataddr((addr.name, addr.email)) if addr.name else addr.email


def _boundary(out: Outgoing) -> str:
    # Derived from the parts, so a preview is byte-identical to what is sent.
    digest = hashlib.sha256(f"{out.text}\0{out.html}".encode()).hexdigest()[:32]
    return f"mailloop-{digest}"


def to_email(out: Outgoing, *, now: datetime) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _format(out.sender)
    msg["To"] = ", ".join(_format(a) for a in out.to)
    if out.reply_to is not None:
        msg["Reply-To"] = _format(out.reply_to)
    msg["Subject"] = out.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{out.message_id}>"
    if out.in_reply_to:
        msg["In-Reply-To"] = f"<{out.in_reply_to}>"
    if out.references:
        msg["References"] = " ".join(f"<{r}>" for r in out.references)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "auto_reply"
    msg[LOOP_HEADER] = out.sender.domain
    if out.template:
        msg["X-Mailloop-Template"] = f"{out.template}; locale={out.locale}; set={out.template_hash}"
    for name, value in out.extra_headers:
        msg[name] = value
    msg.set_content(out.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if out.html:
        msg.add_alternative(out.html, subtype="html", charset="utf-8", cte="quoted-printable")
        msg.set_boundary(_boundary(out))
    if out.locale:
        # after the content: set_content and add_alternative drop Content-* headers
        msg["Content-Language"] = out.locale
    return msg


def to_bytes(out: Outgoing, *, now: datetime) -> bytes:
    if out.extra_headers:  # rare; the email package checks them (no second Subject)
        return to_email(out, now=now).as_bytes()
    return _quick_bytes(out, now=now)


# The email package parses every header it is given and re-renders it, and builds the
# MIME tree part by part, which makes a reply cost milliseconds. `_quick_bytes` writes
# the very bytes `to_email(...).as_bytes()` gives (tests/test_compose.py holds the two
# to each other): short printable ASCII headers as they are, any other header (a name
# or subject with accents, a long subject) folded by the email package on its own,
# which is what its generator does with each header, and the parts directly.
_PLAIN_VALUE = re.compile(r"[ -~]*")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 ]*")
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+")
_MAX_LINE = 78


def _plain(value: str) -> bool:
    return (bool(value) and value == value.strip() and "  " not in value and "=?" not in value
            and _PLAIN_VALUE.fullmatch(value) is not None)


def _folded(name: str, value: str) -> str:
    """One header as the email package writes it: parsed, then folded and encoded."""
    folded = SMTP.fold_binary(name, SMTP.header_store_parse(name, value)[1])
    return folded.decode("ascii", "surrogateescape").removesuffix("\r\n")


def _header(name: str, value: str) -> str:
    line = f"{name}: {value}"
    return line if len(line) <= _MAX_LINE and _plain(value) else _folded(name, value)


def _plain_address(addr: Address) -> str | None:
    if not _PLAIN_NAME.fullmatch(addr.name) or "  " in addr.name \
            or addr.name != addr.name.strip() or not _PLAIN_EMAIL.fullmatch(addr.email):
        return None
    return f"{addr.name} <{addr.email}>" if addr.name else addr.email


def _address_header(name: str, addrs: tuple[Address, ...]) -> str:
    plain = [_plain_address(a) for a in addrs]
    value = ", ".join(p for p in plain if p is not None)
    if addrs and None not in plain and _plain(value):
        line = f"{name}: {value}"
        if len(line) <= _MAX_LINE:
            return line
        # One named address too long for the line: it moves to the next line whole,
        # or when even that is too long, the address part does.
        addr = addrs[0]
        if len(addrs) == 1 and addr.name:
            if len(value) + 1 <= _MAX_LINE:
                return f"{name}:\r\n {value}"
            if len(f"{name}: {addr.name}") <= _MAX_LINE and len(addr.email) + 3 <= _MAX_LINE:
                return f"{name}: {addr.name}\r\n <{addr.email}>"
    return _folded(name, ", ".join(_format(a) for a in addrs))


@functools.lru_cache(maxsize=4)
def _date(now: datetime, offset: timedelta | None) -> str:
    # A batch's replies share one `now`. The offset is part of the key: the same moment
    # in another zone is an equal datetime, but another Date header.
    return format_datetime(now)


def _quick_bytes(out: Outgoing, *, now: datetime) -> bytes:
    lines = [_address_header("From", (out.sender,)), _address_header("To", out.to)]
    if out.reply_to is not None:
        lines.append(_address_header("Reply-To", (out.reply_to,)))
    lines += [_header("Subject", out.subject), _header("Date", _date(now, now.utcoffset())),
              _header("Message-ID", f"<{out.message_id}>")]
    if out.in_reply_to:
        lines.append(_header("In-Reply-To", f"<{out.in_reply_to}>"))
    if out.references:
        lines.append(_header("References", " ".join(f"<{r}>" for r in out.references)))
    lines += ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All",
              "Precedence: auto_reply", _header(LOOP_HEADER, out.sender.domain)]
    if out.template:
        lines.append(_header("X-Mailloop-Template",
                             f"{out.template}; locale={out.locale}; set={out.template_hash}"))
    language = []
    if out.locale:
        language = [_header("Content-Language", out.locale) if " " not in out.locale
                    else _folded("Content-Language", out.locale)]
    text_type, text_body = _qp_part("plain", out.text)
    if not out.html:
        head = "\r\n".join([*lines, text_type, "Content-Transfer-Encoding: quoted-printable",
                             "MIME-Version: 1.0", *language])
        return f"{head}\r\n\r\n{text_body}".encode("ascii", "surrogateescape")
    boundary = _boundary(out)
    html_type, html_body = _qp_part("html", out.html)
    return "".join([
        "\r\n".join(lines), "\r\nMIME-Version: 1.0\r\n",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n',
        "".join(f"{line}\r\n" for line in language), "\r\n",
        f"--{boundary}\r\n{text_type}\r\nContent-Transfer-Encoding: quoted-printable"
        f"\r\n\r\n{text_body}\r\n",
        f"--{boundary}\r\n{html_type}\r\nContent-Transfer-Encoding: quoted-printable"
        f"\r\nMIME-Version: 1.0\r\n\r\n{html_body}\r\n",
        f"--{boundary}--\r\n"]).encode("ascii", "surrogateescape")


def _qp_part(subtype: str, content: str) -> tuple[str, str]:
    """The Content-Type line and the quoted-printable body, as `set_content` makes them."""
    lines = content.encode("utf-8").splitlines()
    body = _qp_body(b"\n".join(lines).decode("latin-1") + "\n", _MAX_LINE, "\r\n")
    return f'Content-Type: text/{subtype}; charset="utf-8"', body


# What quoted-printable leaves as it is: printable ASCII but "=", tab and line breaks.
_QP_TABLE = [chr(c) if c in (9, 10, 13) or (32 <= c <= 126 and c != 61) else f"={c:02X}"
             for c in range(256)]
_QP_PLAIN = bytes(c for c in range(128) if c in (9, 10, 13) or 32 <= c <= 126)  # and "="


def _qp_body(body: str, maxlinelen: int, eol: str = "\n") -> str:
    """`quoprimime.body_encode(body, maxlinelen, eol)` for a body of characters below 256.

    That function escapes with `str.translate`, which looks every character up and was
    most of a reply's composing. In nearly every reply "=" is the only character to
    escape (bytes.translate finds none other, in C). The lines are then broken exactly
    as there (tests/test_compose.py holds the two to each other)."""
    if not body:
        return body
    if body.isascii() and not body.encode("ascii").translate(None, _QP_PLAIN):
        body = body.replace("=", "=3D")
    else:
        body = body.translate(_QP_TABLE)
    out: list[str] = []
    for line in body.splitlines():
        # pieces of at most maxlinelen - 1 characters and a soft break, never splitting
        # an escape
        start = 0
        laststart = len(line) - 1 - maxlinelen
        while start <= laststart:
            stop = start + maxlinelen - 1
            if line[stop - 2] == "=":
                out.append(line[start:stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                out.append(line[start:stop])
                start = stop - 1
            else:
                out.append(line[start:stop] + "=")
                start = stop
        if line and line[-1] in " \t":
            # whitespace at the end of a line is escaped, room allowing
            room = start - laststart
            last = f"={ord(line[-1]):02X}"
            if room >= 3:
                tail = last
            elif room == 2:
                tail = line[-1] + "=" + eol
            else:
                tail = "=" + eol + last
            out.append(line[start:-1] + tail)
        else:
            out.append(line[start:])
    if body[-1] in "\r\n":
        out.append("")
    return eol.join(out)
