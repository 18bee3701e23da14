"""The return path each reply is sent with, and reading it back from a bounce.

A reply with Message-ID `mailloop.<kind>.<digest>@example.com` goes out with the
envelope sender `feedback+b.<kind>.<digest>@example.com` (VERP: variable envelope
return path). A bounce is sent to the envelope sender, so even a bounce that quotes
nothing of the original still names the reply it concerns in the address it came
to, and the reply's Message-ID can be rebuilt from it without a lookup table.

Only our own deterministic Message-IDs are encoded; any other message, or an
address that would exceed the 64 characters RFC 5321 allows a local part, goes out
with the plain From address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

BOUNCE_KIND = "b"
MAX_LOCAL_PART = 64

_OUR_ID = re.compile(r"^mailloop\.([A-Za-z0-9_-]+)\.([0-9a-f]{16,64})@([^@\s]+)$")
_TOKEN = re.compile(r"^b\.([A-Za-z0-9_-]+)\.([0-9a-f]{16,64})$", re.IGNORECASE)
_ADDRESS = re.compile(r"([A-Za-z0-9._%=-]+)\+(b\.[A-Za-z0-9_-]+\.[0-9a-fA-F]{16,64})@"
                      r"([A-Za-z0-9.-]+)")


def return_path(from_address: str, message_id: str) -> str:
    """The envelope sender for the reply `message_id` sent from `from_address`."""
    local, _, domain = from_address.rpartition("@")
    match = _OUR_ID.match(message_id)
    if not match or not local or "+" in local:
        return from_address
    kind, digest, _ = match.groups()
    verp_local = f"{local}+{BOUNCE_KIND}.{kind}.{digest}"
    if len(verp_local) > MAX_LOCAL_PART:
        return from_address
    return f"{verp_local}@{domain}"


def find_token(addresses: Iterable[str]) -> tuple[str, str] | None:
    """The first bounce token in `addresses` (header values may hold several) and the
    domain it came to, or None."""
    for value in addresses:
        match = _ADDRESS.search(value or "")
        if match:
            return match.group(2).lower(), match.group(3).lower()
    return None


def message_id_for(token: str, domain: str) -> str | None:
    """The Message-ID of the reply a bounce token names, or None if it is not one."""
    match = _TOKEN.match(token)
    if not match:
        return None
    kind, digest = match.groups()
    return f"mailloop.{kind}.{digest.lower()}@{domain.lower()}"


def is_bounce_token(token: str) -> bool:
    return _TOKEN.match(token) is not None
