"""Periods: the spans of time the balance page and the spending report show, as a team reads
them (its time zone) and as UTC bounds to query by.

A period is chosen by a preset name ("today", "last-7-days", ...) or as whole days typed as
YYYY-MM-DD, both included. Every page that offers a period reads it here, so that a name means
the same span everywhere and the same typed days are accepted or refused everywhere. Problems
with typed days are codes per field (:class:`PeriodError`), put into words by
:func:`problem`.

"Last 7 days" (and "last 30 days") are whole days of the team's calendar: today and the six
(29) days before it, from the team's midnight to the end of today. That is what a person
counting days means, it is the same span whichever page asks, and a report by day then has
seven whole days rather than a first day cut at whatever hour it is now (168 hours back from
now, as the balance page had it). Only "last 24 hours" is a span of hours, ending now.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l

from webapp.models import Team
from webapp.timezones import in_team_zone, local_to_utc

CUSTOM = "custom"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_DAYS = 731  # two years, a leap day included: a year compared with the one before
FIRST_YEAR, LAST_YEAR = 2000, 2100  # dates outside are typing mistakes


@dataclass(frozen=True)
class Period:
    """A span of time: the UTC instants ``start`` up to ``end`` (excluded), and the team's days
    it touches, ``first`` to ``last`` (both included). A period of whole days starts at the
    team's midnight of ``first`` and ends at the midnight after ``last``, as its clocks read
    them; "last 24 hours" ends now."""

    name: str  # a preset, or "custom"
    first: date
    last: date
    start: datetime
    end: datetime

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


class PeriodError(ValueError):
    """What is wrong with typed days: a problem code per field ("from", "to"), one of
    ``missing``, ``invalid``, ``out_of_range``, ``before_start`` or ``too_long``."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(f"{name}: {code}" for name, code in problems.items()))
        self.problems = problems


MISSING = {"from": _l("Enter the first day."), "to": _l("Enter the last day.")}
PROBLEMS = {
    "invalid": _l("Enter a real date as YYYY-MM-DD, for example 2026-03-31."),
    "out_of_range": _l(
        "Enter a date between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR
    ),
    "before_start": _l("The last day cannot be before the first day."),
    "too_long": _l("Choose at most %(days)s days (two years) at a time.", days=MAX_DAYS),
}


def problem(field: str, code: str) -> str:
    """A problem code of ``field`` in words a person can act on."""
    return str(MISSING[field] if code == "missing" else PROBLEMS[code])


def local_today(team: Team, now: datetime) -> date:
    """The team's date at ``now``."""
    local = in_team_zone(now, team)
    assert local is not None
    return local.date()


def _last_days(n: int) -> Callable[[date], tuple[date, date]]:
    return lambda today: (today - timedelta(days=n - 1), today)


def _yesterday(today: date) -> tuple[date, date]:
    return today - timedelta(days=1), today - timedelta(days=1)


def _last_month(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


# Presets of whole days, seen from the team's today (see the module's docstring).
DAY_PRESETS: dict[str, Callable[[date], tuple[date, date]]] = {
    "today": _last_days(1),
    "yesterday": _yesterday,
    "last-7-days": _last_days(7),
    "last-30-days": _last_days(30),
    "this-month": lambda today: (today.replace(day=1), today),
    "last-month": _last_month,
}
# Presets that are hours up to now, not days.
HOUR_PRESETS = {"last-24-hours": timedelta(hours=24)}
PRESETS = (*DAY_PRESETS, *HOUR_PRESETS)
LABELS = {
    "today": _l("Today"),
    "yesterday": _l("Yesterday"),
    "last-7-days": _l("Last 7 days"),
    "last-30-days": _l("Last 30 days"),
    "this-month": _l("This month"),
    "last-month": _l("Last month"),
    "last-24-hours": _l("Last 24 hours"),
}


def of_days(team: Team, first: date, last: date, name: str = CUSTOM) -> Period:
    """The whole days ``first`` to ``last`` of the team's calendar."""
    start = local_to_utc(first, time(0), team)
    end = local_to_utc(last + timedelta(days=1), time(0), team)
    return Period(name, first, last, start, end)


def preset(team: Team, now: datetime, name: str) -> Period:
    """The period a preset names, seen from ``now``."""
    if name in HOUR_PRESETS:
        start = now - HOUR_PRESETS[name]
        return Period(name, local_today(team, start), local_today(team, now), start, now)
    first, last = DAY_PRESETS[name](local_today(team, now))
    return of_days(team, first, last, name)


def typed_days(typed_from: str, typed_to: str) -> tuple[date, date]:
    """The first and last day typed as YYYY-MM-DD; raises PeriodError with what is wrong."""
    problems: dict[str, str] = {}
    first = _typed_day(typed_from.strip(), "from", problems)
    last = _typed_day(typed_to.strip(), "to", problems)
    if first and last and first > last:
        problems["to"] = "before_start"
    elif first and last and (last - first).days + 1 > MAX_DAYS:
        problems["to"] = "too_long"
    if problems or first is None or last is None:
        raise PeriodError(problems)
    return first, last


def _typed_day(text: str, name: str, problems: dict[str, str]) -> date | None:
    if not text:
        problems[name] = "missing"
        return None
    if not is_day(text):
        problems[name] = "invalid"
        return None
    day = date.fromisoformat(text)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        problems[name] = "out_of_range"
        return None
    return day


def is_day(text: str) -> bool:
    """Whether ``text`` is a real day written as a date input holds it, YYYY-MM-DD (not the
    other ISO forms, 20260331 or 2026-W14-2)."""
    if not _DAY.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def choose(
    team: Team, now: datetime, name: str, typed_from: str = "", typed_to: str = ""
) -> Period:
    """The period ``name`` (a preset, or "custom" for the typed days). Raises PeriodError for
    typed days that cannot make a period, ValueError for a name that is not a preset."""
    if name == CUSTOM:
        return of_days(team, *typed_days(typed_from, typed_to))
    if name not in PRESETS:
        raise ValueError(f"unknown period {name!r}")
    return preset(team, now, name)
