"""The SMTP sender against a real aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailloop.compose import reply_message_id, to_bytes
from mailloop.config import DeliveryConfig
from mailloop.delivery.base import Envelope
from mailloop.delivery.smtp import _PLAIN_ADDRESS, SmtpDelivery, quote_address
from mailloop.model import Address, Outgoing, ReplyState
from mailloop.verp import message_id_for, return_path
from tests.servers import SmtpServer

FROM = Address("Customer Care", "feedback@company.test")
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def outgoing(n: int, to: str = "jo@customer.test", **kw: object) -> Outgoing:
    answers = f"maildir:msg-{n}"
    values: dict[str, object] = {
        "message_id": reply_message_id(answers, "ack_smile", to, FROM.domain),
        "kind": "ack_smile",
        "template": "ack_smile",
        "locale": "en",
        "sender": FROM,
        "to": (Address("Jo", to),),
        "subject": f"Re: Great service {n}",
        "text": f"Thank you for your kind words, number {n}.",
        "html": f"<p>Thank you for your kind words, number {n}.</p>",
        "reply_to": Address("", "support@company.test"),
        "in_reply_to": f"orig-{n}@customer.test",
        "references": (f"first-{n}@customer.test", f"orig-{n}@customer.test"),
        "answers": answers,
    }
    values.update(kw)
    return Outgoing(**values)  # type: ignore[arg-type]


def envelope(n: int, to: str = "jo@customer.test") -> Envelope:
    out = outgoing(n, to)
    return Envelope(out.message_id, FROM.email, tuple(a.email for a in out.to),
                    to_bytes(out, now=NOW))


def config(server: SmtpServer, **kw: object) -> DeliveryConfig:
    values: dict[str, object] = {"kind": "smtp", "host": server.host, "port": server.port,
                                 "tls": "none", "from_address": FROM.email, "timeout": 5.0}
    values.update(kw)
    return DeliveryConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def sender(smtp_server: SmtpServer) -> Iterator[SmtpDelivery]:
    delivery = SmtpDelivery(config(smtp_server))
    yield delivery
    delivery.close()


def test_reply_arrives_with_its_headers(smtp_server: SmtpServer, sender: SmtpDelivery) -> None:
    env = envelope(1)
    [result] = sender.send([env])
    assert result.state is ReplyState.SENT
    assert result.response.startswith("250")
    [got] = smtp_server.wait_for(1)
    msg = email.message_from_bytes(got.raw, policy=email.policy.default)
    assert msg["Message-ID"] == f"<{env.message_id}>"
    assert msg["From"] == "Customer Care <feedback@company.test>"
    assert msg["To"] == "Jo <jo@customer.test>"
    assert msg["Reply-To"] == "support@company.test"
    assert msg["In-Reply-To"] == "<orig-1@customer.test>"
    assert msg["References"] == "<first-1@customer.test> <orig-1@customer.test>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and "number 1" in plain.get_content()
    assert html is not None and "<p>Thank you" in html.get_content()
    assert got.rcpt_tos == ("jo@customer.test",)
    # VERP: the envelope sender names the reply, so a bounce that quotes nothing still does.
    assert got.mail_from == return_path(FROM.email, env.message_id)
    token = got.mail_from.split("+", 1)[1].split("@")[0]
    assert message_id_for(token, "company.test") == env.message_id


def test_one_connection_carries_many_messages(smtp_server: SmtpServer,
                                              sender: SmtpDelivery) -> None:
    results = sender.send([envelope(n) for n in range(20)])
    results += sender.send([envelope(n) for n in range(20, 30)])
    assert {r.state for r in results} == {ReplyState.SENT}
    got = smtp_server.wait_for(30)
    assert len(smtp_server.connection_ids) == 1
    assert len({m.raw for m in got}) == 30
    assert sender.status()["opened"] == 1


def test_parallel_connections_share_a_chunk(smtp_server: SmtpServer) -> None:
    delivery = SmtpDelivery(config(smtp_server, connections=4))
    try:
        results = delivery.send([envelope(n) for n in range(40)])
    finally:
        delivery.close()
    assert [r.state for r in results] == [ReplyState.SENT] * 40
    smtp_server.wait_for(40)
    assert len(smtp_server.connection_ids) == 4


def test_4xx_is_deferred_and_5xx_failed(smtp_server: SmtpServer, sender: SmtpDelivery) -> None:
    smtp_server.fail_next(1, 451, "4.3.0 Try again later")
    smtp_server.fail_next(1, 554, "5.7.1 Rejected by policy")
    first, second, third = sender.send([envelope(1), envelope(2), envelope(3)])
    assert first.state is ReplyState.DEFERRED and "451" in first.response
    assert second.state is ReplyState.FAILED and "554 5.7.1 Rejected by policy" in second.response
    assert third.state is ReplyState.SENT
    assert len(smtp_server.wait_for(1)) == 1


def test_recipient_refusals(smtp_server: SmtpServer, sender: SmtpDelivery) -> None:
    smtp_server.refuse_recipient("gone@customer.test", 550, "5.1.1 No such user")
    out = replace(outgoing(1), to=(Address("", "jo@customer.test"),
                                   Address("", "gone@customer.test")))
    both = Envelope(out.message_id, FROM.email, ("jo@customer.test", "gone@customer.test"),
                    to_bytes(out, now=NOW))
    partial, refused = sender.send([both, envelope(2, to="gone@customer.test")])
    assert partial.state is ReplyState.SENT
    assert partial.refused == {"gone@customer.test": "550 5.1.1 No such user"}
    assert refused.state is ReplyState.FAILED
    assert refused.refused == {"gone@customer.test": "550 5.1.1 No such user"}
    [got] = smtp_server.wait_for(1)
    assert got.rcpt_tos == ("jo@customer.test",)


def test_a_server_that_is_down_is_survived(smtp_server: SmtpServer,
                                           sender: SmtpDelivery) -> None:
    assert sender.send([envelope(1)])[0].state is ReplyState.SENT
    smtp_server.stop()
    down = sender.send([envelope(2), envelope(3)])
    assert [r.state for r in down] == [ReplyState.DEFERRED] * 2
    assert "cannot connect" in down[0].response or "connection lost" in down[0].response
    smtp_server.start()
    again = sender.send([envelope(2), envelope(3)])
    assert [r.state for r in again] == [ReplyState.SENT] * 2
    assert len(smtp_server.wait_for(3)) == 3


def test_a_dropped_connection_is_reopened(smtp_server: SmtpServer,
                                          sender: SmtpDelivery) -> None:
    sender.send([envelope(1)])
    smtp_server.restart()  # drops the open session; the next send must reconnect
    assert sender.send([envelope(2)])[0].state is ReplyState.SENT
    assert len(smtp_server.wait_for(2)) == 2
    assert len(smtp_server.connection_ids) == 2


def test_auth_with_a_password_command() -> None:
    with SmtpServer(auth=("feedback", "s3cret")) as server:
        good = SmtpDelivery(config(server, username="feedback",
                                   password_command="printf s3cret"))
        bad = SmtpDelivery(config(server, username="feedback", password="wrong"))
        try:
            assert good.send([envelope(1)])[0].state is ReplyState.SENT
            refused = bad.send([envelope(2)])[0]
        finally:
            good.close()
            bad.close()
        assert refused.state is ReplyState.DEFERRED and "login refused" in refused.response
        [got] = server.wait_for(1)
        assert got.auth_login == "feedback"


def test_xoauth2_with_a_token_command() -> None:
    with SmtpServer(auth=("feedback@company.test", "token-1234")) as server:
        fresh = SmtpDelivery(config(server, username="feedback@company.test",
                                    oauth2_token_command="printf token-1234"))
        stale = SmtpDelivery(config(server, username="feedback@company.test",
                                    oauth2_token_command="printf token-0000"))
        try:
            assert fresh.send([envelope(1)])[0].state is ReplyState.SENT
            refused = stale.send([envelope(2)])[0]
        finally:
            fresh.close()
            stale.close()
        assert refused.state is ReplyState.DEFERRED
        assert refused.response == "login refused: 535 5.7.8 Username and Password not accepted"
        [got] = server.wait_for(1)
        assert got.auth_login == "feedback@company.test"


def test_a_password_beyond_ascii_logs_in() -> None:
    with SmtpServer(auth=("feedback", "Grüße-ñ-密码")) as server:
        delivery = SmtpDelivery(config(server, username="feedback", password="Grüße-ñ-密码"))
        try:
            assert delivery.send([envelope(1)])[0].state is ReplyState.SENT
        finally:
            delivery.close()
        assert server.wait_for(1)[0].auth_login == "feedback"


def test_probe_answers_with_the_greeting(sender: SmtpDelivery) -> None:
    assert sender.probe().startswith("220 smtp.example.test")
    assert sender.status()["opened"] == 0  # its connection is not one of the senders'


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: trusted by no system store."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_verifies_the_server_certificate(tls: str, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    with SmtpServer(tls_context=server_context, implicit_tls=tls == "implicit") as server:
        trusting = SmtpDelivery(config(server, tls=tls),
                                tls_context=ssl.create_default_context(cafile=str(cert)))
        default = SmtpDelivery(config(server, tls=tls))
        unverified = SmtpDelivery(config(server, tls=tls, verify_tls=False))
        try:
            assert trusting.send([envelope(1)])[0].state is ReplyState.SENT
            refused = default.send([envelope(2)])[0]
            assert unverified.send([envelope(3)])[0].state is ReplyState.SENT
        finally:
            for delivery in (trusting, default, unverified):
                delivery.close()
        assert refused.state is ReplyState.DEFERRED
        assert refused.response.startswith("cannot connect")
        assert "CERTIFICATE_VERIFY_FAILED" in refused.response
        assert len(server.wait_for(2)) == 2


@given(st.one_of(st.from_regex(_PLAIN_ADDRESS, fullmatch=True),
                 st.text(alphabet="ab.@<>\"()[]\\;:, +!#%&'*/=?^_`{|}~-", max_size=20),
                 st.text(max_size=20)))
def test_quote_address_is_smtplib_quoteaddr(address: str) -> None:
    assert quote_address(address) == smtplib.quoteaddr(address)
