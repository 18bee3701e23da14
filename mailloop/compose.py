"""compose: an Outgoing value -> the bytes of a MIME message.

Every message we send says it is automatic (RFC 3834 `Auto-Submitted`, the
Microsoft and de-facto equivalents) and carries our loop header, so no
auto-responder answers it and our own screening recognises it if it comes back.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
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
    if out.locale:
        msg["Content-Language"] = out.locale
    for name, value in out.extra_headers:
        msg[name] = value
    msg.set_content(out.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if out.html:
        msg.add_alternative(out.html, subtype="html", charset="utf-8", cte="quoted-printable")
        # deterministic, so a preview is byte-identical to what is sent
        digest = hashlib.sha256(f"{out.text}\0{out.html}".encode()).hexdigest()[:32]
        msg.set_boundary(f"mailloop-{digest}")
    return msg


def to_bytes(out: Outgoing, *, now: datetime) -> bytes:
    return to_email(out, now=now).as_bytes()
