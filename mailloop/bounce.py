"""Reading delivery reports (bounces): RFC 3464 `multipart/report` and common variants.

A report tells us which of our replies failed, for whom, and why. We look for the
original Message-ID in the returned message or headers, and the per-recipient
status fields; everything is optional because real reports omit things.
"""

from __future__ import annotations

import re
from email.message import Message

from mailloop.model import DeliveryReport

_MSGID_IN_TEXT = re.compile(r"^Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_STATUS_IN_TEXT = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def read_report(msg: Message) -> DeliveryReport | None:
    """The delivery report carried by `msg`, or None when it is not one."""
    try:
        if msg.get_content_type() == "multipart/report":
            return _rfc3464(msg)
    except Exception:
        return None
    return None


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
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original_id = _angle_strip(inner[0].get("Message-ID"))
        elif ctype in {"text/rfc822-headers", "text/global-headers"}:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                match = _MSGID_IN_TEXT.search(payload.decode("utf-8", "replace"))
                original_id = match.group(1) if match else original_id
    if not fields and original_id is None:
        return None
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
        from email import message_from_string
        blocks = [message_from_string(chunk) for chunk in re.split(r"\r?\n\r?\n", text) if chunk]
    found: dict[str, str] = {}
    for block in blocks:
        keys = {k.lower() for k in block}
        if "status" in keys or "final-recipient" in keys:
            for k, v in block.items():
                found.setdefault(k.lower(), " ".join(str(v).split()))
            break
    return found


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


def status_in_text(text: str) -> str | None:
    """An enhanced status code mentioned in free text (non-standard bounces)."""
    match = _STATUS_IN_TEXT.search(text)
    return match.group(1) if match else None
