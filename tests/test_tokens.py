"""Signed reply-address tokens: round trips, tampering, expiry, and the 64-character limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailloop.staff import OFORA, person_key
from mailloop.tokens import (
    TokenError,
    find_token,
    make_token,
    token_address,
    verify_token,
)
from tests.helpers import NOW

KEY = b"token-test-key"
PEOPLE = ["", "any", person_key("dana.lee@example.com"), OFORA + person_key("bill@example.com")]


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("kind", ["c", "m", "u"])
def test_round_trip_and_rfc5321_local_part_limit(kind: str, person: str) -> None:
    token = make_token(KEY, kind, "c0123456789a", person, NOW + timedelta(days=400))
    address = token_address("customer-care@example.com", token)
    assert len(address.split("@")[0]) <= 64
    assert address == address.lower()  # survives servers that fold case
    assert find_token(address, "Customer-Care@example.com") == token
    parsed = verify_token(KEY, token.upper(), now=NOW)
    assert (parsed.kind, parsed.conversation, parsed.person) == (kind, "c0123456789a", person)


def test_any_text_fields_still_round_trip() -> None:
    token = make_token(KEY, "m", "legacy-conversation", "Some Body", NOW + timedelta(days=1))
    parsed = verify_token(KEY, token, now=NOW)
    assert (parsed.conversation, parsed.person) == ("legacy-conversation", "Some Body")


def test_tampering_expiry_and_wrong_key_are_refused() -> None:
    token = make_token(KEY, "m", "c0123456789a", PEOPLE[2], NOW + timedelta(days=30))
    kind, payload, sig = token.split(".")
    flipped = payload[:-1] + ("a" if payload[-1] != "a" else "b")
    with pytest.raises(TokenError, match="does not verify"):
        verify_token(KEY, f"{kind}.{flipped}.{sig}", now=NOW)
    with pytest.raises(TokenError, match="does not verify"):
        verify_token(KEY, f"c.{payload}.{sig}", now=NOW)  # another kind, same payload
    with pytest.raises(TokenError, match="does not verify"):
        verify_token(b"another key", token, now=NOW)
    with pytest.raises(TokenError, match="expired"):
        verify_token(KEY, token, now=NOW + timedelta(days=32))
    with pytest.raises(TokenError, match="malformed"):
        verify_token(KEY, "m.only-two", now=NOW)


def test_find_token_only_on_our_own_address() -> None:
    assert find_token("feedback+m.abc.def@example.com", "feedback@example.com") == "m.abc.def"
    assert find_token("feedback+m.abc.def@evil.example", "feedback@example.com") is None
    assert find_token("other+m.abc.def@example.com", "feedback@example.com") is None
    assert find_token("feedback@example.com", "feedback@example.com") is None
