"""Sends that happen once per period: the newsletter and the digests.

Each send is recorded in the store (`Batch.records`) before it is handed to the
transport, under an id naming its period (`newsletter:2026-11`,
`digest:billing-lead:2026-W48`), so a restart, a second daemon cycle or a second
`--send` never sends it again. A send the transport refused outright is marked
failed and tried again on a later cycle, at most MAX_ATTEMPTS times; one that was
interrupted mid-send stays `sending`, for an operator to check.

The daemon calls `run_due` once per cycle; it is cheap when nothing is due (a few
record look-ups).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from mailloop.config import DigestConfig, Settings
from mailloop.delivery.base import Delivery, Envelope
from mailloop.lifecycle import Lifecycle, LoopData
from mailloop.model import ReplyState
from mailloop.records import iso
from mailloop.render.live import Renderer
from mailloop.reports import digest as digests
from mailloop.reports import newsletter
from mailloop.reports.digest import Period, previous_period
from mailloop.reports.periods import add_months
from mailloop.store.base import Batch, Doc, Repository

log = logging.getLogger("mailloop")

MAX_ATTEMPTS = 3
DONE_STATES = frozenset({"sending", "sent", "empty"})


class AlreadySent(Exception):
    """The period's send is already recorded; `--force` sends it again."""


@dataclass(frozen=True)
class DueSend:
    record_id: str
    kind: Literal["newsletter", "digest"]
    period: str
    digest: DigestConfig | None = None
    window: Period | None = None


def newsletter_id(month: str) -> str:
    return f"newsletter:{month}"


def digest_id(name: str, period: str) -> str:
    return f"digest:{name}:{period}"


def is_open(record: Doc | None) -> bool:
    """Whether the period's send may still happen."""
    if record is None:
        return True
    return record.get("state") == "failed" and int(record.get("attempts", 0)) < MAX_ATTEMPTS


def due_sends(settings: Settings, store: Repository, now: datetime) -> list[DueSend]:
    """What is due at `now`: last month's newsletter from its send day on, and each
    digest's previous day or week from its hour on."""
    local = now.astimezone(ZoneInfo(settings.timezone))
    due: list[DueSend] = []
    cfg = settings.newsletter
    if cfg.send_day and cfg.to and (local.day, local.hour) >= (cfg.send_day, cfg.send_hour):
        month = add_months(local.strftime("%Y-%m"), -1)
        if is_open(store.record(newsletter_id(month))):
            due.append(DueSend(newsletter_id(month), "newsletter", month))
    for dig in settings.digests:
        if local.hour < dig.send_hour and (dig.every == "daily" or local.weekday() == 0):
            continue  # the previous period goes out from send_hour on
        period = previous_period(dig.every, now, settings.timezone)
        record_id = digest_id(dig.name, period.label)
        if is_open(store.record(record_id)):
            due.append(DueSend(record_id, "digest", period.label, dig, period))
    return due


def deliver_once(store: Repository, delivery: Delivery, settings: Settings, *, record_id: str,
                 message_id: str, to: list[str], raw: bytes, now: datetime,
                 details: dict[str, Any], force: bool = False) -> str:
    """Record the send, then send it: `sent` or `failed`. Raises AlreadySent when the
    period's record says it went (or may have gone) unless `force`."""
    existing = store.record(record_id)
    if existing is not None and not is_open(existing) and not force:
        raise AlreadySent(f"{record_id} was already {existing.get('state')} at "
                          f"{existing.get('at')} (Message-ID {existing.get('message_id')})")
    attempts = int(existing.get("attempts", 0)) + 1 if existing else 1
    history = list(existing.get("history", [])) if existing else []
    record: Doc = {**details, "state": "sending", "at": iso(now), "message_id": message_id,
                   "to": to, "attempts": attempts,
                   "history": [*history, {"state": "sending", "at": iso(now),
                                          "message_id": message_id, "forced": force}]}
    batch = Batch()
    batch.records[record_id] = record
    store.commit(batch)
    result = delivery.send([Envelope(message_id, settings.delivery.from_address, tuple(to),
                                     raw)])[0]
    state = "sent" if result.state is ReplyState.SENT else "failed"
    done = Batch()
    done.records[record_id] = {**record, "state": state, "response": result.response,
                               "history": [*record["history"], {"state": state,
                                                                "at": iso(now),
                                                                "response": result.response}]}
    store.commit(done)
    return state


def record_empty(store: Repository, record_id: str, now: datetime, details: dict[str, Any]
                 ) -> None:
    batch = Batch()
    batch.records[record_id] = {**details, "state": "empty", "at": iso(now)}
    store.commit(batch)


def send_newsletter(settings: Settings, store: Repository, delivery: Delivery,
                    templates: Renderer, month: str, now: datetime, *, force: bool = False,
                    to: list[str] | None = None) -> str:
    recipients = list(to or settings.newsletter.to)
    if not recipients:
        raise ValueError("no recipients: set [newsletter] to in the configuration")
    existing = store.record(newsletter_id(month))
    if existing is not None and not is_open(existing) and not force:
        raise AlreadySent(f"the newsletter for {month} was already {existing.get('state')} at "
                          f"{existing.get('at')}: use --force to send it again")
    attempt = int(existing.get("attempts", 0)) + 1 if existing else 1
    letter = newsletter.build(settings, store, templates, month)
    message_id = newsletter.message_id(settings, month, attempt)
    raw = letter.to_email(settings, message_id=message_id, now=now, to=recipients).as_bytes()
    return deliver_once(store, delivery, settings, record_id=newsletter_id(month),
                        message_id=message_id, to=recipients, raw=raw, now=now,
                        details={"kind": "newsletter", "period": month,
                                 "subject": letter.subject}, force=force)


OVERDUE_MONTHS = 3  # how far back the digests look for late conversations


def overdue_conversations(settings: Settings, store: Repository, now: datetime
                          ) -> list[Lifecycle]:
    """The OforA conversations of the last few months that are past a stage target."""
    month = now.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m")
    months = [add_months(month, -back) for back in range(OVERDUE_MONTHS)]
    wanted = [m for m in months if m in set(store.months())]
    if not wanted:
        return []
    lives = LoopData.from_store(store, wanted).lifecycles(settings, now)
    return [life for life in lives if life.overdue]


def run_due(settings: Settings, store: Repository, delivery: Delivery, templates: Renderer,
            now: datetime) -> list[tuple[str, str]]:
    """Build and send everything due; (record id, outcome) for each."""
    done: list[tuple[str, str]] = []
    late: list[Lifecycle] | None = None
    for send in due_sends(settings, store, now):
        if send.kind == "newsletter":
            state = send_newsletter(settings, store, delivery, templates, send.period, now)
        else:
            assert send.digest is not None and send.window is not None
            if late is None:
                late = overdue_conversations(settings, store, now)
            built = digests.build(settings, store, templates, send.digest, send.window,
                                  digests.overdue_items(late, send.digest, settings.timezone))
            details = {"kind": "digest", "digest": send.digest.name, "period": send.period}
            if built is None:
                record_empty(store, send.record_id, now, details)
                state = "empty"
            else:
                message_id, raw = digests.to_email(settings, built, send.digest, send.window,
                                                   now=now)
                state = deliver_once(store, delivery, settings, record_id=send.record_id,
                                     message_id=message_id, to=list(send.digest.to), raw=raw,
                                     now=now, details={**details, "subject": built.subject,
                                                       "messages": built.count})
        level = logging.WARNING if state == "failed" else logging.INFO
        log.log(level, "%s: %s", send.record_id, state)
        done.append((send.record_id, state))
    return done

