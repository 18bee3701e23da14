"""Build the transports and the store the settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailloop.config import MailboxConfig, SentFolderConfig, Settings
from mailloop.delivery.base import Delivery
from mailloop.delivery.maildir import MaildirOutbox
from mailloop.mailbox.base import Mailbox
from mailloop.mailbox.maildir import MaildirMailbox

if TYPE_CHECKING:
    from mailloop.delivery.sent import SentFolder


def make_mailbox(settings: Settings) -> Mailbox:
    if settings.mailbox.kind == "imap":
        from mailloop.mailbox.imap import ImapMailbox

        return ImapMailbox(settings.mailbox)
    return MaildirMailbox(settings.inbox_path)


def make_delivery(settings: Settings, *, own_process: bool = False) -> Delivery:
    """The transport of `[delivery]`. With `own_process`, SMTP runs in a child process
    (see delivery/process.py); the Maildir outbox is cheap enough to stay."""
    if settings.delivery.kind == "smtp":
        if own_process:
            from mailloop.delivery.process import ProcessDelivery

            return ProcessDelivery(settings)
        from mailloop.delivery.smtp import SmtpDelivery

        return SmtpDelivery(settings.delivery, sent_folder=make_sent_folder(settings))
    return MaildirOutbox(settings.outbox_path)


def make_sent_folder(settings: Settings) -> SentFolder | None:
    """The Sent folder of `[delivery.sent_folder]`, on its own account or the mailbox's."""
    sent = settings.delivery.sent_folder
    if sent is None:
        return None
    from mailloop.delivery.sent import ImapAccount, SentFolder

    src: SentFolderConfig | MailboxConfig = sent if sent.host is not None else settings.mailbox
    port = src.port or (993 if src.tls == "implicit" else 143)
    account = ImapAccount(host=src.host or "localhost", port=port, tls=src.tls,
                          verify_tls=src.verify_tls, username=src.username,
                          password=src.password, password_command=src.password_command,
                          oauth2_token_command=src.oauth2_token_command,
                          timeout=settings.delivery.timeout)
    return SentFolder(account, sent.folder, append_copies=sent.append)
