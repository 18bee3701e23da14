"""Secrets for the transports: a password, a password command, or an OAuth2 token command.

Commands run through the shell, as mail clients run theirs (isync's PassCmd,
mutt's `imap_pass`), each time a connection is opened, so a rotated password or
a refreshed OAuth2 access token is picked up without a restart. Their output is
never logged.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from pydantic import SecretStr

COMMAND_TIMEOUT = 30.0


class CredentialError(Exception):
    """A secret could not be obtained; the message never contains the secret."""


@dataclass(frozen=True, slots=True)
class Credential:
    kind: str  # "password" | "oauth2" | "none"
    username: str
    secret: str = ""

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return f"Credential(kind={self.kind!r}, username={self.username!r}, secret=***)"


def run_secret_command(command: str, what: str) -> str:
    try:
        done = subprocess.run(command, shell=True, capture_output=True, timeout=COMMAND_TIMEOUT,
                              check=False, text=True)
    except subprocess.TimeoutExpired:
        raise CredentialError(f"{what} did not finish within {COMMAND_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise CredentialError(f"{what} exited with status {done.returncode}")
    value = done.stdout.strip("\r\n")
    if not value:
        raise CredentialError(f"{what} printed nothing")
    return value


def resolve(username: str, password: SecretStr | None, password_command: str | None,
            oauth2_token_command: str | None, *, section: str) -> Credential:
    """The credential to log in with; commands are run now (call on each connect)."""
    if oauth2_token_command:
        token = run_secret_command(oauth2_token_command, f"{section}.oauth2_token_command")
        return Credential("oauth2", username, token)
    if password_command:
        return Credential("password", username,
                          run_secret_command(password_command, f"{section}.password_command"))
    if password is not None:
        return Credential("password", username, password.get_secret_value())
    return Credential("none", username)


def xoauth2_response(username: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (Google and Microsoft), before base64."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01"
