"""A folder on an IMAP server as the mailbox (imapclient).

The ledger. The daemon stores, with each batch's decisions, a checkpoint
`{"uidvalidity": V, "last_uid": U}` for this folder. A fetch asks the server for
`UID U+1:*` and keeps only UIDs above U (that range always returns the folder's
last message, even when it is old), then fetches them with `BODY.PEEK[]`, so
nothing is marked read and every message counts whatever its flags. UIDs only
grow, so moving processed messages away changes nothing. When UIDVALIDITY
changes the folder is read again from the start; the daemon recognises messages
it has already handled by Message-ID and content hash, so nothing is answered
twice and nothing is skipped.

New mail is awaited with IDLE where the server offers it (checked in slices of
a second so a stop request is honoured at once, and re-issued at least every
`idle_timeout`), else by polling every `poll_interval`. A connection that breaks
raises `ImapConnectionError`; the daemon closes the mailbox and calls `connect()`
again with capped exponential backoff, and the next fetch catches up on
everything that arrived meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailloop.config import MailboxConfig
from mailloop.credentials import CredentialError, resolve
from mailloop.mailbox.base import Fetched, FetchResult, Processed

log = logging.getLogger("mailloop.imap")

SOCKET_TIMEOUT = 60.0  # seconds for one command; a dead connection is noticed within this
IDLE_SLICE = 1.0  # seconds per idle_check: how soon a stop request is noticed
PROGRESS_THRESHOLD = 200  # show a progress bar for backlogs larger than this (on a terminal)
TAG_KEYS = ("smile", "ofora", "both", "neither", "any")
VERDICT_KEYS = ("skip", "bounce", "manager_reply", "park", "duplicate")

_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


class ImapError(Exception):
    """The IMAP mailbox cannot be used right now; the message says where and why."""


class ImapConnectionError(ImapError):
    """The server cannot be reached, or the connection broke."""


class ImapLoginError(ImapError):
    """The server refused the login (or no credential is configured)."""


def move_target(move_processed: dict[str, str], processed: Processed) -> str | None:
    """The folder a processed message goes to: the first `move_processed` entry that applies.

    Keys: `smile`, `ofora`, `both`, `neither` (answered, neither tag), a verdict
    (`skip`, `bounce`, `manager_reply`, `park`, `duplicate`), or `any`.
    """
    tags = set(processed.tags)
    for key, folder in move_processed.items():
        if key == "any" or key == processed.verdict or (key in ("smile", "ofora") and key in tags):
            return folder
        if key == "both" and {"smile", "ofora"} <= tags:
            return folder
        if key == "neither" and processed.verdict == "answer" and not tags & {"smile", "ofora"}:
            return folder
    return None


class ImapMailbox:
    def __init__(self, config: MailboxConfig, *, socket_timeout: float = SOCKET_TIMEOUT,
                 progress: bool | None = None) -> None:
        unknown = [k for k in config.move_processed if k not in TAG_KEYS + VERDICT_KEYS]
        if unknown:
            raise ImapError(
                f"mailbox.move_processed: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"expected one of {', '.join(TAG_KEYS + VERDICT_KEYS)}")
        self.config = config
        self.host = config.host
        self.port = config.port or (993 if config.tls == "implicit" else 143)
        self.folder = config.folder
        self.name = f"imap:{config.username}@{config.host}/{config.folder}"
        self.socket_timeout = socket_timeout
        self._progress_wanted = progress
        self._client: Any = None
        self._capabilities: frozenset[str] = frozenset()
        self._uidvalidity: int | None = None
        self._idling = False
        self._connected = False
        self._last_sync: datetime | None = None
        self._last_error: str | None = None
        self._backlog = 0
        self._last_uid: int | None = None
        self._pending: list[tuple[int, Processed]] = []  # (uidvalidity, item) not yet moved
        self._progress: _Progress | None = None
        self._catching_up = False

    # ---- connection ------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self) -> None:
        """Open a connection, log in (running the credential commands now), select the folder."""
        self.close()
        try:
            self._connect()
        except ImapError as exc:
            self._failed(exc)
            raise
        except CredentialError as exc:
            self._failed(exc)
            raise ImapLoginError(f"{self.where}: {exc}") from exc
        self._connected = True
        self._last_error = None

    def _connect(self) -> None:
        cfg = self.config
        credential = resolve(cfg.username, cfg.password, cfg.password_command,
                             cfg.oauth2_token_command, section="mailbox")
        if credential.kind == "none":
            raise ImapLoginError("mailbox: set one of password, password_command or "
                                 "oauth2_token_command to log in to " + self.where)
        context = self._ssl_context() if cfg.tls != "none" else None
        try:
            client = IMAPClient(self.host, port=self.port, ssl=cfg.tls == "implicit",
                                ssl_context=context, timeout=self.socket_timeout)
        except (OSError, IMAPClientError) as exc:
            raise ImapConnectionError(f"cannot connect to {self.where}: {_describe(exc)}") \
                from exc
        self._client = client
        try:
            _keepalive(client.socket())
            if cfg.tls == "starttls":
                client.starttls(context)
            try:
                if credential.kind == "oauth2":
                    client.oauth2_login(credential.username, credential.secret)
                else:
                    client.login(credential.username, credential.secret)
            except LoginError as exc:
                raise ImapLoginError(f"{self.where} refused the login of {cfg.username!r}: "
                                     f"{_describe(exc)}") from exc
            self._capabilities = frozenset(
                c.decode() if isinstance(c, bytes) else str(c) for c in client.capabilities())
            client.normalise_times = False
            self._ensure_targets()
            selected = self._select()
        except ImapError:
            self._drop()
            raise
        except (OSError, IMAPClientError) as exc:
            self._drop()
            raise ImapConnectionError(f"{self.where}: {_describe(exc)}") from exc
        log.info("connected to %s as %s: folder %s holds %s message(s); new mail by %s",
                 self.where, cfg.username, self.folder, selected.get(b"EXISTS", "?"),
                 "IDLE" if self.idle_supported else f"polling every {cfg.poll_interval:g} s")

    def _ensure_targets(self) -> None:
        for folder in dict.fromkeys(self.config.move_processed.values()):
            if folder != self.folder and not self._client.folder_exists(folder):
                self._client.create_folder(folder)
                log.info("created folder %s for processed mail", folder)

    @property
    def idle_supported(self) -> bool:
        return "IDLE" in self._capabilities

    def _failed(self, exc: BaseException) -> None:
        self._connected = False
        self._last_error = str(exc)

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._idling = False
        self._connected = False
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()

    def _live(self) -> Any:
        if self._client is None:
            raise ImapConnectionError(f"{self.where}: not connected")
        return self._client

    def _guard(self, what: str, exc: BaseException) -> ImapError:
        """Turn a transport error into an ImapError, recorded for status()."""
        if isinstance(exc, ImapError):
            error = exc
        else:
            error = ImapConnectionError(f"{self.where}: {what}: {_describe(exc)}")
        self._failed(error)
        self._drop()
        return error

    # ---- fetching ----------------------------------------------------------------

    def fetch(self, checkpoint: dict[str, Any] | None, limit: int) -> FetchResult:
        try:
            return self._fetch(checkpoint, limit)
        except (OSError, IMAPClientError, ImapError) as exc:
            raise self._guard("fetching", exc) from exc

    def _fetch(self, checkpoint: dict[str, Any] | None, limit: int) -> FetchResult:
        client = self._live()
        self._retry_pending()
        uidvalidity = self._sync()
        last = 0
        resync = False
        if checkpoint is not None:
            if int(checkpoint.get("uidvalidity", 0)) == uidvalidity:
                last = int(checkpoint.get("last_uid", 0))
            else:
                resync = True
                log.warning("%s: UIDVALIDITY changed from %s to %s: reading the folder again "
                            "(messages already handled are recognised and skipped)",
                            self.name, checkpoint.get("uidvalidity"), uidvalidity)
        waiting = self._uids_after(last)
        batch = waiting[:limit]
        items: list[Fetched] = []
        if batch:
            data = client.fetch(batch, [b"BODY.PEEK[]", b"INTERNALDATE"])
            for uid in batch:
                entry = data.get(uid)
                if entry is None or b"BODY[]" not in entry:
                    log.warning("%s: UID %d vanished before it could be read (moved or "
                                "deleted by another client)", self.name, uid)
                    continue
                items.append(Fetched(key=f"imap:{self.folder}:{uidvalidity}:{uid}",
                                     raw=bytes(entry[b"BODY[]"]),
                                     received_at=_utc(entry.get(b"INTERNALDATE")), uid=uid))
        new_last = batch[-1] if batch else last
        backlog = len(waiting) - len(batch)
        self._backlog = backlog
        self._last_uid = new_last
        self._last_sync = datetime.now(UTC)
        self._show_progress(len(batch), backlog)
        state = {"uidvalidity": uidvalidity, "last_uid": new_last}
        changed = checkpoint is None or resync or new_last != last
        return FetchResult(items=items, checkpoint=state if changed else None,
                           more=backlog > 0, resync=resync, backlog=backlog)

    def _sync(self) -> int:
        """Bring the session's view up to date; return the folder's UIDVALIDITY now.

        A folder deleted and created again under a selected session is not always
        announced to it, so the UIDVALIDITY is asked for and the folder selected
        again when it changed.
        """
        client = self._live()
        _, responses = client.noop()  # let the server report what arrived since the last command
        trouble = [r for r in responses if _kind(r) in (b"NO", b"BYE")]
        if trouble:  # e.g. Dovecot's "Internal error" for a folder recreated under the session
            raise ImapConnectionError(f"{self.where}: the server reported a problem with folder "
                                      f"{self.folder!r} ({_text(trouble[0])}); reconnecting")
        status = client.folder_status(self.folder, [b"UIDVALIDITY"])
        current = int(status[b"UIDVALIDITY"])
        if current != self._uidvalidity:
            self._select()
        assert self._uidvalidity is not None
        return self._uidvalidity

    def _select(self) -> dict[bytes, Any]:
        """Select the folder (read-only unless processed mail is moved or flagged)."""
        writable = bool(self.config.move_processed or self.config.flag_processed)
        try:
            selected: dict[bytes, Any] = self._live().select_folder(self.folder,
                                                                    readonly=not writable)
        except IMAPClientError as exc:
            raise ImapError(f"{self.where}: cannot open folder {self.folder!r}: "
                            f"{_describe(exc)}") from exc
        uidvalidity = int(selected[b"UIDVALIDITY"])
        if uidvalidity != self._uidvalidity:
            self._pending.clear()
        self._uidvalidity = uidvalidity
        return selected

    def _uids_after(self, last: int) -> list[int]:
        # "UID n:*" always includes the last message, even below n: filter here.
        return sorted(u for u in self._live().search(["UID", f"{last + 1}:*"]) if u > last)

    # ---- after the commit: move or flag -------------------------------------------

    def done(self, processed: Sequence[Processed]) -> None:
        if not (self.config.move_processed or self.config.flag_processed):
            return
        # UIDs are only meaningful under the UIDVALIDITY they were fetched with (in the key).
        self._pending.extend((int(p.item.key.rsplit(":", 2)[1]), p) for p in processed
                             if p.item.uid is not None)
        try:
            self._retry_pending()
        except (OSError, IMAPClientError, ImapError) as exc:
            raise self._guard("moving processed mail", exc) from exc

    def _retry_pending(self) -> None:
        """Flag and move the processed messages still waiting (also after a reconnect)."""
        if not self._pending:
            return
        client = self._live()
        current = [p for v, p in self._pending if v == self._uidvalidity]
        flag = self.config.flag_processed
        if flag and current:
            client.add_flags([p.item.uid for p in current], [flag], silent=True)
        targets: dict[str, list[int]] = {}
        for p in current:
            target = move_target(self.config.move_processed, p)
            if target and target != self.folder and p.item.uid is not None:
                targets.setdefault(target, []).append(p.item.uid)
        for folder, uids in targets.items():
            self._move(uids, folder)
        self._pending.clear()

    def _move(self, uids: list[int], folder: str) -> None:
        client = self._live()
        if "MOVE" in self._capabilities:
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        if "UIDPLUS" in self._capabilities:
            client.uid_expunge(uids)
        else:
            client.expunge()

    # ---- waiting for mail --------------------------------------------------------

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return when new mail may have arrived, after `timeout` seconds, or on stop."""
        try:
            if self.idle_supported:
                self._idle(min(timeout, self.config.idle_timeout), stop)
            else:
                stop.wait(min(timeout, self.config.poll_interval))
        except (OSError, IMAPClientError, ImapError) as exc:
            raise self._guard("waiting for mail", exc) from exc

    def _idle(self, timeout: float, stop: threading.Event) -> None:
        client = self._live()
        # A message that arrived since the last fetch is not always announced once IDLE
        # starts (Dovecot announces only later changes): look before idling.
        if self._last_uid is not None:
            before = self._uidvalidity
            if self._sync() != before or self._uids_after(self._last_uid):
                return
        deadline = time.monotonic() + timeout
        client.idle()
        self._idling = True
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            responses = client.idle_check(min(IDLE_SLICE, left))
            byes = [r for r in responses if _kind(r) == b"BYE"]
            if byes:
                raise ImapConnectionError(f"{self.where}: the server closed the connection "
                                          f"({_text(byes[0])})")
            if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                break
            if _hung_up(client.socket()):
                raise ImapConnectionError(f"{self.where}: the connection was closed")
        self._idling = False
        client.idle_done()

    # ---- state ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "kind": "imap",
            "name": self.name,
            "server": self.where,
            "tls": self.config.tls,
            "folder": self.folder,
            "connected": self._connected,
            "push": "idle" if self.idle_supported else "poll",
            "last_sync": self._last_sync.isoformat(timespec="seconds") if self._last_sync
            else None,
            "backlog": self._backlog,
            "uidvalidity": self._uidvalidity,
            "last_uid": self._last_uid,
            "last_error": self._last_error,
        }

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
            self._catching_up = False
        client = self._client
        if client is None:
            return
        if self._idling:
            with contextlib.suppress(Exception):
                client.idle_done()
            self._idling = False
        with contextlib.suppress(Exception):
            client.logout()
        self._drop()

    # ---- progress ---------------------------------------------------------------------

    def _show_progress(self, fetched: int, backlog: int) -> None:
        wanted = self._progress_wanted
        if wanted is None:
            wanted = sys.stderr.isatty()
        if not self._catching_up and backlog > PROGRESS_THRESHOLD:
            self._catching_up = True
            log.info("%s: catching up on %d messages", self.name, fetched + backlog)
            if wanted:
                self._progress = _Progress(fetched + backlog, self.folder)
        if self._progress is not None:
            self._progress.advance(fetched)
        if backlog == 0 and self._catching_up:
            self._catching_up = False
            log.info("%s: caught up", self.name)
            if self._progress is not None:
                self._progress.close()
                self._progress = None


class _Progress:
    """A rich progress bar on stderr while a large backlog is fetched."""

    def __init__(self, total: int, folder: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                             MofNCompleteColumn(), TimeRemainingColumn(),
                             console=Console(stderr=True), transient=True)
        self._task = self._bar.add_task(f"fetching {folder}", total=total)
        self._bar.start()

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)

    def close(self) -> None:
        self._bar.stop()


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind(response: Any) -> Any:
    return response[0] if isinstance(response, tuple) and response else None


def _text(response: tuple[Any, ...]) -> str:
    return " ".join(v.decode(errors="replace") if isinstance(v, bytes) else str(v)
                    for v in response[1:]) or str(response[0])


def _hung_up(sock: socket.socket) -> bool:
    """Whether the peer closed the connection (or it failed), without reading from it."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | _HANGUP)
    return any(events & _HANGUP for _, events in poller.poll(0))


def _keepalive(sock: socket.socket) -> None:
    """TCP keepalive, so a connection that silently died is noticed while idling."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
