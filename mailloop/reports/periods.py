"""Months, weeks and days: the periods reports group by, in the configured zone."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(value: str) -> str:
    """`YYYY-MM`, checked; raises ValueError with the expectation."""
    match = _MONTH_RE.match(value.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{value!r}: expected a month as YYYY-MM, e.g. 2026-11")
    return value.strip()


def add_months(month: str, delta: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included."""
    out: list[str] = []
    current = first
    while current <= last:
        out.append(current)
        current = add_months(current, 1)
    return out


def month_of_date(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def current_month(now: datetime, timezone: str) -> str:
    return now.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def months_between(start: datetime, end: datetime, timezone: str) -> list[str]:
    """The months (in `timezone`) that [start, end) touches."""
    zone = ZoneInfo(timezone)
    last = (end - timedelta(microseconds=1)).astimezone(zone).strftime("%Y-%m")
    return month_range(start.astimezone(zone).strftime("%Y-%m"), last)
