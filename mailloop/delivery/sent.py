"""The Sent folder over IMAP: where a copy of each reply is kept, and the witness
that tells, after a crash, whether a reply left in `sending` went out.

Two ways to use it (`[delivery.sent_folder]`):

- `append = false` (the default): the submission server files its own copy of
  everything it accepts (Gmail, Microsoft 365). mailloop only reads the folder:
  a reply found there was sent; a reply not found there never reached the server.
- `append = true`: mailloop appends a copy after the server accepted the reply.
  An append that fails is logged and never causes a second send. After a crash a
  reply found there was sent; one not found may still have been accepted just
  before the crash, so it is left `uncertain` for an operator.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from pydantic import SecretStr

from mailloop import credentials

log = logging.getLogger("mailloop.sent")


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    tls: str  # "implicit" | "starttls" | "none"
    verify_tls: bool
    username: str
    password: SecretStr | None
    password_command: str | None
    oauth2_token_command: str | None
    timeout: float = 30.0


class SentFolder:
    def __init__(self, account: ImapAccount, folder: str, *, append_copies: bool) -> None:
        self.account = account
        self.folder = folder
        self.append_copies = append_copies
        self._client: IMAPClient | None = None
        self.appended = 0
        self.last_error: str | None = None

    def _connect(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        acc = self.account
        context = ssl.create_default_context()
        if not acc.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        client = IMAPClient(acc.host, port=acc.port, ssl=acc.tls == "implicit",
                            ssl_context=context, timeout=acc.timeout)
        try:
            if acc.tls == "starttls":
                client.starttls(context)
            cred = credentials.resolve(acc.username, acc.password, acc.password_command,
                                       acc.oauth2_token_command, section="delivery.sent_folder")
            if cred.kind == "oauth2":
                client.oauth2_login(cred.username, cred.secret)
            else:
                client.login(cred.username, cred.secret)
        except BaseException:
            _quietly_close(client)
            raise
        self._client = client
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _quietly_close(client)

    def contains(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is in the folder (raises on IMAP errors)."""
        client = self._connect()
        client.select_folder(self.folder, readonly=True)
        return bool(client.search(["HEADER", "Message-ID", f"<{message_id}>"]))

    def already_sent(self, message_id: str) -> bool | None:
        try:
            found = self.contains(message_id)
        except Exception as exc:
            self._drop()
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("cannot check the Sent folder %r for %s: %s", self.folder, message_id,
                        self.last_error)
            return None
        if found:
            return True
        return None if self.append_copies else False

    def append(self, message_id: str, raw: bytes) -> bool:
        """Append a copy; False (logged, never raised) when that fails."""
        for attempt in (1, 2):
            try:
                self._connect().append(self.folder, raw, flags=[b"\\Seen"])
                self.appended += 1
                return True
            except Exception as exc:
                self._drop()
                self.last_error = f"{type(exc).__name__}: {exc}"
                if attempt == 2:
                    log.warning("reply %s was sent, but its copy could not be appended to "
                                "%r: %s", message_id, self.folder, self.last_error)
        return False

    def status(self) -> dict[str, Any]:
        return {"folder": self.folder, "host": self.account.host, "append": self.append_copies,
                "appended": self.appended, "last_error": self.last_error}

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                _quietly_close(client)


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception as exc:  # the socket may be gone already
        log.debug("closing IMAP connection: %s", exc)
