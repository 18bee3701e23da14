"""Sending replies over SMTP with the standard library's smtplib.

The sender keeps its SMTP connections open across `send` calls: one connection
carries many messages and is reopened when the server has dropped it. Each of
the `connections` slots has its own worker thread while a chunk is sent, each
taking the next message of the chunk. A worker blocked on its socket releases
the interpreter lock, so the daemon's main thread runs meanwhile; smtplib costs
less CPU per message than aiosmtplib on an event loop did (docs/delivery.md).

Outcomes, per message:

- 2xx after DATA: SENT, with the server's response;
- some recipients refused, others accepted: SENT, the refusals kept per recipient;
- 4xx, a dropped connection, a timeout, a server that is down, a login or
  password-command failure: DEFERRED (the ledger retries it later);
- 5xx (or every recipient refused with 5xx): FAILED, the reply kept.

A connection found closed before a message's transaction starts is reopened and
the message tried on it; a connection lost during DATA is never retried here: the
server may have taken the message, so it is left to the ledger's retry.
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
import select
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from smtplib import (
    SMTPAuthenticationError,
    SMTPDataError,
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
)
from typing import TYPE_CHECKING, Any, overload

from mailloop import credentials, verp
from mailloop.config import DeliveryConfig
from mailloop.delivery.base import Envelope
from mailloop.delivery.sent import SentFolder
from mailloop.model import ReplyState, SendResult

if TYPE_CHECKING:
    from _socket import _Address as _SourceAddress
    from smtplib import _AuthObject

    from _typeshed import ReadableBuffer

log = logging.getLogger("mailloop.smtp")

# A connection idle for longer than this is checked with NOOP before it is used:
# servers close idle sessions, and a message is only retried on a fresh connection
# when we know its transaction never started.
IDLE_CHECK_AFTER = 10.0
# smtplib's SMTPException is an OSError, as are socket, TLS and timeout errors.
_CONNECTION_ERRORS = (OSError,)
_CLOSING = 421  # the server is closing the connection: it takes no further command
_MAX_CHALLENGES = 5
# A dot-atom address, which smtplib's quoteaddr() (a pure-Python RFC 2822 parser, a
# fifth of the client's CPU per message) returns unchanged in angle brackets.
_ATOMS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_ADDRESS = re.compile(f"{_ATOMS}@{_ATOMS}")


def default_port(tls: str) -> int:
    return {"implicit": 465, "starttls": 587}.get(tls, 25)


def server_port(config: DeliveryConfig) -> int:
    return config.port or default_port(config.tls)


def transport_name(config: DeliveryConfig) -> str:
    """How logs and status name the SMTP transport of `config`."""
    return f"smtp:{config.host}:{server_port(config)}"


class _Client(smtplib.SMTP):
    """smtplib's client that keeps the server's greeting and sends SASL answers as
    UTF-8: smtplib encodes them as ASCII, so a password with any other character
    could not log in at all."""

    greeting = ""

    def connect(self, host: str = "localhost", port: int = 0,
                source_address: _SourceAddress | None = None) -> tuple[int, bytes]:
        code, message = super().connect(host, port, source_address)
        self.greeting = f"{code} {_text(message)}"
        return code, message

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if options:
            return super().mail(sender, options)
        self.putcmd("mail", f"from:{quote_address(sender)}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if options:
            return super().rcpt(recip, options)
        self.putcmd("rcpt", f"to:{quote_address(recip)}")
        return self.getreply()

    def auth(self, mechanism: str, authobject: _AuthObject, *,
             initial_response_ok: bool = True) -> tuple[int, bytes]:
        # smtplib's exchange, but for the encoding; auth_login counts the challenges.
        initial = authobject() if initial_response_ok else None
        if initial is None:
            self._auth_challenge_count = 0
            code, reply = self.docmd("AUTH", mechanism.upper())
        else:
            self._auth_challenge_count = 1
            code, reply = self.docmd("AUTH", f"{mechanism.upper()} {_b64(initial)}")
        while code == 334:
            self._auth_challenge_count += 1
            if self._auth_challenge_count > _MAX_CHALLENGES:
                raise SMTPException(f"AUTH {mechanism} does not end: {code} {_text(reply)}")
            code, reply = self.docmd(_b64(authobject(base64.decodebytes(reply))))
        if code in (235, 503):  # 503: already authenticated
            return code, reply
        raise SMTPAuthenticationError(code, reply)

    @overload
    def auth_cram_md5(self, challenge: None = None) -> None: ...
    @overload
    def auth_cram_md5(self, challenge: ReadableBuffer) -> str: ...

    def auth_cram_md5(self, challenge: ReadableBuffer | None = None) -> str | None:
        if challenge is None:
            return None
        digest = hmac.new(self.password.encode(), bytes(challenge), "md5").hexdigest()
        return f"{self.user} {digest}"


class _ClientTLS(_Client, smtplib.SMTP_SSL):
    """The same over implicit TLS (port 465)."""


class _Conn:
    """One SMTP client slot: its connection (or none yet) and when it was last used."""

    def __init__(self) -> None:
        self.client: _Client | None = None
        self.last_used = 0.0
        self.opened = 0
        self.sent = 0  # per slot: each is counted by its own worker only


class _Drop(Exception):
    """The connection went away before the transaction started: reconnect and retry."""


class SmtpDelivery:
    def __init__(self, config: DeliveryConfig, *, sent_folder: SentFolder | None = None,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.port = server_port(config)
        self.name = transport_name(config)
        self.sent_folder = sent_folder
        self.tls_context = tls_context
        self._slots = [_Conn() for _ in range(config.connections)]
        self._last_error: str | None = None
        # Threads start on the first send and stay: a slot's connection is used by one
        # worker at a time, as `send` calls are serialized by the lock.
        self._workers = ThreadPoolExecutor(config.connections, thread_name_prefix="mailloop-smtp")
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._local_hostname: str | None = None
        self._closed = False

    # ---- the Delivery protocol -------------------------------------------------

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        if not envelopes:
            return []
        with self._lock:
            if self._closed:
                raise RuntimeError("SmtpDelivery is closed")
            results = self._send_all(list(envelopes))
        if self.sent_folder is not None and self.sent_folder.append_copies:
            for env, result in zip(envelopes, results, strict=True):
                if result.state is ReplyState.SENT:
                    self.sent_folder.append(env.message_id, env.raw)
        return results

    def already_sent(self, message_id: str) -> bool | None:
        if self.sent_folder is None:
            return None
        return self.sent_folder.already_sent(message_id)

    def status(self) -> dict[str, Any]:
        return {
            "kind": "smtp",
            "host": self.config.host,
            "port": self.port,
            "tls": self.config.tls,
            "connections": len(self._slots),
            "connected": sum(1 for s in self._slots
                             if s.client is not None and s.client.sock is not None),
            "opened": sum(s.opened for s in self._slots),
            "sent": sum(s.sent for s in self._slots),
            "last_error": self._last_error,
            "sent_folder": self.sent_folder.status() if self.sent_folder else None,
        }

    def probe(self) -> str:
        """Open one connection and log in, as sending would; the server's greeting line.
        Raises on any failure (for `mailloop check`)."""
        client = self._connect()
        try:
            return " ".join(client.greeting.split()[:8]) or "ok"
        finally:
            client.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A send still running has its own timeouts; wait for it as long as one QUIT may.
        idle = self._lock.acquire(timeout=self.config.timeout + 5)
        if idle:
            try:
                self._quit_all()
            finally:
                self._lock.release()
        else:
            log.debug("closing SMTP connections: a send is still running")
        self._workers.shutdown(wait=idle)  # idle workers end at once; a busy one is not awaited
        if self.sent_folder is not None:
            self.sent_folder.close()

    # ---- on the worker threads -------------------------------------------------

    def _send_all(self, envelopes: list[Envelope]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(envelopes)
        pending = iter(range(len(envelopes)))
        take = threading.Lock()

        def worker(slot: _Conn) -> None:
            nonlocal pending
            try:
                while True:
                    with take:  # a shared iterator: each worker takes the next message
                        index = next(pending, None)
                    if index is None:
                        return
                    results[index] = self._send_one(slot, envelopes[index])
            except BaseException:
                with take:  # the caller gets this error, not results: send no more
                    pending = iter(())
                raise

        slots = self._slots[:max(1, min(len(self._slots), len(envelopes)))]
        futures = [self._workers.submit(worker, slot) for slot in slots]
        wait(futures)  # every worker is done with its slot before the lock is released
        for future in futures:
            future.result()
        return [r if r is not None else SendResult(ReplyState.DEFERRED, "not attempted")
                for r in results]

    def _send_one(self, slot: _Conn, env: Envelope) -> SendResult:
        for attempt in (1, 2):
            try:
                client = self._ready(slot)
            except SMTPAuthenticationError as exc:
                return self._deferred(f"login refused: {_describe(exc)}")
            except credentials.CredentialError as exc:
                return self._deferred(str(exc))
            except _CONNECTION_ERRORS as exc:
                return self._deferred(f"cannot connect to {self.name}: {_describe(exc)}")
            try:
                result = self._transaction(client, env)
            except _Drop as exc:
                self._discard(slot)
                if attempt == 1:
                    continue
                return self._deferred(f"connection lost before sending: {exc}")
            except _CONNECTION_ERRORS as exc:
                self._discard(slot)
                return self._deferred(f"connection lost while sending: {_describe(exc)}")
            slot.last_used = time.monotonic()
            if result.state is ReplyState.SENT:
                slot.sent += 1
                self._last_error = None
            return result
        raise AssertionError("unreachable")

    def _deferred(self, reason: str) -> SendResult:
        self._last_error = reason
        return SendResult(ReplyState.DEFERRED, reason)

    def _transaction(self, client: _Client, env: Envelope) -> SendResult:
        sender = verp.return_path(env.mail_from, env.message_id) if self.config.verp \
            else env.mail_from
        try:
            code, reply = client.mail(sender)
        except SMTPServerDisconnected as exc:
            # smtplib reports a timeout as a disconnection too; a server that is merely
            # slow is not to be sent the message again at once.
            if isinstance(exc.__context__, TimeoutError):
                raise
            raise _Drop(str(exc)) from exc
        if code != 250:
            _reset(client, code)
            return _by_code(code, f"sender <{sender}> refused: {code} {_text(reply)}")
        refused: dict[str, str] = {}
        codes: list[int] = []
        for rcpt in env.recipients:
            code, reply = client.rcpt(rcpt)
            if code not in (250, 251):
                if code == _CLOSING:
                    client.close()
                refused[rcpt] = f"{code} {_text(reply)}"
                codes.append(code)
        if len(refused) == len(env.recipients):
            _reset(client, codes[-1] if codes else 0)
            why = "; ".join(f"{r}: {m}" for r, m in refused.items())
            state = ReplyState.FAILED if all(c >= 500 for c in codes) else ReplyState.DEFERRED
            return SendResult(state, f"all recipients refused: {why}", refused)
        try:
            code, reply = client.data(env.raw)
        except SMTPDataError as exc:  # DATA itself refused, before the message was sent
            code, reply = exc.smtp_code, _bytes(exc.smtp_error)
        if code != 250:
            _reset(client, code)
            return _by_code(code, f"{code} {_text(reply)}", refused)
        return SendResult(ReplyState.SENT, f"{code} {_text(reply)}", refused)

    def _ready(self, slot: _Conn) -> _Client:
        """The slot's connection, opened or reopened as needed."""
        client = slot.client
        if client is not None and _open(client):
            if time.monotonic() - slot.last_used < IDLE_CHECK_AFTER:
                return client
            try:
                if client.noop()[0] == 250:
                    return client
            except _CONNECTION_ERRORS:
                pass
        if client is not None:
            self._discard(slot)
        slot.client = self._connect()
        slot.opened += 1
        slot.last_used = time.monotonic()
        return slot.client

    def _connect(self) -> _Client:
        cfg = self.config
        if self._local_hostname is None:
            self._local_hostname = _local_hostname()  # smtplib would look it up per connection
        client: _Client
        if cfg.tls == "implicit":
            client = _ClientTLS(cfg.host, self.port, self._local_hostname, timeout=cfg.timeout,
                                context=self._tls())
        else:
            client = _Client(cfg.host, self.port, self._local_hostname, timeout=cfg.timeout)
        try:
            if cfg.tls == "starttls":
                client.starttls(context=self._tls())
            credential = credentials.resolve(cfg.username, cfg.password, cfg.password_command,
                                             cfg.oauth2_token_command, section="delivery")
            client.ehlo_or_helo_if_needed()  # smtplib's mail() does not, unlike sendmail()
            if credential.kind == "oauth2":
                client.auth("XOAUTH2", _xoauth2(credential.username, credential.secret))
            elif credential.kind == "password":
                client.login(credential.username, credential.secret)
        except BaseException:
            client.close()
            raise
        return client

    def _tls(self) -> ssl.SSLContext:
        """The configured context, else the system's trust store, checking the server's
        name unless verify_tls is off (smtplib's own default verifies nothing)."""
        if self.tls_context is not None:
            return self.tls_context
        if self._context is None:
            context = ssl.create_default_context()
            if not self.config.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    def _discard(self, slot: _Conn) -> None:
        client, slot.client = slot.client, None
        if client is not None:
            client.close()

    def _quit_all(self) -> None:
        for slot in self._slots:
            client, slot.client = slot.client, None
            if client is None:
                continue
            try:
                if client.sock is not None:
                    client.sock.settimeout(min(5.0, self.config.timeout))
                    client.quit()
            except _CONNECTION_ERRORS as exc:  # closing a dead connection may fail
                log.debug("closing SMTP connections: %s", exc)
            finally:
                client.close()


