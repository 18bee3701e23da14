"""Log lines: one per event, text on a terminal, JSON lines for machines.

`--log-format json` (the default when stderr is the journal, `$JOURNAL_STREAM`)
writes one JSON object per line: `ts`, `level`, `logger`, `message`, and the
event's fields (`message_id` for every line about a message). The text format
puts the same fields after the message as `key=value`.

Secrets never reach a line above DEBUG: the configured passwords, tokens, the
signing secret and the store's DSN are replaced by `***` wherever they appear, and
so are `password=...`-style pairs and SMTP/IMAP AUTH arguments.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

# The attributes every LogRecord has; anything else was passed in `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_PAIRS = re.compile(r"(?i)\b(password|passwd|pass|token|secret|dsn|authorization)"
                    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)")
_AUTH = re.compile(r"(?i)\b(AUTH(?:ENTICATE)?\s+(?:PLAIN|LOGIN|XOAUTH2)\s+)\S+")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")
MASK = "***"
LOG_FORMATS = ("text", "json")


def default_format() -> str:
    """json under journald (stderr is the journal stream), else text."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if stream:
        try:
            st = os.fstat(sys.stderr.fileno())
            if stream == f"{st.st_dev}:{st.st_ino}":
                return "json"
        except (OSError, ValueError):
            return "json"
    return "text"


def secrets_of(settings: Any) -> list[str]:
    """Every secret value in the settings (SecretStr anywhere in the tree)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            if len(text) >= 4:
                found.append(text)
        elif hasattr(value, "__pydantic_fields__"):
            for name in type(value).__pydantic_fields__:
                walk(getattr(value, name, None))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(settings)
    return found


class Redactor(logging.Filter):
    """Masks secrets in every record above DEBUG (DEBUG is for the operator's own eyes)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
        text = _AUTH.sub(rf"\1{MASK}", text)
        return _PAIRS.sub(rf"\1\2{MASK}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.levelno > logging.DEBUG:
            exc = record.exc_info[1]
            record.exc_text = self.redact(f"{type(exc).__name__}: {exc}") if exc else None
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and v is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value if isinstance(value, str | int | float | bool)
                            else str(value))
        if record.exc_text:
            line["error"] = record.exc_text
        elif record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, *, timestamps: bool = True) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s" if timestamps
                         else "%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text
