"""A crash between `sending` and `sent`: `mailloop run` killed with SIGKILL while the SMTP
server holds a reply's DATA. Nothing is lost, nothing is sent twice."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mailloop.config import load_settings
from mailloop.mailbox.maildir import deliver
from tests.helpers import email_bytes
from tests.servers import SmtpServer
from tests.test_ledger import FROM, ROOT, write_config


def mailloop(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "mailloop", *args], capture_output=True,
                          text=True, timeout=120, env=_env(), check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"mailloop {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def outbox(config: Path, *states: str) -> list[dict[str, Any]]:
    args = ["outbox", "--config", str(config), "--format", "json"]
    for state in states:
        args += ["--state", state]
    rows: list[dict[str, Any]] = json.loads(mailloop(*args).stdout)
    return rows


def message_ids(server: SmtpServer) -> Counter[str]:
    return Counter(str(email.message_from_bytes(m.raw)["Message-ID"]).strip("<>")
                   for m in server.messages)


def test_kill_mid_send_neither_loses_nor_duplicates(tmp_path: Path,
                                                    smtp_server: SmtpServer) -> None:
    config = write_config(tmp_path, smtp_server)
    settings = load_settings(config)
    for n in range(5):
        deliver(settings.inbox_path, email_bytes(
            sender=f"Customer {n} <customer{n}@customer.test>", to=FROM,
            subject=f"Broken parcel {n}", body="The parcel arrived broken, please help.",
            message_id=f"crash-{n}@customer.test"))

    smtp_server.hold()
    daemon = subprocess.Popen([sys.executable, "-m", "mailloop", "run", "--config", str(config)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        smtp_server.wait_held(1, timeout=60)
        # The first reply's DATA has reached the server; the process waits for the verdict.
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    log = daemon.stdout.read() if daemon.stdout else ""
    # aiosmtpd drops a transaction whose client went away before the verdict.
    smtp_server.release(accept=True)
    assert [r["state"] for r in outbox(config)] == ["sending"] * 5, log

    # Restart: nothing is sent blindly; every interrupted reply is left for an operator.
    mailloop("run", "--once", "--config", str(config))
    uncertain = outbox(config, "uncertain")
    assert len(uncertain) == 5
    assert all("interrupted mid-send" in r["error"] for r in uncertain)
    smtp_server.assert_no_more(0, settle=0.5)

    # The operator checks which ones arrived (none here) and resends them, one by one but
    # one: it stays uncertain, listed for whoever decides about it.
    arrived = set(message_ids(smtp_server))
    missing = [r["id"] for r in uncertain if r["id"] not in arrived][:4]
    assert len(missing) == 4
    for reply_id in missing:
        done = mailloop("outbox", "resend", reply_id, "--config", str(config))
        assert "sent 250" in done.stdout
    smtp_server.wait_for(4)
    refused = mailloop("outbox", "resend", missing[0], "--config", str(config), check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    mailloop("run", "--once", "--config", str(config))
    smtp_server.assert_no_more(4, settle=0.5)

    counts = message_ids(smtp_server)
    assert len(counts) == 4 and set(counts.values()) == {1}  # each reply exactly once
    rows = {r["id"]: r for r in outbox(config)}
    assert sorted(r["state"] for r in rows.values()) == ["sent"] * 4 + ["uncertain"]
    history = [h["state"] for h in rows[missing[0]]["history"]]
    assert history == ["planned", "sending", "uncertain", "sending", "sent"]


def test_resend_while_the_daemon_runs_goes_through_it(tmp_path: Path,
                                                      smtp_server: SmtpServer) -> None:
    config = write_config(tmp_path, smtp_server)
    settings = load_settings(config)
    deliver(settings.inbox_path, email_bytes(sender="Jo <jo@customer.test>", to=FROM,
                                             subject="Thanks", message_id="run-1@customer.test",
                                             body="Jenny was wonderful, thank you!"))
    smtp_server.fail_next(1, 550, "5.1.1 No such user")
    mailloop("run", "--once", "--config", str(config))
    [failed] = outbox(config, "failed")
    daemon = subprocess.Popen([sys.executable, "-m", "mailloop", "run", "--config", str(config)],
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        status = settings.state_path / "status.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if status.exists() and json.loads(status.read_text()).get("pid") == daemon.pid:
                break
            time.sleep(0.1)
        done = mailloop("outbox", "resend", failed["id"], "--config", str(config))
        assert "requested" in done.stdout and "sent 250" in done.stdout
        assert len(smtp_server.wait_for(1)) == 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
