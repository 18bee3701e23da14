"""parse: raw bytes -> Inbound. Never raises.

Everything a later step needs is read here, once: addresses, threading headers,
the visible text (HTML turned into text, quoted replies and signatures removed)
and, for a delivery report, what it says. A message that cannot be read at all
becomes an Inbound flagged `unreadable`, so it is parked rather than lost.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from types import MappingProxyType

from mailloop import bounce, visible
from mailloop.model import Address, Inbound

# Bodies beyond this are cut for classification; the raw message is kept whole elsewhere.
MAX_TEXT_CHARS = 100_000
# Header values longer than this are cut: they only feed screening and display.
MAX_HEADER_CHARS = 4_000

_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_FOLDING = re.compile(r"\r?\n[ \t]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")  # control characters but the tab

# Header values whose text reads the same (the content type, every parameter, the transfer
# encoding) as policy.default's parsed value: ASCII tokens and `name=value` or `name="value"`
# parameters, folded between them. Comments, backslashes, RFC 2231, encoded words (which
# policy.default decodes even inside quotes), 8-bit bytes and folds inside quotes are not
# plain. tests/test_parse.py holds the two readings to each other.
_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"
_ATTRIBUTE = r"[!#$&+\-.0-9A-Z^_`a-z{|}~]+"  # a token without *, ' and %
_VALUE = r"[!#$%&+\-.0-9A-Z^_`a-z{|}~]+|\"[ !#-\[\]-~]*\""  # a token without *, '; quoted
_FOLD = r"(?:\r?\n)?[ \t]*"
_PARAMETERS = rf"(?:{_FOLD};{_FOLD}{_ATTRIBUTE}=(?:{_VALUE}))*(?:{_FOLD};)?[ \t]*"
_PLAIN_VALUES = {
    "content-type": re.compile(rf"{_TOKEN}/{_TOKEN}{_PARAMETERS}"),
    "content-disposition": re.compile(rf"{_TOKEN}{_PARAMETERS}"),
    "content-transfer-encoding": re.compile(rf"{_TOKEN}[ \t]*"),
}


class _Policy(Compat32):
    """compat32, whose header values are plain strings, reading them as policy.default does.

    policy.default builds a header object on every `msg.get`, and a part's MIME headers are
    asked for many times (by the email package's own parser too): that was most of the
    cost of parsing a small message. Here plain MIME header values (above) are returned as
    they are, and every other value is the text of policy.default's header object, so what
    the email package, this module and bounce.py read is what they read under
    policy.default.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        lname = name.lower()
        plain = _PLAIN_VALUES.get(lname)
        if plain is not None and "=?" not in value and plain.fullmatch(value):
            return value
        return _default_value(lname, value)


@lru_cache(maxsize=256)
def _default_value(name: str, value: str) -> str:
    """policy.default's reading of a header value; cached, as a part's Content-Type is
    asked for several times."""
    return str(email.policy.default.header_fetch_parse(name, value))


_POLICY = _Policy()


def parse(raw: bytes, *, key: str, received_at: datetime) -> Inbound:
    """Parse one message. Any failure is recorded in `problems`, never raised."""
    content_hash = hashlib.sha256(raw).hexdigest()
    problems: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=_POLICY)
    except Exception as exc:  # the parser is lenient; this guards against the unexpected
        return _unreadable(raw, key, received_at, content_hash, f"cannot parse MIME: {exc}")
    try:
        return _parse_message(msg, raw, key, received_at, content_hash, problems)
    except Exception as exc:
        return _unreadable(raw, key, received_at, content_hash, f"{type(exc).__name__}: {exc}")


def _unreadable(raw: bytes, key: str, received_at: datetime, content_hash: str,
                problem: str) -> Inbound:
    return Inbound(
        key=key,
        message_id=f"{content_hash[:32]}@unreadable.invalid",
        content_hash=content_hash,
        received_at=received_at,
        sender=None,
        problems=(problem,),
        unreadable=True,
        size=len(raw),
    )


def _parse_message(msg: Message, raw: bytes, key: str, received_at: datetime,
                   content_hash: str, problems: list[str]) -> Inbound:
    headers = _read_headers(msg, problems)
    message_ids = message_id_list(headers.get("message-id", ""))
    message_id = message_ids[0] if message_ids else f"{content_hash[:32]}@no-message-id.invalid"
    if not message_ids:
        problems.append("no Message-ID header")

    sender = _first_address(headers.get("from", ""), "From", problems)
    full_text, html_only = body_text(msg, problems)
    if html_only:
        text = visible.visible_text(_normalise_newlines("\n\n".join(
            visible.html_to_text(h, drop_quotes=True) for h in html_bodies(msg, []))))
    else:
        text = visible.visible_text(full_text)
    if html_only:
        problems.append("no text/plain part: text taken from HTML")
    for defect in getattr(msg, "defects", []):
        problems.append(f"MIME: {type(defect).__name__}")

    return Inbound(
        key=key,
        message_id=message_id,
        content_hash=content_hash,
        received_at=received_at,
        sender=sender,
        reply_to=_first_address(headers.get("reply-to", ""), "Reply-To", problems),
        to=_addresses(headers.get("to", "")),
        cc=_addresses(headers.get("cc", "")),
        return_path=_return_path(headers.get("return-path")),
        subject=_one_line(headers.get("subject", "")),
        date=_date(headers.get("date"), problems),
        in_reply_to=tuple(message_id_list(headers.get("in-reply-to", ""))),
        references=tuple(message_id_list(headers.get("references", ""))),
        headers=MappingProxyType(headers),
        text=text[:MAX_TEXT_CHARS],
        full_text=full_text[:MAX_TEXT_CHARS],
        content_language=_language(headers.get("content-language")),
        report=bounce.read_report(msg),
        problems=tuple(problems),
        size=len(raw),
    )


