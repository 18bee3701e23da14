"""Shared fixtures: the real mail servers on 127.0.0.1 and a fresh mailbox user per test.

Tests that use `dovecot` (or a fixture built on it) are marked `dovecot`; tests that use
`smtp_server` are marked `smtp`. `pytest -m "not dovecot"` runs everything else.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.servers import (  # noqa: E402
    Dovecot,
    MailUser,
    SmtpServer,
    free_port,
    unavailable_reason,
)
from tests.servers.dovecot import find_dovecot  # noqa: E402
from tests.servers.postgres import Postgres, find_bindir  # noqa: E402
from tests.servers.postgres import unavailable_reason as postgres_unavailable_reason  # noqa: E402

INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-system-deps"
SKIP_TAG = "[mail servers]"

_dovecot_log_start = pytest.StashKey[int]()
_running_dovecot: Dovecot | None = None


# --------------------------------------------------------------------------- hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # fixturenames holds every fixture a test uses, directly or through other fixtures.
        names = set(getattr(item, "fixturenames", ()))
        if "dovecot_server" in names:
            item.add_marker(pytest.mark.dovecot)
        if "smtp_server" in names:
            item.add_marker(pytest.mark.smtp)
        if "postgres_server" in names:
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    server = _running_dovecot
    if report.when == "setup" and server is not None:
        item.stash[_dovecot_log_start] = server.log_size()
    if report.failed and server is not None and "dovecot" in getattr(item, "fixturenames", ()):
        start = item.stash.get(_dovecot_log_start, 0)
        lines = server.log_text(since=start).splitlines()[-150:]
        report.sections.append(
            (f"Dovecot log ({server.log_path}, last {len(lines)} lines)", "\n".join(lines))
        )
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        smtp = funcargs.get("smtp_server") or funcargs.get("relaying_smtp_server")
        if isinstance(smtp, SmtpServer):
            summary = [
                f"port {smtp.port}, running={smtp.running}",
                *(
                    f"accepted conn={m.connection_id} from=<{m.mail_from}> to={list(m.rcpt_tos)}"
                    for m in smtp.messages
                ),
                *(f"refused {stage} {code} {addr}" for stage, code, addr in smtp.rejected),
                *(f"relay error {err}" for err in smtp.relay_errors),
            ]
            report.sections.append(("SMTP test server", "\n".join(summary)))
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    reasons: collections.Counter[str] = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if SKIP_TAG in reason:
            reasons[reason.removeprefix("Skipped: ")] += 1
    if not reasons:
        return
    terminalreporter.write_sep("!", "REAL MAIL SERVER TESTS WERE SKIPPED", red=True, bold=True)
    for reason, count in reasons.items():
        terminalreporter.write_line(f"{count} test(s) skipped: {reason}", red=True)
    terminalreporter.write_line(
        f"Fix: run `sudo {INSTALL_SCRIPT.relative_to(REPO_ROOT)} dovecot postgres` and run "
        "pytest as root "
        "(see docs/testing.md). With CI set these are errors, not skips.",
        bold=True,
    )


# --------------------------------------------------------------------------- helpers


def _install_dovecot() -> str:
    """Run scripts/install-system-deps once (across parallel workers); return its output."""
    lock_path = Path("/tmp/mailloop-install-system-deps.lock")
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if find_dovecot() is not None:
            return ""
        result = subprocess.run(
            [str(INSTALL_SCRIPT), "dovecot"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    return (result.stdout + result.stderr).strip()


def _install_postgres() -> str:
    """Run `scripts/install-system-deps postgres` once (across parallel workers)."""
    with Path("/tmp/mailloop-install-system-deps.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if find_bindir() is not None:
            return ""
        result = subprocess.run([str(INSTALL_SCRIPT), "postgres"], capture_output=True,
                                text=True, timeout=900, check=False)
    return (result.stdout + result.stderr).strip()


def _postgres_unavailable() -> str | None:
    """Why the test PostgreSQL cannot run here (after trying to install it), or None."""
    reason = postgres_unavailable_reason()
    if reason is None:
        return None
    if find_bindir() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        output = _install_postgres()
        reason = postgres_unavailable_reason()
        if reason is not None and output:
            reason += f" (install-system-deps: {output.splitlines()[-1]})"
    return reason


def _dovecot_unavailable() -> str | None:
    """Why the test Dovecot cannot run here (after trying to install it), or None."""
    reason = unavailable_reason()
    if reason is None:
        return None
    if find_dovecot() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        output = _install_dovecot()
        reason = unavailable_reason()
        if reason is not None and output:
            reason += f" (install-system-deps: {output.splitlines()[-1]})"
    return reason


def _unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def smtp_port() -> int:
    """The loopback port of `smtp_server`; the test Dovecot sends sieve mail (vacation) to it."""
    return free_port()


@pytest.fixture(scope="session")
def dovecot_server(smtp_port: int) -> Iterator[Dovecot]:
    """The session's Dovecot; most tests want `dovecot`, which also makes sure it is up."""
    global _running_dovecot
    reason = _dovecot_unavailable()
    if reason is not None:
        message = f"{SKIP_TAG} no real Dovecot for the IMAP/LMTP/sieve tests: {reason}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so this is an error)", pytrace=False)
        pytest.skip(message)
    with Dovecot(submission_port=smtp_port) as server:
        _running_dovecot = server
        try:
            yield server
        finally:
            _running_dovecot = None


