"""A real PostgreSQL started on 127.0.0.1 for the store tests.

A new cluster is made with `initdb` in a temporary folder and run with `pg_ctl` on a
free loopback port (its socket in the same folder), so the system's PostgreSQL is never
touched. PostgreSQL refuses to run as root: as root the cluster belongs to, and runs as,
the `postgres` user. Needs Debian's `postgresql` package (`scripts/install-system-deps
postgres`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from .dovecot import free_port

SUPERUSER = "mailloop"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here (not installed, or no user to run it as)."""


class PostgresError(RuntimeError):
    """PostgreSQL is installed but failed to start or to do what was asked."""


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding initdb, pg_ctl and postgres."""
    found = []
    for candidate in glob.glob("/usr/lib/postgresql/*/bin"):
        path = Path(candidate)
        if all((path / exe).exists() for exe in ("initdb", "pg_ctl", "postgres")):
            with contextlib.suppress(ValueError):
                found.append((float(path.parent.name), path))
    if not found:
        on_path = shutil.which("pg_ctl")
        return Path(on_path).parent if on_path else None
    return max(found)[1]


def unavailable_reason() -> str | None:
    """Why a test PostgreSQL cannot be started here, or None when it can."""
    missing = []
    if find_bindir() is None:
        missing.append("PostgreSQL (Debian's `postgresql`) is not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("running as root, and there is no 'postgres' user to run it as")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing.append("psycopg is not installed (pip install -e '.[postgres]')")
    return "; ".join(missing) or None


class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1; use as a context manager."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None,
                 startup_timeout: float = 60.0) -> None:
        reason = unavailable_reason()
        if reason:
            raise PostgresUnavailable(reason)
        bindir = find_bindir()
        assert bindir is not None
        self.bindir = bindir
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        self.root = Path(tempfile.mkdtemp(prefix="mailloop-postgres-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.password = secrets.token_urlsafe(12)
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        os.chmod(self.root, 0o700)
        self.running = False

    def __enter__(self) -> Postgres:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ----------------------------------------------------------------- processes

    def _run(self, *args: str, timeout: float = 120.0) -> str:
        user = self._user
        result = subprocess.run(
            list(args), capture_output=True, text=True, timeout=timeout, check=False,
            cwd=self.root, stdin=subprocess.DEVNULL,
            user=user.pw_uid if user else None, group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
                 "HOME": str(self.root)},
        )
        if result.returncode != 0:
            raise PostgresError(f"{Path(args[0]).name} failed ({result.returncode}): "
                                f"{(result.stderr or result.stdout).strip()[-2000:]}")
        return result.stdout

    def start(self) -> None:
        if self.running:
            return
        if not (self.data / "PG_VERSION").exists():
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._user:
                os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                      "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8",
                      "--locale", "C.UTF-8", "--no-sync")
            pwfile.unlink()
        options = (f"-k {self.root} -p {self.port} -c listen_addresses={self.host} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=50")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
                  "-o", options, "-w", "-t", str(int(self.startup_timeout)), "start",
                  timeout=self.startup_timeout + 30)
        self.running = True
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=5):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresError(f"PostgreSQL did not accept connections: {exc}; "
                                        f"log: {self.log_text()[-2000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                  "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if os.environ.get("MAILLOOP_KEEP_POSTGRES") is None:
                shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ----------------------------------------------------------------- databases

    def dsn(self, database: str) -> str:
        return (f"postgresql://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{database}")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its DSN."""
        import psycopg

        name = name or f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new database for one test, dropped afterwards."""
        name = f"t_{secrets.token_hex(6)}"
        dsn = self.create_database(name)
        try:
            yield dsn
        finally:
            self.drop_database(name)
