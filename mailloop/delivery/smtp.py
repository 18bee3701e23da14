"""Sending replies over SMTP with aiosmtplib.

The daemon is synchronous; aiosmtplib is not. This sender owns an asyncio event
loop on a background thread and keeps its SMTP connections open there across
`send` calls: one connection carries many messages and is reopened when the
server has dropped it, and `connections` clients send a chunk in parallel.

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

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
)

from mailloop import credentials, verp
from mailloop.config import DeliveryConfig
from mailloop.delivery.base import Envelope
from mailloop.delivery.sent import SentFolder
from mailloop.model import ReplyState, SendResult

log = logging.getLogger("mailloop.smtp")

# A connection idle for longer than this is checked with NOOP before it is used:
# servers close idle sessions, and a message is only retried on a fresh connection
# when we know its transaction never started.
IDLE_CHECK_AFTER = 10.0
_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, SMTPException)


def default_port(tls: str) -> int:
    return {"implicit": 465, "starttls": 587}.get(tls, 25)


class _Conn:
    """One SMTP client slot: its connection (or none yet) and when it was last used."""

    def __init__(self) -> None:
        self.client: aiosmtplib.SMTP | None = None
        self.last_used = 0.0
        self.opened = 0


class _Drop(Exception):
    """The connection went away before the transaction started: reconnect and retry."""


class SmtpDelivery:
    def __init__(self, config: DeliveryConfig, *, sent_folder: SentFolder | None = None,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.port = config.port or default_port(config.tls)
        self.name = f"smtp:{config.host}:{self.port}"
        self.sent_folder = sent_folder
        self.tls_context = tls_context
        self._slots = [_Conn() for _ in range(config.connections)]
        self._sent = 0
        self._last_error: str | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="mailloop-smtp",
                                        daemon=True)
        self._thread.start()
        self._closed = False

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # ---- the Delivery protocol -------------------------------------------------

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        if not envelopes:
            return []
        if self._closed:
            raise RuntimeError("SmtpDelivery is closed")
        future = asyncio.run_coroutine_threadsafe(self._send_all(list(envelopes)), self._loop)
        results = future.result()
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
                             if s.client is not None and s.client.is_connected),
            "opened": sum(s.opened for s in self._slots),
            "sent": self._sent,
            "last_error": self._last_error,
            "sent_folder": self.sent_folder.status() if self.sent_folder else None,
        }

    def probe(self) -> str:
        """Open one connection and log in, as sending would; the server's greeting line.
        Raises on any failure (for `mailloop check`)."""

        async def attempt() -> str:
            client = await self._connect()
            try:
                return " ".join(str(client.last_helo_response or "").split()[:8]) or "ok"
            finally:
                client.close()

        future = asyncio.run_coroutine_threadsafe(attempt(), self._loop)
        return future.result(timeout=self.config.timeout * 2 + 5)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            future = asyncio.run_coroutine_threadsafe(self._quit_all(), self._loop)
            future.result(timeout=self.config.timeout + 5)
        except Exception as exc:  # closing a dead connection may fail; nothing is lost
            log.debug("closing SMTP connections: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
        if self.sent_folder is not None:
            self.sent_folder.close()

    # ---- on the event loop -----------------------------------------------------

    async def _send_all(self, envelopes: list[Envelope]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(envelopes)
        pending = iter(range(len(envelopes)))

        async def worker(slot: _Conn) -> None:
            for index in pending:  # a shared iterator: each worker takes the next message
                results[index] = await self._send_one(slot, envelopes[index])

        workers = self._slots[:max(1, min(len(self._slots), len(envelopes)))]
        await asyncio.gather(*(worker(slot) for slot in workers))
        return [r if r is not None else SendResult(ReplyState.DEFERRED, "not attempted")
                for r in results]

    async def _send_one(self, slot: _Conn, env: Envelope) -> SendResult:
        for attempt in (1, 2):
            try:
                client = await self._ready(slot)
            except SMTPAuthenticationError as exc:
                return self._deferred(slot, f"login refused: {exc.code} {exc.message}")
            except credentials.CredentialError as exc:
                return self._deferred(slot, str(exc))
            except _CONNECTION_ERRORS as exc:
                return self._deferred(slot, f"cannot connect to {self.name}: {_describe(exc)}")
            try:
                result = await self._transaction(client, env)
            except _Drop as exc:
                await self._discard(slot)
                if attempt == 1:
                    continue
                return self._deferred(slot, f"connection lost before sending: {exc}")
            except _CONNECTION_ERRORS as exc:
                await self._discard(slot)
                return self._deferred(slot, f"connection lost while sending: {_describe(exc)}")
            slot.last_used = time.monotonic()
            if result.state is ReplyState.SENT:
                self._sent += 1
                self._last_error = None
            return result
        raise AssertionError("unreachable")

    def _deferred(self, slot: _Conn, reason: str) -> SendResult:
        self._last_error = reason
        return SendResult(ReplyState.DEFERRED, reason)

    async def _transaction(self, client: aiosmtplib.SMTP, env: Envelope) -> SendResult:
        timeout = self.config.timeout
        sender = verp.return_path(env.mail_from, env.message_id) if self.config.verp \
            else env.mail_from
        try:
            await client.mail(sender, timeout=timeout)
        except SMTPServerDisconnected as exc:
            raise _Drop(str(exc)) from exc
        except SMTPResponseException as exc:
            await _reset(client, timeout)
            return _by_code(exc.code, f"sender <{sender}> refused: {exc.code} {exc.message}")
        refused: dict[str, str] = {}
        codes: list[int] = []
        for rcpt in env.recipients:
            try:
                await client.rcpt(rcpt, timeout=timeout)
            except SMTPRecipientRefused as exc:
                refused[rcpt] = f"{exc.code} {exc.message}"
                codes.append(exc.code)
        if len(refused) == len(env.recipients):
            await _reset(client, timeout)
            why = "; ".join(f"{r}: {m}" for r, m in refused.items())
            state = ReplyState.FAILED if all(c >= 500 for c in codes) else ReplyState.DEFERRED
            return SendResult(state, f"all recipients refused: {why}", refused)
        try:
            response = await client.data(env.raw, timeout=timeout)
        except SMTPResponseException as exc:
            await _reset(client, timeout)
            return _by_code(exc.code, f"{exc.code} {exc.message}", refused)
        return SendResult(ReplyState.SENT, f"{response.code} {response.message}", refused)

    async def _ready(self, slot: _Conn) -> aiosmtplib.SMTP:
        """The slot's connection, opened or reopened as needed."""
        client = slot.client
        if client is not None and client.is_connected:
            if time.monotonic() - slot.last_used < IDLE_CHECK_AFTER:
                return client
            try:
                await client.noop(timeout=self.config.timeout)
                return client
            except _CONNECTION_ERRORS:
                await self._discard(slot)
        elif client is not None:
            await self._discard(slot)
        slot.client = await self._connect()
        slot.opened += 1
        slot.last_used = time.monotonic()
        return slot.client

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.config
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=self.port,
            timeout=cfg.timeout,
            use_tls=cfg.tls == "implicit",
            start_tls=cfg.tls == "starttls",
            validate_certs=cfg.verify_tls,
            tls_context=self.tls_context,
        )
        await client.connect()
        try:
            credential = await asyncio.to_thread(
                credentials.resolve, cfg.username, cfg.password, cfg.password_command,
                cfg.oauth2_token_command, section="delivery")
            if credential.kind == "oauth2":
                await client.auth_xoauth2(credential.username, credential.secret)
            elif credential.kind == "password":
                await client.login(credential.username, credential.secret)
        except BaseException:
            client.close()
            raise
        return client

    async def _discard(self, slot: _Conn) -> None:
        client, slot.client = slot.client, None
        if client is not None:
            client.close()

    async def _quit_all(self) -> None:
        for slot in self._slots:
            client, slot.client = slot.client, None
            if client is None:
                continue
            try:
                if client.is_connected:
                    await client.quit(timeout=min(5.0, self.config.timeout))
            except _CONNECTION_ERRORS:
                pass
            finally:
                client.close()


async def _reset(client: aiosmtplib.SMTP, timeout: float) -> None:
    try:
        await client.rset(timeout=timeout)
    except _CONNECTION_ERRORS:
        client.close()


def _by_code(code: int, text: str, refused: dict[str, str] | None = None) -> SendResult:
    state = ReplyState.FAILED if code >= 500 else ReplyState.DEFERRED
    return SendResult(state, text, refused or {})


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return text