@pytest.fixture
def dovecot(dovecot_server: Dovecot, smtp_port: int) -> Iterator[Dovecot]:
    """The running test Dovecot (IMAP + LMTP + sieve on 127.0.0.1).

    A test may stop(), restart() or re-point it; it is running, and sending sieve mail to
    `smtp_port`, again for the next test.
    """
    if not dovecot_server.running:
        dovecot_server.start()
    yield dovecot_server
    if dovecot_server.submission_port != smtp_port:
        dovecot_server.set_submission_port(smtp_port)
    if not dovecot_server.running:
        dovecot_server.start()


@pytest.fixture
def make_user(dovecot: Dovecot) -> Callable[..., MailUser]:
    """make_user(prefix="user") -> a new Dovecot user with a unique name and password."""

    def make(prefix: str = "user") -> MailUser:
        return dovecot.add_user(_unique(prefix), secrets.token_urlsafe(12))

    return make


@pytest.fixture
def feedback_user(make_user: Callable[..., MailUser]) -> MailUser:
    """A fresh, empty mailbox for the feedback inbox under test (feedback-xxxx@example.test)."""
    return make_user("feedback")


@pytest.fixture
def customer_user(make_user: Callable[..., MailUser]) -> MailUser:
    """A fresh, empty mailbox for a customer (customer-xxxx@example.test)."""
    return make_user("customer")


@pytest.fixture
def feedback_imap(dovecot: Dovecot, feedback_user: MailUser) -> Iterator[IMAPClient]:
    """An IMAPClient logged in as `feedback_user` (no folder selected), logged out afterwards."""
    with dovecot.client(feedback_user.name) as client:
        yield client


@pytest.fixture
def smtp_server(smtp_port: int) -> Iterator[SmtpServer]:
    """A recording aiosmtpd on 127.0.0.1:smtp_port, new for each test, stopped afterwards."""
    server = SmtpServer(smtp_port)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture
def relaying_smtp_server(smtp_server: SmtpServer, dovecot: Dovecot) -> SmtpServer:
    """`smtp_server` that also delivers mail for @example.test into Dovecot over LMTP."""
    smtp_server.relay_to(dovecot.host, dovecot.lmtp_port)
    return smtp_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """The session's PostgreSQL cluster on 127.0.0.1 (a fresh initdb, stopped at the end)."""
    reason = _postgres_unavailable()
    if reason is not None:
        message = f"{SKIP_TAG} no real PostgreSQL for the store tests: {reason}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so this is an error)", pytrace=False)
        pytest.skip(message)
    with Postgres() as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: Postgres) -> Iterator[str]:
    """The DSN of a new, empty database for this test, dropped afterwards."""
    with postgres_server.database() as dsn:
        yield dsn


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """unique_name(prefix) -> prefix plus a random suffix (folders, Message-IDs, ...)."""
    return _unique
