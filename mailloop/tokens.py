"""Signed tokens carried in our reply addresses (plus-addressing).

`feedback+m.PAYLOAD.SIG@example.com`: the kind (`c` a customer's reply to our
acknowledgement, `m` a staff reply, `u` an unsubscribe), a payload naming the
conversation, the person it was issued to and an expiry, and an HMAC-SHA256
over all of it with the configured secret. Base32 in lower case survives servers
that fold the case of local parts. The payload is packed in binary (our
conversation ids and person keys as bytes, the expiry as a day number), so a
typical token is 39 characters and `feedback+m.TOKEN` stays well within the 64
characters RFC 5321 allows a local part.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailloop.config import Settings
from mailloop.model import Inbound

_SIG_BYTES = 8  # a 64-bit tag: forging one takes 2**63 tries on average
CUSTOMER_TOKEN = "c"
STAFF_TOKEN = "m"
UNSUBSCRIBE_TOKEN = "u"
CUSTOMER_TOKEN_DAYS = 400
SECRET_FILE = "secret.key"  # in the state folder, when `secret` is not configured
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


# Compact forms of the fields, each behind a one-byte tag; anything else is kept as text.
_CONVERSATION_ID = re.compile(r"^c[0-9a-f]{11}$")  # thread.new_conversation_id
_PERSON_KEY = re.compile(r"^([a-z]{1,2}:)?([a-z2-7]{8})$")  # staff.person_key, maybe prefixed
_TEXT, _PACKED = 0, 1


def _pack_text(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise ValueError("token field too long")
    return bytes([_TEXT, len(raw)]) + raw


def _pack_conversation(value: str) -> bytes:
    if _CONVERSATION_ID.match(value):
        return bytes([_PACKED]) + bytes.fromhex("0" + value[1:])
    return _pack_text(value)


def _pack_person(value: str) -> bytes:
    match = _PERSON_KEY.match(value)
    if match:
        prefix = (match.group(1) or "").encode("ascii")
        return bytes([_PACKED, len(prefix)]) + prefix + _unb32(match.group(2))
    return _pack_text(value)


def _unpack(data: bytes, at: int, packed_len: int, packed: str) -> tuple[str, int]:
    tag = data[at]
    if tag == _TEXT:
        size = data[at + 1]
        return data[at + 2:at + 2 + size].decode("utf-8"), at + 2 + size
    if packed == "conversation":
        return "c" + data[at + 1:at + 1 + packed_len].hex()[1:], at + 1 + packed_len
    size = data[at + 1]
    prefix = data[at + 2:at + 2 + size].decode("ascii")
    start = at + 2 + size
    return prefix + _b32(data[start:start + packed_len]), start + packed_len


def make_token(secret: bytes, kind: str, conversation: str, person: str,
               expires: datetime) -> str:
    days = max(0, min(0xFFFF, (expires - _EPOCH).days))
    data = days.to_bytes(2, "big") + _pack_conversation(conversation) + _pack_person(person)
    payload = _b32(data)
    return f"{kind}.{payload}.{_sign(secret, kind, payload)}"


def verify_token(secret: bytes, token: str, *, now: datetime) -> Token:
    parts = token.lower().split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenError("malformed token")
    kind, payload, sig = parts
    if not hmac.compare_digest(sig, _sign(secret, kind, payload)):
        raise TokenError("token signature does not verify")
    try:
        data = _unb32(payload)
        days = int.from_bytes(data[:2], "big")
        conversation, at = _unpack(data, 2, 6, "conversation")
        person, at = _unpack(data, at, 5, "person")
        if at != len(data):
            raise ValueError("trailing bytes")
        expires = _EPOCH + timedelta(days=days, hours=23, minutes=59)
    except (ValueError, IndexError, UnicodeDecodeError, binascii.Error):
        raise TokenError("malformed token payload") from None
    if now > expires:
        raise TokenError(f"token expired on {expires.date().isoformat()}")
    return Token(kind=kind, conversation=conversation, person=person, expires=expires)


def existing_secret(settings: Settings) -> bytes | None:
    """The signing key if there is one: `secret` from the settings, else the key generated
    earlier into the state folder; None when neither exists yet."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode("utf-8")
    try:
        return (settings.state_path / SECRET_FILE).read_bytes()
    except FileNotFoundError:
        return None


def load_secret(settings: Settings) -> bytes:
    """The signing key: `secret` from the settings, else one generated once into the state
    folder (readable by its owner only), so tokens stay valid across restarts."""
    found = existing_secret(settings)
    if found is not None:
        return found
    path = settings.state_path / SECRET_FILE
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


def recipient_tokens(msg: Inbound, our_address: str) -> Iterator[str]:
    """The tokens of our plus-addresses among the message's To and Cc recipients."""
    for addr in (*msg.to, *msg.cc):
        token = find_token(addr.email, our_address)
        if token is not None:
            yield token


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
