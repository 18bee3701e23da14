"""Signed tokens carried in our reply addresses (plus-addressing).

`feedback+m.PAYLOAD.SIG@example.com`: the kind (`c` a customer's reply to our
acknowledgement, `m` a staff reply, `u` an unsubscribe), a payload naming the
conversation, the person it was issued to and an expiry, and an HMAC-SHA256
over all of it with the configured secret. Base32
in lower case survives servers that fold the case of local parts, and the whole
local part stays within the 64 characters RFC 5321 allows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailloop.config import Settings

_SIG_BYTES = 10
CUSTOMER_TOKEN = "c"
STAFF_TOKEN = "m"
UNSUBSCRIBE_TOKEN = "u"
CUSTOMER_TOKEN_DAYS = 400
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


class TokenError(Exception):
    """Why a token was refused: tampered, expired, malformed."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "c" customer reply, "m" staff reply, "u" unsubscribe
    conversation: str
    person: str  # the address key (or index) it was issued to
    expires: datetime


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


def _sign(secret: bytes, kind: str, payload: str) -> str:
    mac = hmac.new(secret, f"{kind}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return _b32(mac[:_SIG_BYTES])


def make_token(secret: bytes, kind: str, conversation: str, person: str,
               expires: datetime) -> str:
    days = max(0, (expires - _EPOCH).days)
    payload = _b32(f"{conversation}|{person}|{days}".encode())
    return f"{kind}.{payload}.{_sign(secret, kind, payload)}"


def verify_token(secret: bytes, token: str, *, now: datetime) -> Token:
    parts = token.lower().split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenError("malformed token")
    kind, payload, sig = parts
    if not hmac.compare_digest(sig, _sign(secret, kind, payload)):
        raise TokenError("token signature does not verify")
    try:
        conversation, person, days = _unb32(payload).decode("utf-8").split("|")
        expires = _EPOCH + timedelta(days=int(days), hours=23, minutes=59)
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed token payload") from None
    if now > expires:
        raise TokenError(f"token expired on {expires.date().isoformat()}")
    return Token(kind=kind, conversation=conversation, person=person, expires=expires)


def load_secret(settings: Settings) -> bytes:
    """The signing key: `secret` from the settings, else one generated once into the state
    folder (readable by its owner only), so tokens stay valid across restarts."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode("utf-8")
    path = settings.state_path / "secret.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def token_kind(token: str) -> str:
    return token.split(".", 1)[0].lower()


def token_address(our_address: str, token: str) -> str:
    local, _, domain = our_address.rpartition("@")
    return f"{local}+{token}@{domain}"


def find_token(address: str, our_address: str) -> str | None:
    """The token in `address` if it is our address with a plus-token, else None."""
    local, _, domain = address.rpartition("@")
    our_local, _, our_domain = our_address.rpartition("@")
    if domain.lower() != our_domain.lower() or "+" not in local:
        return None
    base, _, token = local.partition("+")
    if base.lower() != our_local.lower() or not token:
        return None
    return token
