"""A real aiosmtpd SMTP server on 127.0.0.1 that records what it receives, for the tests.

It can be told to fail (4xx/5xx on RCPT or DATA), to refuse recipients, to require AUTH
(PLAIN, LOGIN or XOAUTH2), to speak TLS (implicit or STARTTLS), to go down and come back on
the same port, and to relay mail for example.test into Dovecot over
LMTP so that a reply lands in a real mailbox and the user's sieve script runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .dovecot import DOMAIN, free_port, lmtp_deliver

Stage = Literal["RCPT", "DATA"]

# AUTH without TLS is what a loopback test server does on purpose; keep its nagging quiet.
warnings.filterwarnings(
    "ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning
)


class _QuietAuthNotes(logging.Filter):
    _NOTES = ("auth_required == True but auth_require_tls == False", "login_data is deprecated")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(note in text for note in self._NOTES)


logging.getLogger("mail.log").addFilter(_QuietAuthNotes())


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str  # "" for the null reverse-path <>
    rcpt_tos: tuple[str, ...]
    raw: bytes
    received_at: float
    connection_id: int
    peer: tuple[str, int] | None
    auth_login: str | None = None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")


@dataclass
class _Failure:
    stage: Stage
    code: int
    message: str


@dataclass
class _State:
    lock: threading.Condition = field(default_factory=threading.Condition)
    messages: list[Received] = field(default_factory=list)
    failures: deque[_Failure] = field(default_factory=deque)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)
    relay_errors: list[str] = field(default_factory=list)
    connections: int = 0
    gate: threading.Event | None = None  # set while DATA is being held (see hold())
    held: int = 0
    accept_held: bool = True


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.state = server._state

    def _take_failure(self, stage: Stage) -> _Failure | None:
        with self.state.lock:
            if self.state.failures and self.state.failures[0].stage == stage:
                return self.state.failures.popleft()
        return None

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if getattr(session, "mailloop_connection_id", None) is None:
            with self.state.lock:
                self.state.connections += 1
                session.mailloop_connection_id = self.state.connections  # type: ignore[attr-defined]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.state.lock:
            refused = self.state.refused.get(address.lower())
        if refused is not None:
            code, message = refused
            self.state.rejected.append(("RCPT", code, address))
            return f"{code} {message}"
        failure = self._take_failure("RCPT")
        if failure is not None:
            self.state.rejected.append(("RCPT", failure.code, address))
            return f"{failure.code} {failure.message}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.state.lock:
            gate = self.state.gate
            if gate is not None:
                self.state.held += 1
                self.state.lock.notify_all()
        if gate is not None:
            await asyncio.to_thread(gate.wait)
            if not self.state.accept_held:
                return "451 4.3.0 Held message dropped by test"
        failure = self._take_failure("DATA")
        # A null reverse-path (bounces, vacation replies) is recorded as "".
        mail_from = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        if failure is not None:
            self.state.rejected.append(("DATA", failure.code, mail_from))
            return f"{failure.code} {failure.message}"
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        rcpts = tuple(envelope.rcpt_tos)
        relay = self.server.relay_lmtp
        if relay is not None:
            local = [r for r in rcpts if r.rpartition("@")[2].lower() == self.server.relay_domain]
            try:
                for rcpt in local:
                    await asyncio.to_thread(lmtp_deliver, relay[0], relay[1], mail_from, rcpt, raw)
            except Exception as exc:
                with self.state.lock:
                    self.state.relay_errors.append(f"{rcpts}: {exc!r}")
                return f"451 4.4.0 relay to LMTP failed: {exc}"
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        peer: Any = session.peer
        received = Received(
            mail_from=mail_from,
            rcpt_tos=rcpts,
            raw=raw,
            received_at=time.time(),
            connection_id=int(getattr(session, "mailloop_connection_id", 0)),
            peer=(str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None,
            auth_login=login.decode("utf-8", "replace") if isinstance(login, bytes) else None,
        )
        with self.state.lock:
            self.state.messages.append(received)
            self.state.lock.notify_all()
        return "250 2.0.0 Message accepted for delivery"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2 as Gmail answers it: the password stands for the access token, and a
        refused token is a 334 challenge carrying a JSON error before the final 535."""
        try:
            fields = base64.b64decode(args[1], validate=True).split(b"\x01")
            user = fields[0].removeprefix(b"user=")
            token = fields[1].removeprefix(b"auth=Bearer ")
        except (IndexError, ValueError):
            return AuthResult(success=False, handled=False,
                              message="501 5.5.2 Cannot decode XOAUTH2")
        expected = self.server.auth
        if expected is not None and (user, token) == (expected[0].encode(), expected[1].encode()):
            return AuthResult(success=True, auth_data=LoginPassword(user, token))
        await server.challenge_auth(b'{"status":"400","schemes":"Bearer"}')
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that keeps every accepted message in `messages`.

    auth=(user, password) offers AUTH PLAIN/LOGIN without TLS and requires it before MAIL.
    relay_lmtp=(host, port) delivers accepted mail for @relay_domain recipients over LMTP
    (see relay_to()). tls_context (a server context) with implicit_tls speaks TLS from the
    first byte; without, it offers STARTTLS and requires it before anything else.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        auth: tuple[str, str] | None = None,
        relay_lmtp: tuple[str, int] | None = None,
        relay_domain: str = DOMAIN,
        ready_timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.auth = auth
        self.relay_lmtp = relay_lmtp
        self.relay_domain = relay_domain.lower()
        self.ready_timeout = ready_timeout
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self._state = _State()
        self._controller: Controller | None = None

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen on host:port (the same port after a stop())."""
        if self._controller is not None:
            return
        deadline = time.monotonic() + self.ready_timeout
        while True:
            controller = self._make_controller()
            try:
                controller.start()
                break
            except OSError:
                # The port can stay busy for a moment after a stop(); try again.
                with contextlib.suppress(Exception):
                    controller.stop(no_assert=True)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._controller = controller

    def _make_controller(self) -> Controller:
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=False,
            )
        if self.tls_context is not None and self.implicit_tls:
            kwargs.update(ssl_context=self.tls_context)
        elif self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        return Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ready_timeout=self.ready_timeout,
            server_hostname="smtp.example.test",
            **kwargs,
        )

    def stop(self) -> None:
        """Stop listening and drop open connections; recorded messages are kept."""
        controller, self._controller = self._controller, None
        with self._state.lock:
            gate = self._state.gate
        if gate is not None:
            gate.set()  # never leave a handler waiting on a server that is going away
        if controller is not None:
            controller.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    # ----------------------------------------------------------------- behaviour

    def fail_next(
        self,
        n: int = 1,
        code: int = 451,
        message: str | None = None,
        stage: Stage = "DATA",
    ) -> None:
        """Answer the next n transactions with code at RCPT or DATA, then behave again."""
        if message is None:
            message = "4.3.0 Try again later" if code < 500 else "5.7.1 Rejected by test"
        with self._state.lock:
            for _ in range(n):
                self._state.failures.append(_Failure(stage, code, message))

    def hold(self) -> None:
        """From now on keep each message's DATA unanswered until release(): the client
        has sent the message and waits for the verdict (a crash can be staged there)."""
        with self._state.lock:
            self._state.gate = threading.Event()
            self._state.held = 0

    def wait_held(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until count messages are being held at DATA."""
        deadline = time.monotonic() + timeout
        with self._state.lock:
            while self._state.held < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._state.held} of {count} messages held")
                self._state.lock.wait(remaining)

    def release(self, accept: bool = True) -> None:
        """Answer the held messages: accept (record them) or drop them, then stop holding."""
        with self._state.lock:
            gate, self._state.gate = self._state.gate, None
            self._state.accept_held = accept
        if gate is not None:
            gate.set()

    def refuse_recipient(self, address: str, code: int = 550, message: str | None = None) -> None:
        """Always answer RCPT TO:<address> with code."""
        if message is None:
            message = "5.1.1 No such user" if code >= 500 else "4.2.1 Mailbox busy"
        with self._state.lock:
            self._state.refused[address.lower()] = (code, message)

    def accept_recipient(self, address: str) -> None:
        with self._state.lock:
            self._state.refused.pop(address.lower(), None)

    def relay_to(self, host: str, port: int, domain: str = DOMAIN) -> None:
        """From now on, deliver accepted mail for @domain over LMTP to host:port."""
        self.relay_lmtp = (host, port)
        self.relay_domain = domain.lower()

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert self.auth is not None
        user, password = self.auth
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # ----------------------------------------------------------------- results

    @property
    def messages(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.messages)

    @property
    def rejected(self) -> list[tuple[str, int, str]]:
        """(stage, code, address) for every RCPT or DATA this server refused."""
        with self._state.lock:
            return list(self._state.rejected)

    @property
    def relay_errors(self) -> list[str]:
        with self._state.lock:
            return list(self._state.relay_errors)

    @property
    def connection_ids(self) -> list[int]:
        """Distinct connection ids that carried at least one accepted message."""
        return sorted({m.connection_id for m in self.messages})

    def clear(self) -> None:
        with self._state.lock:
            self._state.messages.clear()
            self._state.rejected.clear()
            self._state.relay_errors.clear()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Wait until at least count messages were accepted; return them all."""
        deadline = time.monotonic() + timeout
        with self._state.lock:
            while len(self._state.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [(m.mail_from, m.rcpt_tos) for m in self._state.messages]
                    raise TimeoutError(
                        f"SMTP server on port {self.port} got {len(got)} of {count} messages "
                        f"in {timeout}s: {got}; refused: {self._state.rejected}; "
                        f"relay errors: {self._state.relay_errors}"
                    )
                self._state.lock.wait(remaining)
            return list(self._state.messages)

    def assert_no_more(self, count: int, settle: float = 1.0) -> None:
        """Check that no more than count messages arrive within settle seconds."""
        time.sleep(settle)
        got = self.messages
        if len(got) > count:
            raise AssertionError(f"expected {count} messages, got {len(got)}: {got}")
