"""The Prometheus endpoint: what the daemon processed, sent and holds.

Optional: `[metrics] enabled = true` and prometheus-client installed
(`pip install 'mailloop[metrics]'`). Bound to 127.0.0.1:9464 unless configured.

    mailloop_messages_total{tag}                 answered messages: smile, ofora, both, neither
    mailloop_messages_screened_total{verdict}    every message: answer, skip, bounce, ...
    mailloop_replies_total{kind,outcome}         each reply attempt's outcome (sent, deferred,
                                                 failed) and each bounce
    mailloop_ack_latency_seconds                 arrival in the mailbox -> acknowledgement sent
    mailloop_backlog                             messages waiting in the mailbox
    mailloop_connection_up{connection}           mailbox, delivery: 1 connected, 0 not
    mailloop_parked                              messages parked for an operator
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailloop.config import ConfigError
from mailloop.model import VerdictKind
from mailloop.store.base import Doc

if TYPE_CHECKING:
    from mailloop.daemon import CycleStats, Daemon

log = logging.getLogger("mailloop")

LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


class Metrics:
    def __init__(self, daemon: Daemon) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError:
            raise ConfigError("[metrics] enabled = true needs prometheus-client: "
                              "pip install 'mailloop[metrics]'") from None
        self.daemon = daemon
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("mailloop_messages", "Answered messages by tag", ["tag"],
                                registry=r)
        self.screened = Counter("mailloop_messages_screened",
                                "Messages by screening verdict", ["verdict"], registry=r)
        self.replies = Counter("mailloop_replies", "Reply outcomes by kind",
                               ["kind", "outcome"], registry=r)
        self.latency = Histogram("mailloop_ack_latency_seconds",
                                 "From arrival in the mailbox to the acknowledgement sent",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.backlog = Gauge("mailloop_backlog", "Messages waiting in the mailbox", registry=r)
        self.connection = Gauge("mailloop_connection_up", "1 when the connection works",
                                ["connection"], registry=r)
        self.parked = Gauge("mailloop_parked", "Messages parked for an operator", registry=r)
        self.server: Any = None
        daemon.observers.append(self.on_cycle)
        daemon.status_observers.append(self.on_status)
        daemon.ledger.observers.append(self.on_reply)

    def serve(self, address: str, port: int) -> None:
        from prometheus_client import start_http_server

        self.server, _thread = start_http_server(port, addr=address, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", address, port)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def on_cycle(self, stats: CycleStats) -> None:
        for outcome in stats.outcomes:
            kind = outcome.verdict.kind
            self.screened.labels(kind.value).inc()
            if kind is VerdictKind.ANSWER:
                tags = outcome.tags
                tag = ("both" if tags.smile and tags.ofora else "smile" if tags.smile
                       else "ofora" if tags.ofora else "neither")
                self.messages.labels(tag).inc()
            report = outcome.inbound.report
            if kind is VerdictKind.BOUNCE and report and report.original_message_id:
                reply = self.daemon.store.reply(report.original_message_id)
                if reply is not None and reply.get("state") == "bounced":
                    self.replies.labels(reply.get("kind", ""), "bounced").inc()

    def on_reply(self, doc: Doc) -> None:
        kind, state = str(doc.get("kind", "")), str(doc.get("state", ""))
        self.replies.labels(kind, state).inc()
        if state == "sent" and kind.startswith("ack_") and doc.get("answers"):
            message = self.daemon.store.message(str(doc["answers"]))
            sent_at = (doc.get("history") or [{}])[-1].get("at")
            if message and message.get("received_at") and sent_at:
                seconds = (datetime.fromisoformat(sent_at)
                           - datetime.fromisoformat(message["received_at"])).total_seconds()
                self.latency.observe(max(0.0, seconds))

    def on_status(self, status: dict[str, Any]) -> None:
        mailbox = status.get("mailbox") or {}
        delivery = status.get("delivery") or {}
        if isinstance(mailbox, dict):
            self.backlog.set(int(mailbox.get("backlog") or 0))
            up = bool(mailbox.get("connected", True)) and not status.get("last_error")
            self.connection.labels("mailbox").set(1 if up else 0)
        if isinstance(delivery, dict):
            self.connection.labels("delivery").set(0 if delivery.get("last_error") else 1)
        try:
            self.parked.set(len(self.daemon.store.parked()))
        except Exception as exc:  # the store's trouble shows in status; metrics go on
            log.debug("metrics: parked count unavailable: %s", exc)
