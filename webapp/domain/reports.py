"""The spending report: what a team's messages cost and how they fared over a period, by
campaign, by day (in the team's time zone), by sender name or by user.

Read from the quarter-hour usage (``UsagePeriod``), never from the messages, so a year of a
busy team is a few thousand rows. Plain functions of a session and a team: the page, its CSV
and the tests call the same ones. The period is a :class:`webapp.periods.Period`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Interval, case, cast, func, literal, select
from sqlalchemy.orm import Session

from webapp.domain.usage import SUMMED, Totals, sums, totals_of
from webapp.models import Campaign, Team, UsagePeriod, User
from webapp.periods import Period
from webapp.timezones import local_to_utc, team_zone

GROUPINGS = ("campaign", "day", "sender", "user")
DEFAULT_GROUPING = "campaign"
# The periods the report offers, and the one it shows first (webapp/periods.py says what each is).
PRESETS = ("today", "yesterday", "last-7-days", "this-month", "last-month")
DEFAULT_PERIOD = "this-month"


# -- the report ----------------------------------------------------------------------------------


@dataclass
class Row(Totals):
    """One line of the report: its figures and what it is about. ``key`` is the campaign id,
    the day, the sender name or the user id; ``label`` the campaign's name, the sender name or
    the user's email (None: the account's default sender, a deleted user)."""

    key: Any = None
    label: str | None = None
    sender: str | None = None  # by campaign: the campaign's sender name
    author: str | None = None  # by campaign: who created it (None: a deleted user)

    def add(self, other: Totals) -> None:
        for column in SUMMED:
            setattr(self, column, getattr(self, column) + getattr(other, column))

    @property
    def estimated(self) -> str:
        """How much of the cost we estimated (the gateway gave none): "all", "partly", or ""
        when the gateway priced every part."""
        if not self.estimated_parts and not self.estimated_cost:
            return ""
        if self.estimated_parts == self.parts and self.estimated_cost == self.cost:
            return "all"
        return "partly"


@dataclass
class Report:
    """A period's rows by one grouping, their totals, and the prices per part used where the
    cost was estimated."""

    grouping: str
    period: Period
    rows: list[Row]
    total: Row
    estimate_prices: list[Decimal] = field(default_factory=list)


def spending(session: Session, team: Team, period: Period, grouping: str) -> Report:
    """The team's spending over ``period``, one row per campaign, day, sender name or user
    (``grouping``, one of GROUPINGS)."""
    build = {
        "campaign": _by_campaign,
        "day": _by_day,
        "sender": _by_sender,
        "user": _by_user,
    }[grouping]
    rows = build(session, team, period)
    total = Row()
    for row in rows:
        total.add(row)
    if grouping != "day":
        # Where the money went first; ties by name, so the order is stable.
        rows.sort(key=lambda r: (-r.cost, -r.messages, r.label is None, r.label or ""))
    prices = _estimate_prices(session, team, period) if total.estimated_parts else []
    return Report(grouping, period, rows, total, prices)


def _in_period(team: Team, period: Period) -> tuple[Any, ...]:
    return (
        UsagePeriod.team_id == team.id,
        UsagePeriod.period_start >= period.start,
        UsagePeriod.period_start < period.end,
    )


def _per_campaign(team: Team, period: Period) -> Any:
    """Each campaign's sums over the period (a subquery): the periods are summed first, then
    joined to their few campaigns."""
    return (
        select(UsagePeriod.campaign_id.label("campaign_id"), *sums())
        .where(*_in_period(team, period))
        .group_by(UsagePeriod.campaign_id)
        .subquery()
    )


def _resummed(per_campaign: Any) -> list[Any]:
    return [func.coalesce(func.sum(per_campaign.c[c]), 0).label(c) for c in SUMMED]


def _row(result: Any, **about: Any) -> Row:
    return Row(**vars(totals_of(result)), **about)


def _by_campaign(session: Session, team: Team, period: Period) -> list[Row]:
    per_campaign = _per_campaign(team, period)
    results = session.execute(
        select(per_campaign, Campaign.name, Campaign.sender, User.email)
        .join(Campaign, Campaign.id == per_campaign.c.campaign_id)
        .outerjoin(User, User.id == Campaign.created_by_id)
        .where(Campaign.team_id == team.id)
    )
    return [
        _row(r, key=r.campaign_id, label=r.name, sender=r.sender or None, author=r.email)
        for r in results
    ]


def _by_sender(session: Session, team: Team, period: Period) -> list[Row]:
    per_campaign = _per_campaign(team, period)
    sender = func.nullif(Campaign.sender, "")  # no name: the account's default sender
    results = session.execute(
        select(sender.label("sender"), *_resummed(per_campaign))
        .join(Campaign, Campaign.id == per_campaign.c.campaign_id)
        .where(Campaign.team_id == team.id)
        .group_by(sender)
    )
    return [_row(r, key=r.sender, label=r.sender) for r in results]


def _by_user(session: Session, team: Team, period: Period) -> list[Row]:
    """By the campaigns' creators: one who left the team still shows by email; campaigns of
    deleted users (``created_by_id`` set to NULL) are one row without a label."""
    per_campaign = _per_campaign(team, period)
    results = session.execute(
        select(Campaign.created_by_id, User.email, *_resummed(per_campaign))
        .join(Campaign, Campaign.id == per_campaign.c.campaign_id)
        .outerjoin(User, User.id == Campaign.created_by_id)
        .where(Campaign.team_id == team.id)
        .group_by(Campaign.created_by_id, User.email)
    )
    return [_row(r, key=r.created_by_id, label=r.email) for r in results]


def _by_day(session: Session, team: Team, period: Period) -> list[Row]:
    """Every day of the period, in the team's zone, zero when nothing was sent. Each quarter
    hour's local date is worked out in SQL (every zone's offset is a multiple of 15 minutes,
    so a quarter hour never straddles two local days), and summed by it there: a year is at
    most 366 rows to read, however many quarter hours were used."""
    dialect = session.get_bind().dialect.name
    local = (
        select(_local_date(team, period, dialect).label("day"), *_SUMMED_COLUMNS)
        .where(*_in_period(team, period))
        .subquery()
    )
    days = {day: Row(key=day) for day in period.days}
    results = session.execute(select(local.c.day, *_resummed(local)).group_by(local.c.day))
    for result in results:
        day = result.day if isinstance(result.day, date) else date.fromisoformat(result.day)
        days[day].add(totals_of(result))
    return list(days.values())


_SUMMED_COLUMNS = [getattr(UsagePeriod, c) for c in SUMMED]


def _local_date(team: Team, period: Period, dialect: str) -> Any:
    """SQL for the local date of ``period_start``: runs of days with one UTC offset shift it
    by that offset; a day when the clocks change is named outright."""
    runs = day_runs(team, period)
    branches = [_run_date(rule, dialect) for _end, rule in runs]
    if len(runs) == 1:
        return branches[0]
    whens = [
        (UsagePeriod.period_start < end, branch)
        for (end, _rule), branch in zip(runs[:-1], branches[:-1], strict=True)
    ]
    return case(*whens, else_=branches[-1])


def day_runs(team: Team, period: Period) -> list[tuple[datetime, int | date]]:
    """The period cut where the team's UTC offset changes: (UTC end, rule) for each run of
    days, where the rule is the offset in minutes over the run, or the date of a day during
    which the clocks changed (all of its quarter hours are that date)."""
    zone = team_zone(team)
    runs: list[tuple[datetime, int | date]] = []
    for day in period.days:
        start = local_to_utc(day, time(0), team)
        end = local_to_utc(day + timedelta(days=1), time(0), team)
        first = start.astimezone(zone).utcoffset()
        last = (end - timedelta(minutes=15)).astimezone(zone).utcoffset()
        assert first is not None and last is not None
        rule: int | date = int(first.total_seconds()) // 60 if first == last else day
        if runs and isinstance(rule, int) and runs[-1][1] == rule:
            runs[-1] = (end, rule)
        else:
            runs.append((end, rule))
    return runs


def _run_date(rule: int | date, dialect: str) -> Any:
    if isinstance(rule, date):
        return literal(rule.isoformat() if dialect == "sqlite" else rule)
    if dialect == "sqlite":  # timestamps are UTC text there
        return func.date(UsagePeriod.period_start, f"{rule:+d} minutes")
    shifted = UsagePeriod.period_start + literal(timedelta(minutes=rule), Interval())
    return cast(func.timezone("UTC", shifted), Date)


def _estimate_prices(session: Session, team: Team, period: Period) -> list[Decimal]:
    """The prices per part that the estimated figures used: each campaign keeps the team's
    price as it was when the campaign was sent."""
    prices = session.scalars(
        select(Campaign.price_per_part)
        .join(UsagePeriod, UsagePeriod.campaign_id == Campaign.id)
        .where(*_in_period(team, period), UsagePeriod.estimated_parts > 0)
        .distinct()
    ).all()
    return sorted(Decimal(str(p)) for p in prices)
