"""Real mail servers the tests start on 127.0.0.1: Dovecot (IMAP, LMTP, sieve) and aiosmtpd."""

from .dovecot import (
    DOMAIN,
    Dovecot,
    DovecotError,
    DovecotUnavailable,
    MailUser,
    free_port,
    unavailable_reason,
)
from .smtp import Received, SmtpServer

__all__ = [
    "DOMAIN",
    "Dovecot",
    "DovecotError",
    "DovecotUnavailable",
    "MailUser",
    "Received",
    "SmtpServer",
    "free_port",
    "unavailable_reason",
]
