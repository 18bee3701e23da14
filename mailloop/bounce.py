"""Reading delivery reports (bounces): RFC 3464 `multipart/report` and the common
non-standard formats (qmail, Exim, Postfix without a status part, Exchange/Outlook
text NDRs, "Undelivered Mail Returned to Sender" with the original attached).

A report tells us which of our replies failed, for whom, and why. Non-standard
reports are read with general rules rather than one pattern per vendor:

- a message is a bounce only with evidence from its envelope or headers (a
  MAILER-DAEMON/postmaster sender, a null Return-Path, `X-Failed-Recipients`, or
  our VERP return path as recipient) *and* from its content (a delivery-failure
  phrase or an SMTP status code), so a customer writing "my parcel was
  undelivered" is never taken for one;
- the original Message-ID comes from the returned message (attached as
  message/rfc822, as text/rfc822-headers, or quoted inline as header lines);
- the failed recipient is `X-Failed-Recipients`, else the first address the
  explanation names that is not the bounce's own sender or recipient;
- the status is the first enhanced status code (`5.1.1`) in the explanation, else
  one derived from a basic SMTP reply code on a line that reports a server reply;
- the action is `delayed` for a warning that delivery is still being tried, else
  `failed`.

Where the bounce quotes nothing of the original, our VERP return path (see
mailloop/verp.py), which the bounce was sent to, names the reply.
Everything is optional because real reports omit things.
"""

from __future__ import annotations

import re
from email import message_from_string
from email.message import Message

from mailloop import verp
from mailloop.model import DeliveryReport

