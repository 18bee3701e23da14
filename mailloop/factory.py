"""Build the transports and the store the settings ask for."""

from __future__ import annotations

from mailloop.config import Settings
from mailloop.delivery.base import Delivery
from mailloop.delivery.maildir import MaildirOutbox
from mailloop.mailbox.base import Mailbox
from mailloop.mailbox.maildir import MaildirMailbox


def make_mailbox(settings: Settings) -> Mailbox:
    if settings.mailbox.kind == "imap":
        from mailloop.mailbox.imap import ImapMailbox

        return ImapMailbox(settings.mailbox)
    return MaildirMailbox(settings.inbox_path)


def make_delivery(settings: Settings) -> Delivery:
    if settings.delivery.kind == "smtp":
        from mailloop.delivery.smtp import SmtpDelivery

        return SmtpDelivery(settings.delivery)
    return MaildirOutbox(settings.outbox_path)
