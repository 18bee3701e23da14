"""prepare: the part of one message's handling that reads nothing but the message.

Parsing, screening, classifying and choosing the reply's languages depend only on
the raw message and the settings, so a backlog can spread them over worker
processes (see mailloop/workers.py) while the daemon threads, decides, renders and
records each message in order; those steps read the store and the messages before
it in the batch. `pipeline.process` takes the `Early` results instead of computing
them again; they are exactly what it would compute itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailloop.classify import Classifier
from mailloop.config import Settings
from mailloop.language import customer_locales
from mailloop.model import Inbound, Tags, Verdict, VerdictKind
from mailloop.parse import parse
from mailloop.screen import screen


@dataclass(frozen=True, slots=True)
class Early:
    """Screening's verdict and, for a message to answer, its tags and reply locales."""

    verdict: Verdict
    tags: Tags | None = None
    locales: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    inbound: Inbound
    # None when screening or classifying failed here: the pipeline runs the step
    # again and parks the message naming it, as it would without this stage.
    early: Early | None


def prepare(raw: bytes, key: str, received_at: datetime, settings: Settings,
            classifier: Classifier) -> Prepared:
    msg = parse(raw, key=key, received_at=received_at)
    try:
        verdict = screen(msg, settings)
        if verdict.kind is not VerdictKind.ANSWER:
            return Prepared(msg, Early(verdict))
        tags = classifier.classify(msg.text, subject=msg.subject)
        locales = tuple(customer_locales(msg.text, msg.content_language))
    except Exception:  # the pipeline repeats the step and records the error
        return Prepared(msg, None)
    return Prepared(msg, Early(verdict, tags, locales))
