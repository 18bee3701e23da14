"""The reports over a store: which months each one reads, read once each.

`track` wraps the per-month iteration (the command line passes a progress bar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta

from mailloop.config import Settings
from mailloop.reports.common import MANAGER_THANKS
from mailloop.reports.features import FeatureRequest, feature_requests
from mailloop.reports.periods import add_months, month_of_date, month_range
from mailloop.reports.replies import RepliesReport, replies_report
from mailloop.reports.smiles import SmilesReport, period_months, smiles_report
from mailloop.reports.source import ReportSource
from mailloop.reports.topics import NEW_MIN, TopicsReport, months_needed, topics_report
from mailloop.store.base import Doc

Track = Callable[[Sequence[str], str], Iterable[str]]
DEFAULT_WINDOW_MONTHS = 6


def no_progress(months: Sequence[str], description: str) -> Iterable[str]:
    return months


def messages_in(store: ReportSource, months: Sequence[str], track: Track = no_progress,
                description: str = "reading") -> Iterator[Doc]:
    present = set(store.months())
    wanted = [m for m in months if m in present]
    for month in track(wanted, description):
        yield from store.iter_messages([month])


def replies_in(store: ReportSource, months: Sequence[str]) -> Iterator[Doc]:
    present = set(store.months())
    wanted = [m for m in months if m in present]
    if wanted:
        yield from store.iter_replies(wanted)


def smiles(store: ReportSource, settings: Settings, first: str, last: str,
           track: Track = no_progress) -> SmilesReport:
    months, before = period_months(first, last)
    after = add_months(last, 1)  # thank-yous for the period's last days
    reply_months = {*months, after}
    thanks: list[Doc] = []

    def messages() -> Iterator[Doc]:
        present = set(store.months())
        wanted = [m for m in [*before, *months, after] if m in present]
        for month in track(wanted, "smiles"):
            yield from store.iter_messages([month])
            if month in reply_months:  # read while the month is at hand
                thanks.extend(r for r in store.iter_replies([month])
                              if r.get("kind") == MANAGER_THANKS)

    # smiles_report reads every message before the replies: `thanks` is full by then.
    return smiles_report(messages(), thanks, settings.reps, first, last,
                         quotes_per_rep=settings.newsletter.quotes_per_rep)


def default_window(today: date) -> tuple[date, date]:
    """Since the first day of the month five months back, until today: six months."""
    first = add_months(month_of_date(today), 1 - DEFAULT_WINDOW_MONTHS)
    return date(int(first[:4]), int(first[5:]), 1), today


def month_window(month: str) -> tuple[date, date]:
    start = date(int(month[:4]), int(month[5:]), 1)
    nxt = add_months(month, 1)
    return start, date(int(nxt[:4]), int(nxt[5:]), 1) - timedelta(days=1)


def topics(store: ReportSource, settings: Settings, since: date, until: date,
           track: Track = no_progress, *, new_min: int = NEW_MIN,
           suggestions: bool = True) -> TopicsReport:
    return topics_report(messages_in(store, months_needed(since, until), track, "topics"),
                         settings.topics, since=since, until=until, timezone=settings.timezone,
                         new_min=new_min, suggestions=suggestions)


def features(store: ReportSource, settings: Settings, since: date, until: date,
             track: Track = no_progress, *, min_count: int = 3) -> list[FeatureRequest]:
    report = topics(store, settings, since, until, track, suggestions=False)
    return feature_requests(report, min_count=min_count)


def replies(store: ReportSource, since: datetime | None, track: Track = no_progress
            ) -> RepliesReport:
    months = store.months()
    if since is not None:
        first = since.strftime("%Y-%m")
        months = [m for m in months if m >= add_months(first, -1)]
    messages = messages_in(store, months, track, "replies")
    return replies_report(messages, replies_in(store, months), since=since)


def months_from(first: str, last: str) -> list[str]:
    return month_range(first, last)