def quote_address(address: str) -> str:
    """The address as smtplib's quoteaddr() puts it on MAIL and RCPT, the common case
    without its parser."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _open(client: _Client) -> bool:
    """Whether the connection is still there to use. Between transactions the server
    has nothing to say: a socket that is readable was closed, or told 421 and went."""
    sock = client.sock
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if poller.poll(0):
        client.close()
        return False
    return True


def _reset(client: _Client, code: int) -> None:
    if code == _CLOSING:
        client.close()
        return
    try:
        if client.rset()[0] != 250:
            client.close()
    except _CONNECTION_ERRORS:
        client.close()


def _xoauth2(username: str, token: str) -> _AuthObject:
    initial = credentials.xoauth2_response(username, token)

    def answer(challenge: bytes | None = None) -> str:
        # A refused token comes back as a 334 challenge (a JSON error); an empty
        # answer ends the exchange with the server's final code.
        return initial if challenge is None else ""

    return answer


def _local_hostname() -> str:
    """The EHLO name, as smtplib finds it: the host's FQDN, else its address literal."""
    fqdn = socket.getfqdn()
    if "." in fqdn:
        return fqdn
    try:
        return f"[{socket.gethostbyname(socket.gethostname())}]"
    except OSError:
        return "[127.0.0.1]"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _text(reply: bytes | str) -> str:
    # As aiosmtplib decoded replies, so stored responses read the same as before.
    return reply if isinstance(reply, str) else reply.decode("utf-8", "surrogateescape")


def _by_code(code: int, text: str, refused: dict[str, str] | None = None) -> SendResult:
    state = ReplyState.FAILED if code >= 500 else ReplyState.DEFERRED
    return SendResult(state, text, refused or {})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return str(exc) or type(exc).__name__