_MSGID_IN_TEXT = re.compile(r"^[ \t>]*Message-ID:[ \t]*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_FAILURE_STATUS = re.compile(r"(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?![\d.])")
_BASIC_CODE = re.compile(r"(?<![\d.])([45]\d\d)(?=[ -])")
_REPLY_LINE = re.compile(r"said|returned|smtp|error|refused|rejected|remote|host|response",
                         re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
_ROBOTS = {"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mdaemon"}
_FAILURE_PHRASES = re.compile(
    r"undeliver|not be delivered|couldn't be delivered|could not deliver|unable to deliver|"
    r"delivery (has )?failed|delivery failure|failed permanently|permanent (fatal )?error|"
    r"returned mail|returning message|failure notice|qmail-send program|"
    r"delivery status notification|message not delivered|was not delivered|wasn't delivered|"
    r"did not reach|non[- ]?delivery|mail delivery (failed|subsystem|system)|"
    r"unzustellbar|nicht zugestellt|non remis|no se pudo entregar|recipient address rejected",
    re.IGNORECASE)
_DELAY_PHRASES = re.compile(
    r"delayed|will (keep|continue) trying|will retry|still trying|not yet been delivered|"
    r"has not been delivered yet|temporar(y|ily) (failure|problem)|warning: message",
    re.IGNORECASE)
_GAVE_UP = re.compile(r"gave up|giving up|not going to try again|too long in the queue|"
                      r"has been in the queue too long|permanent", re.IGNORECASE)
# Where a returned message starts inside the explanation text.
_ORIGINAL_STARTS = re.compile(
    r"^[ \t>]*(Return-Path|Received|DKIM-Signature|Message-ID|ARC-Seal):"
    r"|^.*(below this line is a copy|this is a copy of the message|original message headers|"
    r"original message follows|-+ ?original message ?-+|undelivered message (follows|headers)|"
    r"text of the (returned )?message)",
    re.IGNORECASE | re.MULTILINE)
_RECIPIENT_HEADERS = ("to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
_EVIDENCE_HEADERS = frozenset({"return-path", "x-failed-recipients", "from", *_RECIPIENT_HEADERS})


def read_report(msg: Message) -> DeliveryReport | None:
    """The delivery report carried by `msg`, or None when it is not one."""
    try:
        report: DeliveryReport | None = None
        if msg.get_content_type() == "multipart/report":
            report = _rfc3464(msg)
        if report is None and _bounce_evidence(msg):
            report = _non_standard(msg)
        if report is None:
            return None
        return _with_token(msg, report)
    except Exception:
        return None


# --------------------------------------------------------------------------- RFC 3464


def _rfc3464(msg: Message) -> DeliveryReport | None:
    parts = msg.get_payload()
    if not isinstance(parts, list):
        return None
    fields: dict[str, str] = {}
    original_id: str | None = None
    for part in parts:
        if not isinstance(part, Message):
            continue
        ctype = part.get_content_type()
        if ctype in {"message/delivery-status", "message/global-delivery-status"}:
            fields = _status_fields(part)
        elif ctype in {"message/rfc822", "message/global"}:
            original_id = _attached_id(part) or original_id
        elif ctype in {"text/rfc822-headers", "text/global-headers"}:
            match = _MSGID_IN_TEXT.search(_part_text(part))
            original_id = match.group(1) if match else original_id
    if not fields and original_id is None:
        return None
    if original_id is None:
        match = _MSGID_IN_TEXT.search(_explanation(msg)[1])
        original_id = match.group(1) if match else None
    return DeliveryReport(
        original_message_id=original_id,
        recipient=_after_type(fields.get("final-recipient") or fields.get("original-recipient")),
        status=fields.get("status"),
        action=(fields.get("action") or "").lower() or None,
        diagnostic=_after_type(fields.get("diagnostic-code")),
    )


def _status_fields(part: Message) -> dict[str, str]:
    """The first per-recipient block's fields (the per-message block has none of these)."""
    blocks: list[Message] = []
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
    else:
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
        blocks = [message_from_string(chunk) for chunk in re.split(r"\r?\n\r?\n", text) if chunk]
    found: dict[str, str] = {}
    for block in blocks:
        keys = {k.lower() for k in block}
        if "status" in keys or "final-recipient" in keys:
            for k, v in block.items():
                found.setdefault(k.lower(), " ".join(str(v).split()))
            break
    return found


# --------------------------------------------------------------------------- non-standard


def _bounce_evidence(msg: Message) -> bool:
    """Envelope/header evidence and content evidence, both (see the module docstring)."""
    if not _may_be_bounce(msg):
        return False
    sender = _addresses(str(msg.get("From", "")))
    robot = any(a.rpartition("@")[0].lower() in _ROBOTS for a in sender)
    return_path = str(msg.get("Return-Path", "") or "").strip()
    null_sender = return_path in {"<>", ""} and msg.get("Return-Path") is not None
    failed_header = msg.get("X-Failed-Recipients") is not None
    to_token = verp.find_token(str(msg.get(h, "")) for h in _RECIPIENT_HEADERS) is not None
    if not (robot or null_sender or failed_header or to_token):
        return False
    subject = str(msg.get("Subject", ""))
    explanation, _ = _explanation(msg)
    if _FAILURE_PHRASES.search(subject) or _FAILURE_PHRASES.search(explanation):
        return True
    return bool(_FAILURE_STATUS.search(explanation)) and (robot or failed_header or to_token)


def _may_be_bounce(msg: Message) -> bool:
    """The envelope/header evidence of `_bounce_evidence`, read from the raw headers:
    most mail has none of it, and asking the email package for each header parses it."""
    raw: dict[str, str] = {}
    for name, value in msg.raw_items():
        lname = name.lower()
        if lname in _EVIDENCE_HEADERS and lname not in raw:
            raw[lname] = " ".join(str(value).split())
    if "return-path" in raw or "x-failed-recipients" in raw:
        return True
    if any("=?" in raw.get(h, "") for h in ("from", *_RECIPIENT_HEADERS)):
        return True  # encoded words: leave the decoding to the email package
    if any(a.rpartition("@")[0].lower() in _ROBOTS for a in _addresses(raw.get("from", ""))):
        return True
    return verp.find_token(raw.get(h, "") for h in _RECIPIENT_HEADERS) is not None


def _non_standard(msg: Message) -> DeliveryReport:
    explanation, whole = _explanation(msg)
    original_id = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in {"message/rfc822", "message/global"}:
            original_id = _attached_id(part)
        elif ctype in {"text/rfc822-headers", "text/global-headers"}:
            match = _MSGID_IN_TEXT.search(_part_text(part))
            original_id = match.group(1) if match else None
        if original_id:
            break
    if original_id is None:
        match = _MSGID_IN_TEXT.search(whole)
        original_id = match.group(1) if match else None
    status, diagnostic = _status(explanation)
    recipient = _recipient(msg, explanation)
    text = f"{msg.get('Subject', '')}\n{explanation}"
    delayed = bool(_DELAY_PHRASES.search(text)) and not _GAVE_UP.search(explanation)
    if status is not None and status.startswith("5"):
        delayed = False
    return DeliveryReport(original_message_id=original_id, recipient=recipient, status=status,
                          action="delayed" if delayed else "failed", diagnostic=diagnostic)


def _explanation(msg: Message) -> tuple[str, str]:
    """(the human-readable explanation, all readable text including a quoted original).

    The explanation is the text outside any attached message, cut where an inline
    copy of the original starts."""
    texts: list[str] = []
    _collect_text(msg, texts)
    whole = "\n".join(texts)
    cut = _ORIGINAL_STARTS.search(whole)
    return (whole[:cut.start()] if cut else whole), whole


def _collect_text(part: Message, out: list[str]) -> None:
    ctype = part.get_content_type()
    if part.is_multipart():
        if ctype in {"message/rfc822", "message/global"}:
            return  # the returned message: not our explanation
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _collect_text(sub, out)
        return
    if ctype in {"text/plain", "text/html"}:
        text = _part_text(part)
        if ctype == "text/html":
            text = re.sub(r"<[^>]+>", " ", re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", text))
            text = re.sub(r"&lt;", "<", re.sub(r"&gt;", ">", re.sub(r"&nbsp;|&#160;", " ", text)))
        if out and ctype == "text/html":
            return  # an HTML alternative repeats the plain text
        out.append(text)


def _status(explanation: str) -> tuple[str | None, str | None]:
    for line in explanation.splitlines():
        match = _FAILURE_STATUS.search(line)
        if match:
            return match.group(1), _clean(line)
    previous = ""
    for line in explanation.splitlines():
        match = _BASIC_CODE.search(line)
        # A basic reply code counts where the line (or the one before it) reports a
        # server's reply, or where the line is that reply.
        if match and (_REPLY_LINE.search(previous + " " + line)
                      or line[:match.start()].strip() == ""):
            return f"{match.group(1)[0]}.0.0", _clean(line)
        previous = line
    return None, None


def _recipient(msg: Message, explanation: str) -> str | None:
    failed = _addresses(str(msg.get("X-Failed-Recipients", "")))
    if failed:
        return failed[0]
    own = {a.casefold() for h in ("From", "Sender", "Reply-To", *_RECIPIENT_HEADERS)
           for a in _addresses(str(msg.get(h, "")))}
    for found in _EMAIL.findall(explanation):
        address = str(found).strip(".")
        folded = address.casefold()
        if folded in own or address.rpartition("@")[0].lower() in _ROBOTS:
            continue
        if verp.find_token([address]) is not None:
            continue
        return address
    return None


# --------------------------------------------------------------------------- helpers


def _with_token(msg: Message, report: DeliveryReport) -> DeliveryReport:
    """Add the VERP token the bounce came back to (and the Message-ID it names when the
    bounce quoted none)."""
    places = [str(msg.get(h, "")) for h in _RECIPIENT_HEADERS]
    for part in msg.walk():
        if part.get_content_type() in {"message/rfc822", "message/global"}:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                places.append(str(inner[0].get("Return-Path", "")))
    places.append(_explanation(msg)[1])
    found = verp.find_token(places)
    if found is None:
        return report
    token, domain = found
    original = report.original_message_id or verp.message_id_for(token, domain)
    return DeliveryReport(original_message_id=original, recipient=report.recipient,
                          status=report.status, action=report.action,
                          diagnostic=report.diagnostic, envelope_token=token)


def _attached_id(part: Message) -> str | None:
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], Message):
        return _angle_strip(inner[0].get("Message-ID"))
    if isinstance(inner, str):
        match = _MSGID_IN_TEXT.search(inner)
        return match.group(1) if match else None
    return None


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _addresses(value: str) -> list[str]:
    return [a.strip(".") for a in _EMAIL.findall(value)]


def _clean(line: str) -> str:
    return " ".join(line.split())[:300]


def _after_type(value: str | None) -> str | None:
    """`rfc822; user@example.com` -> `user@example.com`."""
    if not value:
        return None
    return value.split(";", 1)[-1].strip() or None


def _angle_strip(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    match = re.search(r"<([^<>\s]+)>", text)
    return match.group(1) if match else (text or None)