def _read_headers(msg: Message, problems: list[str]) -> dict[str, str]:
    """Decode every header once. Repeated headers keep their first value, except the
    few whose repeats matter for screening, which are joined."""
    joined = {"received", "authentication-results", "list-id"}
    out: dict[str, str] = {}
    for name, value in msg.raw_items():
        lname = name.lower()
        text = _decode_header_value(value, name, problems)[:MAX_HEADER_CHARS]
        if lname in out:
            if lname in joined:
                out[lname] = f"{out[lname]}\n{text}"
            continue
        out[lname] = text
    return out


def _decode_header_value(value: object, name: str, problems: list[str]) -> str:
    raw = str(value)
    if "=?" not in raw:
        decoded = raw  # no encoded word: decode_header and make_header give it back as it is
    else:
        try:
            decoded = str(make_header(decode_header(raw)))
        except Exception:
            problems.append(f"undecodable {name} header")
            decoded = raw
    # Unfold, and drop control characters so nothing downstream can be injected.
    return _CONTROL.sub("", _FOLDING.sub(" ", decoded)).strip()


@lru_cache(maxsize=1024)
def _addresses(value: str) -> tuple[Address, ...]:
    """The addresses in a header. Cached: the To and Cc of feedback repeat (our own
    addresses), and getaddresses is a large part of parsing a small message."""
    if not value:
        return ()
    out = []
    for name, addr in getaddresses([value]):
        addr = addr.strip()
        if "@" not in addr or " " in addr:
            continue
        local, _, domain = addr.rpartition("@")
        out.append(Address(name=_one_line(name), email=f"{local}@{domain.lower()}"))
    return tuple(out)


def _first_address(value: str, header: str, problems: list[str]) -> Address | None:
    found = _addresses(value)
    if value and not found:
        problems.append(f"unreadable {header} address: {value[:80]!r}")
    return found[0] if found else None


def _return_path(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value in {"<>", ""}:
        return ""
    match = re.search(r"<([^<>]*)>", value)
    return (match.group(1) if match else value).strip()


def message_id_list(value: str) -> list[str]:
    """Message-IDs in a header, without angle brackets; tolerant of bare ids."""
    if not value:
        return []
    found = _MSGID_RE.findall(value)
    if found:
        return found
    bare = value.strip()
    return [bare] if len(bare) >= 3 and not any(c.isspace() for c in bare) else []


def _date(value: str | None, problems: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        problems.append(f"unreadable Date header: {value[:60]!r}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _language(value: str | None) -> str | None:
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


def _one_line(value: str) -> str:
    return " ".join(value.split())


def body_text(msg: Message, problems: list[str]) -> tuple[str, bool]:
    """The message's text: its text/plain parts, else its HTML turned into text.

    Returns the text and whether it came from HTML only. Attachments, including
    attached messages, are not part of what the customer wrote to us.
    """
    plain: list[str] = []
    html: list[str] = []
    for part in _body_parts(msg):
        ctype = part.get_content_type()
        content = _decode_part(part, problems)
        if content is None:
            continue
        if ctype == "text/plain":
            plain.append(content)
        elif ctype == "text/html":
            html.append(content)
    if plain:
        return _normalise_newlines("\n\n".join(plain)), False
    if html:
        return _normalise_newlines("\n\n".join(visible.html_to_text(h) for h in html)), True
    return "", False


def html_bodies(msg: Message, problems: list[str]) -> list[str]:
    return [content for part in _body_parts(msg)
            if part.get_content_type() == "text/html"
            and (content := _decode_part(part, problems)) is not None]


def _body_parts(msg: Message) -> Iterable[Message]:
    """The parts that make up the body: text parts that are not attachments, not
    inside an attached message, taking one alternative (they all say the same)."""
    if msg.is_multipart():
        ctype = msg.get_content_type()
        payload = msg.get_payload()
        if not isinstance(payload, list):
            return
        subparts: list[Message] = [p for p in payload if isinstance(p, Message)]
        if ctype == "multipart/alternative":
            # Prefer the plain alternative; fall back to the richest one (the last).
            plain = [p for p in subparts if p.get_content_type() == "text/plain"]
            chosen = plain[:1] or subparts[-1:]
            for part in chosen:
                yield from _body_parts(part)
            return
        if ctype == "multipart/report":
            # Only the human-readable first part of a report is text for us.
            if subparts:
                yield from _body_parts(subparts[0])
            return
        for part in subparts:
            yield from _body_parts(part)
        return
    if msg.get_content_maintype() != "text":
        return
    disposition = (msg.get("Content-Disposition") or "").split(";")[0].strip().lower()
    if disposition == "attachment":
        return
    yield msg


def _decode_part(part: Message, problems: list[str]) -> str | None:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        problems.append(f"undecodable body part: {exc}")
        return None
    if not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except LookupError:
        problems.append(f"unknown charset {charset!r}: decoded as UTF-8 with replacements")
    except UnicodeDecodeError:
        problems.append(f"body not valid {charset}: decoded with replacements")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        # cp1252 is what mislabelled Western mail most often is; undefined bytes are replaced.
        return payload.decode("cp1252", errors="replace")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
