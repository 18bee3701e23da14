"""A real Dovecot (IMAP + LMTP + Pigeonhole sieve) started on 127.0.0.1 for the tests.

The server runs from its own configuration in a temporary folder, on free loopback ports,
and never touches the system Dovecot. It needs root (Dovecot drops to the `dovecot` user for
mail access) and the Debian packages `dovecot-imapd dovecot-lmtpd dovecot-sieve`.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

DOMAIN = "example.test"
DOVECOT_BIN_CANDIDATES = ("/usr/sbin/dovecot", "/usr/bin/dovecot")
SIEVE_PLUGIN = Path("/usr/lib/dovecot/modules/lib90_sieve_plugin.so")
LMTP_BIN = Path("/usr/lib/dovecot/lmtp")
IMAP_BIN = Path("/usr/lib/dovecot/imap")
PROBE_USER = "mailloop-probe"

_PR_SET_PDEATHSIG = 1


class DovecotUnavailable(RuntimeError):
    """Dovecot cannot run here (not installed, or not root); the tests should skip."""


class DovecotError(RuntimeError):
    """Dovecot is installed but failed to start or to do what was asked."""


def find_dovecot() -> str | None:
    """Path of the dovecot binary, or None when Dovecot (with LMTP and sieve) is missing."""
    found = shutil.which("dovecot")
    candidates = [found] if found else []
    candidates += [c for c in DOVECOT_BIN_CANDIDATES if c != found]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            if IMAP_BIN.exists() and LMTP_BIN.exists() and SIEVE_PLUGIN.exists():
                return candidate
            return None
    return None


def unavailable_reason() -> str | None:
    """Why Dovecot cannot be started here, or None when it can."""
    missing = []
    if find_dovecot() is None:
        missing.append("dovecot-imapd/dovecot-lmtpd/dovecot-sieve are not installed")
    if os.geteuid() != 0:
        missing.append("the test Dovecot must be started as root")
    try:
        pwd.getpwnam("dovecot")
    except KeyError:
        missing.append("there is no 'dovecot' system user")
    return "; ".join(missing) or None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until host:port accepts a TCP connection, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2.0):
                return
        except OSError as exc:
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not accept a connection within {timeout}s: {last}")


def lmtp_deliver(
    host: str, port: int, mail_from: str, rcpt: str, raw: bytes, timeout: float = 30.0
) -> None:
    """Deliver raw to one recipient over LMTP (one recipient per transaction, so one reply)."""
    with smtplib.LMTP(host, port, timeout=timeout) as lmtp:
        refused = lmtp.sendmail(mail_from, [rcpt], raw)
    if refused:
        raise DovecotError(f"LMTP refused {rcpt}: {refused}")


def _set_parent_death_signal() -> None:
    """Runs in the child before exec: take Dovecot down if the test process dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class MailUser:
    """A mailbox user of the test Dovecot."""

    name: str
    password: str
    address: str
    host: str
    imap_port: int


