"""`mailloop check` logs in to the configured servers, as the daemon would."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mailloop.cli import app
from tests.helpers import server_config
from tests.servers import Dovecot, MailUser, SmtpServer


def test_check_connects_to_the_configured_servers(
        tmp_path: Path, dovecot: Dovecot, feedback_user: MailUser, smtp_server: SmtpServer
) -> None:
    good = server_config(tmp_path, dovecot, feedback_user, smtp_server)
    result = CliRunner().invoke(app, ["check", "--config", str(good)])
    assert result.exit_code == 0, result.output
    assert "mailbox: ok" in result.output and "delivery: ok" in result.output

    bad = server_config(tmp_path, dovecot, feedback_user, smtp_server,
                        password="wrong-password")
    result = CliRunner().invoke(app, ["check", "--config", str(bad)])
    assert result.exit_code == 1
    assert "mailbox: imap:" in result.output and "delivery: ok" in result.output
    assert "wrong-password" not in result.output
    smtp_server.stop()
    result = CliRunner().invoke(app, ["check", "--config", str(good)])
    assert result.exit_code == 1 and "delivery: smtp:" in result.output
