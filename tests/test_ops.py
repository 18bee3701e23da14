"""Operating mailloop (issue #12): the daemon run as a subprocess and signalled, status
exit codes, JSON logs, metrics, parked mail, forget/export, explain, backups, systemd."""

from __future__ import annotations

import contextlib
import email
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mailloop.config import load_settings
from mailloop.logs import Redactor
from mailloop.mailbox.maildir import deliver
from mailloop.samples import sample_files
from mailloop.store.tinydb import TinyStore
from tests.helpers import email_bytes
from tests.servers import SmtpServer, free_port

ROOT = Path(__file__).resolve().parent.parent
FROM = "feedback@example.com"
PASSWORD = "pa55-Very-Secret-word"
REPS = """
[[reps]]
name = "Jenny Park"
email = "jenny@example.com"
aliases = ["Jen"]

[[topics]]
name = "delivery"
keywords = ["parcel", "courier", "delivery"]
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def mailloop(*args: str, check: bool = True, timeout: float = 120
             ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "mailloop", *args], capture_output=True,
                          text=True, timeout=timeout, env=env(), check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"mailloop {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


def write_config(folder: Path, *, smtp: SmtpServer | None = None, extra: str = "",
                 batch_size: int = 500) -> Path:
    shutil.copytree(ROOT / "templates", folder / "templates", dirs_exist_ok=True)
    lines = ['state_dir = "var"', 'secret = "test-secret-test-secret"', "",
             "[mailbox]", f"batch_size = {batch_size}", "idle_timeout = 2.0", "",
             "[delivery]", f'from_address = "{FROM}"']
    if smtp is not None:
        lines += ['kind = "smtp"', f'host = "{smtp.host}"', f"port = {smtp.port}",
                  'tls = "none"', "timeout = 5.0", "retry_base = 60.0"]
        if smtp.auth:
            lines += [f'username = "{smtp.auth[0]}"', f'password = "{smtp.auth[1]}"']
    path = folder / "mailloop.toml"
    path.write_text("\n".join(lines) + "\n" + REPS + extra, encoding="utf-8")
    return path


class Running:
    """`mailloop run` as a subprocess, its stderr collected in a file."""

    def __init__(self, config: Path, *args: str, extra_env: dict[str, str] | None = None
                 ) -> None:
        self.config = config
        self.settings = load_settings(config)
        self.log_path = config.parent / f"daemon-{time.time_ns()}.log"
        self.log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailloop", "run", "--config", str(config), *args],
            env={**env(), **(extra_env or {})}, stdout=self.log_file, stderr=self.log_file)
        self.wait_for(lambda: self.status().get("pid") == self.proc.pid, "the first status")

    def status(self) -> dict[str, Any]:
        path = self.settings.state_path / "status.json"
        with contextlib.suppress(OSError, ValueError):
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        return {}

    def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited ({self.proc.returncode}) waiting for "
                                     f"{what}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()}")

    def log(self) -> str:
        if not self.log_file.closed:
            self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log_file.close()
        return code, time.monotonic() - start


def ids(server: SmtpServer) -> Counter[str]:
    return Counter(str(email.message_from_bytes(m.raw)["Message-ID"]).strip("<>")
                   for m in server.messages)


def feedback(n: int, body: str = "My parcel arrived broken and the courier was rude.",
             sender: str | None = None) -> bytes:
    return email_bytes(sender=sender or f"Customer {n} <customer{n}@customer.test>", to=FROM,
                       subject=f"Order {n}", body=body, message_id=f"ops-{n}@customer.test")


def store_docs(config: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    settings = load_settings(config)
    store = TinyStore(settings.store_path)
    try:
        return list(store.iter_messages()), list(store.iter_replies())
    finally:
        store.close()


# ---- signals -------------------------------------------------------------------------


def test_sigterm_mid_backlog_exits_0_and_a_restart_finishes_it(tmp_path: Path) -> None:
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(0.1)
    with SmtpServer(auth=("feedback", PASSWORD)) as server:
        config = write_config(tmp_path, smtp=server, batch_size=10)
        settings = load_settings(config)
        total = 300
        for n in range(total):
            deliver(settings.inbox_path, feedback(n))
        daemon = Running(config, "--log-format", "json",
                         extra_env={"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "1000000"})
        heard: list[str] = []

        def pinged() -> bool:  # the first watchdog ping, half a WATCHDOG_USEC in
            with contextlib.suppress(TimeoutError):
                heard.append(sock.recv(4096).decode())
            return any("WATCHDOG=1" in h for h in heard)

        daemon.wait_for(lambda: pinged() and len(server.messages) >= 20,
                        "a watchdog ping and the first replies")
        code, took = daemon.stop()
        first_log = daemon.log()
        assert code == 0, first_log
        assert took < 10, f"took {took:.1f} s to stop"
        sent_before = len(server.messages)
        assert sent_before < total, "the backlog was finished before SIGTERM: make it bigger"
        messages, replies = store_docs(config)
        assert all(r["state"] in ("planned", "sent") for r in replies)  # none half-recorded

        # the restart finishes the backlog; nothing is duplicated or lost
        mailloop("run", "--once", "--config", str(config), "--log-format", "json")
        server.wait_for(total, timeout=60)
        server.assert_no_more(total, settle=0.5)
    counts = ids(server)
    assert len(counts) == total and set(counts.values()) == {1}
    messages, replies = store_docs(config)
    assert len(messages) == total and sorted({r["state"] for r in replies}) == ["sent"]
    assert not list((settings.inbox_path / "new").iterdir())

    # systemd heard readiness, watchdog pings and the stop
    with contextlib.suppress(TimeoutError):
        while True:
            heard.append(sock.recv(4096).decode())
    sock.close()
    assert any("READY=1" in h for h in heard) and any("STOPPING=1" in h for h in heard)
    assert any("WATCHDOG=1" in h for h in heard)

    # every log line is JSON; lines about a message carry its id; no password anywhere
    lines = [json.loads(line) for line in first_log.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "message"} <= set(line) for line in lines)
    assert any(line.get("message_id", "").endswith("@customer.test") for line in lines)
    assert any("SIGTERM" in line["message"] for line in lines)
    assert PASSWORD not in first_log


def test_redactor_masks_secrets_above_debug() -> None:
    redactor = Redactor(["hunter22"])
    assert redactor.redact("login with hunter22 failed") == "login with *** failed"
    assert "s3cr3t" not in redactor.redact("password=s3cr3t, user=x")
    assert "abc" not in redactor.redact("postgresql://u:abc@db/x")
    assert "dGVzdA" not in redactor.redact("AUTH PLAIN dGVzdA==")


def test_sighup_reloads_templates_and_refuses_a_broken_configuration(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)
    outbox = settings.outbox_path / "new"

    def replies() -> list[str]:
        return [p.read_text(errors="replace") for p in outbox.iterdir()] if outbox.is_dir() \
            else []

    daemon = Running(config)
    try:
        deliver(settings.inbox_path, feedback(1))
        daemon.wait_for(lambda: len(replies()) == 1, "the first acknowledgement")
        template = settings.templates_path / "ack_ofora.md"
        template.write_text(template.read_text().replace(
            "This is ours to put right", "Reloaded wording: this is ours to put right"))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: "configuration reloaded" in daemon.log(), "the reload")
        deliver(settings.inbox_path, feedback(2))
        daemon.wait_for(lambda: len(replies()) == 2, "the second acknowledgement")
        assert sum("Reloaded wording" in r for r in replies()) == 1

        good = config.read_text()
        config.write_text(good + "\n[mailbox\nbroken = \n")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.status().get("config_error"), "the refusal")
        assert daemon.log().count("configuration not reloaded") == 1
        assert "not valid TOML" in daemon.status()["config_error"]
        config.write_text(good)  # (status reads the file too) the daemon's refusal stays shown
        status = mailloop("status", "--config", str(config), "--format", "json", check=False)
        assert status.returncode == 1 and json.loads(status.stdout)["config_error"]
        deliver(settings.inbox_path, feedback(3))  # the running configuration still answers
        daemon.wait_for(lambda: len(replies()) == 3, "the third acknowledgement")
    finally:
        code, took = daemon.stop()
    assert code == 0 and took < 10


# ---- status ---------------------------------------------------------------------------


def break_template(settings: Any) -> tuple[Path, str]:
    path = settings.templates_path / "ack_ofora.md"
    good = path.read_text()
    path.write_text("Subject: Sorry\n\n{{ broken.x }}\n")
    return path, good


def test_status_exit_codes_and_a_parked_message_retried_after_the_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)

    def status() -> tuple[int, dict[str, Any]]:
        done = mailloop("status", "--config", str(config), "--format", "json", check=False)
        return done.returncode, json.loads(done.stdout)

    code, report = status()
    assert code == 2 and report["health"] == "down" and not report["running"]
    text = mailloop("status", "--config", str(config), check=False)
    assert text.returncode == 2 and "not running" in text.stdout

    daemon = Running(config)
    try:
        deliver(settings.inbox_path, feedback(1, body="Jenny was wonderful, thank you!"))
        daemon.wait_for(lambda: (settings.outbox_path / "new").is_dir() and any(
            (settings.outbox_path / "new").iterdir()), "the acknowledgement")
        code, report = status()
        assert code == 0, report
        assert report["running"] and report["since"] and report["heartbeat"]
        assert set(report["connections"]) == {"mailbox", "delivery", "store"}
        assert report["replies"] == {"sent": 1} and report["parked"] == 0
    finally:
        assert daemon.stop()[0] == 0

    # started with a template error: the OforA it should answer is parked; degraded
    template, good = break_template(settings)
    daemon = Running(config)
    try:
        deliver(settings.inbox_path, feedback(2))
        daemon.wait_for(lambda: status()[1]["parked"] == 1, "the parked message")
        code, report = status()
        assert code == 1 and report["health"] == "degraded" and report["template_error"]
        listed = json.loads(mailloop("parked", "list", "--config", str(config),
                                     "--format", "json").stdout)
        assert len(listed) == 1 and listed[0]["step"] == "render" and listed[0]["raw_kept"]
        shown = json.loads(mailloop("parked", "show", listed[0]["id"], "--config",
                                    str(config)).stdout)
        assert "ops-2@customer.test" in shown["raw_headers"]

        # fixed: retried through the running daemon, answered, healthy again
        template.write_text(good)
        daemon.wait_for(lambda: not daemon.status().get("template_error"), "the fixed set")
        retried = mailloop("parked", "retry", "--all", "--config", str(config))
        assert "done" in retried.stdout, retried.stdout + retried.stderr
        daemon.wait_for(lambda: status()[1]["replies"].get("sent") == 2, "the answer")
        daemon.wait_for(lambda: status()[0] == 0, "health")
        messages, _ = store_docs(config)
        doc = next(m for m in messages if m["message_id"] == "ops-2@customer.test")
        assert doc["status"] == "done" and doc["retries"][0]["previous_error"]
        assert len(list((settings.state_path / "parked").iterdir())) == 0
    finally:
        code, _ = daemon.stop()
    assert code == 0
    assert status()[0] == 2


def test_parked_discard_is_kept_on_record(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)
    break_template(settings)
    deliver(settings.inbox_path, feedback(1))
    mailloop("run", "--once", "--config", str(config))
    [row] = json.loads(mailloop("parked", "list", "--config", str(config), "--format",
                                "json").stdout)
    refused = mailloop("parked", "retry", row["id"], "--config", str(config), check=False)
    assert refused.returncode == 1 and "parked" in refused.stdout  # still broken: still parked
    mailloop("parked", "discard", row["message_id"], "--reason", "spam", "--config", str(config))
    assert json.loads(mailloop("parked", "list", "--config", str(config), "--format",
                               "json").stdout) == []
    [doc], _ = store_docs(config)
    assert doc["status"] == "discarded" and doc["discarded"]["reason"] == "spam"


# ---- metrics --------------------------------------------------------------------------


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_match_what_was_processed(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    port = free_port()
    config = write_config(tmp_path, extra=f"\n[metrics]\nenabled = true\nport = {port}\n")
    settings = load_settings(config)
    samples = sample_files()
    for name, raw in samples:
        deliver(settings.inbox_path, raw, name=f"sample.{name}")
    daemon = Running(config)
    try:
        daemon.wait_for(lambda: not list((settings.inbox_path / "new").iterdir()), "the samples")
        daemon.wait_for(lambda: scrape(port).get("mailloop_backlog") == 0.0, "a status")
        metrics = scrape(port)
    finally:
        daemon.stop()
    messages, replies = store_docs(config)
    verdicts = Counter(m["verdict"]["kind"] for m in messages)
    for verdict, count in verdicts.items():
        assert metrics[f'mailloop_messages_screened_total{{verdict="{verdict}"}}'] == count
    tags = Counter("both" if m["tags"] == ["ofora", "smile"] else (m["tags"] or ["neither"])[0]
                   for m in messages if m["verdict"]["kind"] == "answer")
    for tag, count in tags.items():
        assert metrics[f'mailloop_messages_total{{tag="{tag}"}}'] == count
    sent = Counter(r["kind"] for r in replies if r["state"] == "sent")
    for kind, count in sent.items():
        assert metrics[f'mailloop_replies_total{{kind="{kind}",outcome="sent"}}'] == count
    acks = sum(c for k, c in sent.items() if k.startswith("ack_"))
    assert metrics["mailloop_ack_latency_seconds_count"] == acks > 0
    assert metrics['mailloop_connection_up{connection="mailbox"}'] == 1
    assert metrics["mailloop_parked"] == verdicts.get("park", 0)


# ---- forget / export --------------------------------------------------------------------


def report_counts(config: Path) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]],
                                         Counter[str]]:
    """What reports count: Smiles per rep per month, topics per month, replies by state."""
    messages, replies = store_docs(config)
    smiles: Counter[tuple[str, str]] = Counter()
    topics: Counter[tuple[str, str]] = Counter()
    for m in messages:
        for credit in m.get("credits", []):
            if credit["credited"]:
                smiles[(credit["rep"], m["month"])] += 1
        for topic in m.get("topics", []):
            topics[(topic, m["month"])] += 1
    return smiles, topics, Counter(r["state"] for r in replies)


def store_files(settings: Any) -> Iterator[Path]:
    yield settings.store_path
    yield from settings.store_path.with_suffix(".d").iterdir()
    yield from (settings.state_path / "parked").glob("*")


def test_forget_leaves_no_trace_and_keeps_the_counts(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)
    who = "Maria.Lopez@Customer.test"
    for name, raw in sample_files():
        deliver(settings.inbox_path, raw, name=f"sample.{name}")
    deliver(settings.inbox_path, feedback(100, "Jenny Park was wonderful, thank you so much!",
                                          sender=f"Maria Lopez <{who}>"))
    deliver(settings.inbox_path, feedback(101, "Where is my parcel? The courier never came.",
                                          sender=f"Maria Lopez <{who}>"))
    mailloop("run", "--once", "--config", str(config))
    break_template(settings)
    deliver(settings.inbox_path, feedback(102, "The delivery was late again, I am upset.",
                                          sender=f"Maria Lopez <{who}>"))
    mailloop("run", "--once", "--config", str(config))
    before = report_counts(config)
    assert before[0][("Jenny Park", datetime.now(UTC).strftime("%Y-%m"))] >= 1

    exported = json.loads(mailloop("export", who.lower(), "--config", str(config)).stdout)
    assert len(exported["messages"]) == 3 and len(exported["replies"]) >= 2
    assert len(exported["parked"]) == 1 and "The delivery was late" in exported["parked"][0]["raw"]

    def traces() -> list[str]:
        pattern = re.compile(re.escape(who.encode()), re.IGNORECASE)
        return [p.name for p in store_files(settings) if pattern.search(p.read_bytes())]

    assert traces()
    done = mailloop("forget", who, "--config", str(config), "--format", "json")
    removed = json.loads(done.stdout)
    assert removed["messages"] == 3 and removed["conversations"] >= 1
    assert removed["parked_files_deleted"] == 1
    assert traces() == []
    assert report_counts(config) == before
    assert mailloop("store", "check", "--config", str(config)).returncode == 0
    again = json.loads(mailloop("export", who, "--config", str(config)).stdout)
    assert again["messages"] == [] and again["replies"] == []


def test_export_group_keeps_other_exports() -> None:
    import typer

    from mailloop.cli import privacy

    app = typer.Typer()
    other = typer.Typer(no_args_is_help=True)
    app.add_typer(other, name="export")

    @other.command("feature-requests")
    def feature_requests(fmt: str = "csv") -> None:
        typer.echo(f"features as {fmt}")

    @app.command("noop")
    def noop() -> None: ...

    privacy.register(app)
    runner = CliRunner()
    assert runner.invoke(app, ["export", "feature-requests", "--fmt", "json"]).output \
        == "features as json\n"
    result = runner.invoke(app, ["export", "nobody@example.org", "--config",
                                 str(ROOT / "config.example.toml")])
    assert result.exit_code == 0 and json.loads(result.output)["address"] == "nobody@example.org"


# ---- explain ----------------------------------------------------------------------------


MALFORMED = {
    "empty.eml": b"",
    "garbage.eml": bytes(range(256)) * 8,
    "headers-only.eml": b"From: someone@example.org\r\nSubject: hi\r\n",
    "no-headers.eml": b"just some text\nwith lines\n",
    "bad-boundary.eml": b"From: a@example.org\r\nContent-Type: multipart/mixed; "
                        b"boundary=\"x\"\r\n\r\n--y\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
    "bad-charset.eml": b"From: a@example.org\r\nContent-Type: text/plain; charset=klingon\r\n"
                       b"Subject: =?klingon?q?x?=\r\n\r\n\xff\xfe broken\r\n",
    "bad-from.eml": b"From: <<<@@@>>>\r\nTo: ,,,\r\nDate: yesterday\r\n\r\nhello\r\n",
    "huge-header.eml": b"From: a@example.org\r\nSubject: " + b"x" * 200_000 + b"\r\n\r\nbody\r\n",
    "nul.eml": b"From: a@example.org\r\n\x00\x00\r\n\r\n\x00body",
    "base64-broken.eml": b"From: a@example.org\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                         b"!!!not base64!!!\r\n",
}


def test_explain_gives_an_object_for_every_malformed_file(tmp_path: Path) -> None:
    files = []
    for name, raw in MALFORMED.items():
        (tmp_path / name).write_bytes(raw)
        files.append(str(tmp_path / name))
    files += [str(tmp_path / "missing.eml"), str(tmp_path)]  # unreadable: a gap, a folder
    done = mailloop("explain", "--format", "json", *files, "--config",
                    str(ROOT / "config.example.toml"))
    assert "Traceback" not in done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["file"] for o in objects] == files
    for obj in objects:
        assert {"file", "visible_text", "screen", "bounce", "thread", "tags", "reps", "topics",
                "actions", "problems"} <= set(obj)
        assert obj["screen"]["verdict"] in {"answer", "skip", "bounce", "manager_reply", "park"}
    assert objects[-1]["problems"] and objects[-2]["problems"]


def test_explain_says_why_step_by_step(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    samples = dict(sample_files())
    (tmp_path / "praise.eml").write_bytes(samples["01-praise-rep.eml"])
    (tmp_path / "bounce.eml").write_bytes(samples["09-bounce.eml"])
    (tmp_path / "praise2.eml").write_bytes(feedback(
        7, "Jenny Park sorted out my delivery problem in minutes, she was brilliant."))
    done = mailloop("explain", "--format", "json", str(tmp_path / "praise2.eml"),
                    str(tmp_path / "bounce.eml"), "--config", str(config))
    praise, bounce = (json.loads(line) for line in done.stdout.splitlines())
    assert praise["screen"]["verdict"] == "answer" and "smile" in praise["tags"]["labels"]
    assert praise["tags"]["evidence"] and praise["thread"]["by"] == "new"
    assert [r["rep"] for r in praise["reps"] if r["credited"]] == ["Jenny Park"]
    assert "delivery" in praise["topics"]
    assert any(a["action"] == "acknowledge" and a["template"] for a in praise["actions"])
    assert bounce["screen"]["verdict"] == "bounce" and bounce["bounce"]["status"]
    assert not (tmp_path / "var").exists()  # nothing recorded, no secret generated
    text = mailloop("explain", str(tmp_path / "praise.eml"), "--config", str(config))
    assert "screen" in text.stdout and "tags" in text.stdout


# ---- backup, check, retention -------------------------------------------------------------


def test_backup_while_the_daemon_runs_is_consistent(tmp_path: Path) -> None:
    config = write_config(tmp_path, batch_size=5)
    settings = load_settings(config)
    for n in range(120):
        deliver(settings.inbox_path, feedback(n))
    daemon = Running(config)
    try:
        archives = []
        for i in range(3):
            archive = tmp_path / f"backup-{i}.tar.gz"
            done = mailloop("store", "backup", str(archive), "--config", str(config))
            assert "verified" in done.stdout
            archives.append(archive)
        daemon.wait_for(lambda: not list((settings.inbox_path / "new").iterdir()), "the backlog")
    finally:
        daemon.stop()
    assert mailloop("store", "check", "--config", str(config)).returncode == 0
    # a restored copy opens as a store
    restore = tmp_path / "restore"
    shutil.unpack_archive(archives[-1], restore)
    store = TinyStore(restore / "mailloop.json")
    assert sum(1 for _ in store.iter_messages()) <= 120
    store.close()


def test_store_check_finds_damage(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)
    deliver(settings.inbox_path, feedback(1))
    mailloop("run", "--once", "--config", str(config))
    assert mailloop("store", "check", "--config", str(config)).returncode == 0
    [segment] = settings.store_path.with_suffix(".d").glob("*.*.json")
    segment.write_text(segment.read_text()[:-20])
    damaged = mailloop("store", "check", "--config", str(config), "--format", "json",
                       check=False)
    assert damaged.returncode == 1 and "not valid JSON" in json.loads(damaged.stdout)[
        "problems"][0]


def test_retention_removes_bodies_and_keeps_counts(tmp_path: Path) -> None:
    from mailloop.ops.privacy import sweep

    config = write_config(tmp_path)  # the default, 365 days: the daemon keeps them
    settings = load_settings(config, retention={"body_days": 30})
    old = time.time() - 90 * 86400
    for n in range(3):
        path = deliver(settings.inbox_path, feedback(n, "Jenny Park was wonderful with my "
                                                        "parcel, thank you!"))
        os.utime(path, (old, old))
    deliver(settings.inbox_path, feedback(9, "Jenny Park was wonderful, thank you!"))
    mailloop("run", "--once", "--config", str(config))
    before = report_counts(config)
    store = TinyStore(settings.store_path)
    try:
        counts = sweep(store, settings, datetime.now(UTC))
        assert counts["messages"] == 3 and counts["replies"] >= 3
        assert sweep(store, settings, datetime.now(UTC))["messages"] == 0  # done once
    finally:
        store.close()
    assert report_counts(config) == before
    messages, replies = store_docs(config)
    stripped = [m for m in messages if m.get("bodies_removed_at")]
    assert len(stripped) == 3 and all("text" not in m and "subject" not in m for m in stripped)
    assert sum(1 for r in replies if "raw" not in r) == counts["replies"]
    recent = next(m for m in messages if m["message_id"] == "ops-9@customer.test")
    assert recent["text"]
    assert datetime.now(UTC) - timedelta(days=30) > datetime.fromisoformat(
        stripped[0]["received_at"])


# ---- systemd ------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("unit", ["mailloop.service", "mailloop@.service"])
def test_systemd_units_verify(tmp_path: Path, unit: str) -> None:
    text = (ROOT / "deploy" / unit).read_text()
    for key in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                "Restart=on-failure", "DynamicUser=yes", "StateDirectory=", "ProtectSystem=strict",
                "ProtectHome=yes", "NoNewPrivileges=yes", "PrivateTmp=yes",
                "RestrictAddressFamilies="):
        assert key in text, key
    # the unit names where `pip install` put mailloop; verify with one that exists here
    assert "ExecStart=/usr/local/bin/mailloop run" in text
    name = unit.replace("@.", "@support.")
    (tmp_path / name).write_text(text.replace("/usr/local/bin/mailloop", sys.executable))
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "mailloop" not in done.stderr, done.stderr