class Dovecot:
    """A private Dovecot on 127.0.0.1: IMAP (plaintext login), LMTP with sieve, Maildir.

    Use as a context manager, or call start() and stop(). Data and ports survive
    stop()/start()/restart(), so a test can take the server away under a running client.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        imap_port: int | None = None,
        lmtp_port: int | None = None,
        submission_port: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        reason = unavailable_reason()
        if reason:
            raise DovecotUnavailable(reason)
        binary = find_dovecot()
        assert binary is not None
        self.binary = binary
        self._own_root = root is None
        self.root = (
            Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="mailloop-dovecot-"))
        )
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.host = host
        self.imap_port = imap_port or free_port(host)
        self.lmtp_port = lmtp_port or free_port(host)
        self.submission_port = submission_port
        self.startup_timeout = startup_timeout
        pw = pwd.getpwnam("dovecot")
        self.uid = pw.pw_uid
        self.gid = grp.getgrnam("dovecot").gr_gid if _has_group("dovecot") else pw.pw_gid
        self.config_path = self.root / "dovecot.conf"
        self.passwd_dir = self.root / "passwd.d"
        self.log_path = self.root / "dovecot.log"
        self.home_root = self.root / "home"
        self._users: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self.home_root.mkdir(exist_ok=True)
        os.chown(self.home_root, self.uid, self.gid)
        self.passwd_dir.mkdir(exist_ok=True)
        os.chmod(self.passwd_dir, 0o755)
        self.add_user(PROBE_USER, "probe-password")
        self._write_config()

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start Dovecot and wait until IMAP LOGIN and LMTP work."""
        if self.running:
            return
        self._check_config()
        log = open(self.root / "dovecot.stderr", "ab")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # The parent-death signal follows the thread that forks; only the main
                # thread lives as long as the test process.
                preexec_fn=(
                    _set_parent_death_signal
                    if threading.current_thread() is threading.main_thread()
                    else None
                ),
            )
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Stop Dovecot (all of its processes); mail, users and ports are kept."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        pgid = proc.pid
        # SIGTERM to the whole process group: the master and every imap/lmtp process
        # (each says "Server shutting down" to its client), instead of the master alone,
        # which leaves connected clients' processes running for a while.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout)
        deadline = time.monotonic() + 10.0
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        self._wait_port_closed(self.imap_port, timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its folder (when it made the folder itself)."""
        self.stop()
        if self._own_root and os.environ.get("MAILLOOP_KEEP_DOVECOT") is None:
            shutil.rmtree(self.root, ignore_errors=True)

    def set_submission_port(self, port: int | None) -> None:
        """Point sieve's outgoing mail (vacation, redirect) at 127.0.0.1:port."""
        self.submission_port = port
        self._write_config()
        if self.running:
            self.restart()

    # ----------------------------------------------------------------- users

    def add_user(self, name: str, password: str) -> MailUser:
        """Create (or update the password of) a user; their address is name@example.test."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError(f"unusable test user name: {name!r}")
        home = self.home(name)
        for path in (home, home / "Maildir", home / "sieve"):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, self.uid, self.gid)
        self._users[name] = password
        # One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a
        # second, but opens a user's file it has not seen before at once.
        entry = f"{name}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}::\n"
        tmp = self.passwd_dir / f".{name}.tmp"
        tmp.write_text(entry)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.passwd_dir / name)
        return self.user(name)

    def user(self, name: str) -> MailUser:
        return MailUser(
            name=name,
            password=self._users[name],
            address=self.address(name),
            host=self.host,
            imap_port=self.imap_port,
        )

    def address(self, name: str) -> str:
        return f"{name}@{DOMAIN}"

    def home(self, name: str) -> Path:
        return self.home_root / name

    def maildir(self, name: str) -> Path:
        return self.home(name) / "Maildir"

    # ----------------------------------------------------------------- sieve

    def set_sieve(self, user: str, script: str) -> None:
        """Install script as the user's one active sieve script (runs on LMTP delivery)."""
        sieve_dir = self.home(user) / "sieve"
        script_path = sieve_dir / "mailloop.sieve"
        script_path.write_text(script)
        for stale in sieve_dir.glob("*.svbin"):
            stale.unlink()
        active = self.home(user) / ".dovecot.sieve"
        if active.is_symlink() or active.exists():
            active.unlink()
        active.symlink_to(Path("sieve") / "mailloop.sieve")
        os.chown(script_path, self.uid, self.gid)
        os.lchown(active, self.uid, self.gid)

    def clear_sieve(self, user: str) -> None:
        active = self.home(user) / ".dovecot.sieve"
        if active.is_symlink() or active.exists():
            active.unlink()

    # ----------------------------------------------------------------- mail

    @contextlib.contextmanager
    def client(self, user: str, timeout: float = 30.0) -> Iterator[IMAPClient]:
        """A logged-in IMAPClient for user, logged out at the end."""
        imap = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=timeout)
        try:
            imap.login(user, self._users[user])
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Sequence[str | bytes] = (),
        internaldate: dt.datetime | None = None,
    ) -> int | None:
        """APPEND raw to user's folder (created when missing); returns the new UID."""
        with self.client(user) as imap:
            if folder.upper() != "INBOX" and not imap.folder_exists(folder):
                imap.create_folder(folder)
            response = imap.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
        text = response.decode() if isinstance(response, bytes) else str(response)
        match = re.search(r"APPENDUID \d+ (\d+)", text)
        return int(match.group(1)) if match else None

    def deliver_lmtp(
        self, user_address: str, raw: bytes, mail_from: str = f"sender@{DOMAIN}"
    ) -> None:
        """Deliver raw to user_address through LMTP, so the user's sieve script runs."""
        lmtp_deliver(self.host, self.lmtp_port, mail_from, user_address, raw)

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """The raw messages in user's folder, in UID order (does not set \\Seen)."""
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            uids = sorted(imap.search("ALL"))
            if not uids:
                return []
            fetched = imap.fetch(uids, [b"BODY.PEEK[]"])
            return [bytes(fetched[uid][b"BODY[]"]) for uid in uids]

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as imap:
            status = imap.folder_status(folder, [b"UIDVALIDITY"])
            return int(status[b"UIDVALIDITY"])

    def recreate_folder(self, user: str, folder: str, keep_messages: bool = False) -> int:
        """Delete and create folder again so it gets a new UIDVALIDITY; returns it.

        With keep_messages the same messages (flags, internal dates) come back under new UIDs,
        as after a server migration. INBOX cannot be deleted over IMAP, so its UID list and
        indexes are reset on disk instead.
        """
        before = self.uidvalidity(user, folder) if self._folder_exists(user, folder) else None
        if folder.upper() == "INBOX":
            self._reset_inbox(user, keep_messages)
        else:
            saved: list[tuple[bytes, tuple[bytes, ...], dt.datetime | None]] = []
            with self.client(user) as imap:
                if imap.folder_exists(folder):
                    if keep_messages:
                        imap.select_folder(folder, readonly=True)
                        uids = sorted(imap.search("ALL"))
                        if uids:
                            data = imap.fetch(uids, [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"])
                            for uid in uids:
                                item = data[uid]
                                flags = tuple(f for f in item[b"FLAGS"] if f != b"\\Recent")
                                saved.append((item[b"BODY[]"], flags, item[b"INTERNALDATE"]))
                        imap.unselect_folder()
                    imap.delete_folder(folder)
                imap.create_folder(folder)
                for raw, flags, when in saved:
                    imap.append(folder, raw, flags=flags, msg_time=when)
        after = self.uidvalidity(user, folder)
        if before is not None and after == before:
            raise DovecotError(f"UIDVALIDITY of {user}/{folder} did not change ({after})")
        return after

    def _folder_exists(self, user: str, folder: str) -> bool:
        with self.client(user) as imap:
            return folder.upper() == "INBOX" or bool(imap.folder_exists(folder))

    def _reset_inbox(self, user: str, keep_messages: bool) -> None:
        if not keep_messages:
            with self.client(user) as imap:
                imap.select_folder("INBOX")
                uids = imap.search("ALL")
                if uids:
                    imap.delete_messages(uids)
                    imap.expunge()
        maildir = self.maildir(user)
        for path in maildir.iterdir():
            if path.is_file() and (
                path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index")
            ):
                path.unlink()
        # Dovecot allocates a fresh UIDVALIDITY above the last one it handed out in this
        # mail root; a one second step keeps it distinct from the old value in any case.
        time.sleep(1.0)

    # ----------------------------------------------------------------- logs

    def log_text(self, since: int = 0) -> str:
        """Dovecot's log from byte offset `since` (use log_size() as a bookmark)."""
        text = ""
        for path in (self.log_path, self.root / "dovecot.stderr"):
            if path.exists():
                with path.open("rb") as fh:
                    if path == self.log_path:
                        fh.seek(since)
                    text += fh.read().decode("utf-8", "replace")
        return text

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    # ----------------------------------------------------------------- internals

    def _write_config(self) -> None:
        self.config_path.write_text(self._config_text())

    def _config_text(self) -> str:
        root = self.root
        submission = (
            f"submission_host = {self.host}:{self.submission_port}"
            if self.submission_port
            else "sendmail_path = /bin/false"
        )
        return f"""\
# Generated by tests/servers/dovecot.py for one test session.
instance_name = mailloop-test-{self.imap_port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes
auth_failure_delay = 0
auth_mechanisms = plain login

protocols = imap lmtp
listen = {self.host}
ssl = no
disable_plaintext_auth = no
hostname = mail.{DOMAIN}
postmaster_address = postmaster@{DOMAIN}
recipient_delimiter = +
lda_mailbox_autocreate = yes

default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {min(self.uid, 100)}
first_valid_gid = {min(self.gid, 100)}
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
{submission}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {self.passwd_dir}/%n
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {self.passwd_dir}/%n
}}

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}

protocol imap {{
  mail_max_userip_connections = 1000
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
}}

plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_vacation_min_period = 0
}}
"""

    def _check_config(self) -> None:
        doveconf = Path(self.binary).with_name("doveconf")
        if not doveconf.exists():
            found = shutil.which("doveconf")
            if not found:
                return
            doveconf = Path(found)
        result = subprocess.run(
            [str(doveconf), "-c", str(self.config_path), "-n"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise DovecotError(f"Dovecot rejects {self.config_path}:\n{result.stderr}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with status {self._proc.returncode}; log:\n"
                    + self.log_text()[-4000:]
                )
            try:
                with self.client(PROBE_USER, timeout=10.0) as imap:
                    imap.noop()
                with smtplib.LMTP(self.host, self.lmtp_port, timeout=10.0) as lmtp:
                    lmtp.noop()
                return
            except Exception as exc:
                last = exc
                time.sleep(0.1)
        raise DovecotError(
            f"dovecot did not answer IMAP LOGIN and LMTP within {self.startup_timeout}s "
            f"(last error: {last!r}); log:\n{self.log_text()[-4000:]}"
        )

    def _wait_port_closed(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, port), timeout=1.0):
                    pass
            except OSError:
                return
            time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    """Whether any process (zombies aside) is left in process group pgid."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # Fields after the ")" closing the command name: state ppid pgrp ...
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
