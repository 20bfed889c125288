"""The balance's history over a period: the points of the balance chart (thinned to a
resolution that keeps a range readable), the reading before the period, the types worth drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.domain.balance import worth_showing_type
from webapp.models import BalanceSnapshot
from webapp.periods import Period


@dataclass(frozen=True)
class Point:
    """One moment of the balance chart: when, and each type's balance then."""

    at: datetime
    balances: dict[str, Decimal]


# Chart resolutions, finest first: the finest that keeps a range under MAX_POINTS is used.
RESOLUTIONS = [timedelta(0), timedelta(hours=1), timedelta(hours=3), timedelta(hours=6)]
RESOLUTIONS += [timedelta(days=1), timedelta(days=7)]
MAX_POINTS = 200


def history(
    session: Session, team_id: int, start: datetime, end: datetime
) -> tuple[list[str], list[Point], timedelta]:
    """The balance between ``start`` and ``end``: the types seen, and one point per snapshot,
    or per hour, day... (the last snapshot in each) when there are too many to draw or read.
    Returns (types, points, resolution)."""
    rows = session.execute(
        select(BalanceSnapshot.taken_at, BalanceSnapshot.type, BalanceSnapshot.balance)
        .where(
            BalanceSnapshot.team_id == team_id,
            BalanceSnapshot.taken_at >= start,
            BalanceSnapshot.taken_at < end,
        )
        .order_by(BalanceSnapshot.taken_at, BalanceSnapshot.type)
    ).all()
    by_time: dict[datetime, dict[str, Decimal]] = {}
    types: list[str] = []
    for taken_at, type_, amount in rows:
        by_time.setdefault(taken_at, {})[type_] = amount
        if type_ not in types:
            types.append(type_)
    points = [Point(at, balances) for at, balances in by_time.items()]
    for resolution in RESOLUTIONS:
        thinned = _thin(points, start, resolution)
        if len(thinned) <= MAX_POINTS:
            return types, thinned, resolution
    return types, thinned, resolution


def reading_before(session: Session, team_id: int, start: datetime) -> Point | None:
    """The last snapshot taken before ``start``: the balance a chart of a period starting
    there begins with (a balance stays as read until the next reading)."""
    taken = session.scalar(
        select(func.max(BalanceSnapshot.taken_at)).where(
            BalanceSnapshot.team_id == team_id, BalanceSnapshot.taken_at < start
        )
    )
    if taken is None:
        return None
    rows = session.execute(
        select(BalanceSnapshot.type, BalanceSnapshot.balance).where(
            BalanceSnapshot.team_id == team_id, BalanceSnapshot.taken_at == taken
        )
    ).all()
    return Point(taken, {type_: amount for type_, amount in sorted(rows)})


@dataclass(frozen=True)
class History:
    """The balance over a period as the page draws and lists it: the types worth drawing, the
    points (oldest first), the reading before the period (the balance the chart starts with),
    and the resolution the points were thinned to."""

    period: Period
    types: list[str]
    points: list[Point]
    before: Point | None
    resolution: timedelta

    @property
    def last_moment(self) -> datetime:
        """The last instant of the period (its end is excluded)."""
        return self.period.end - timedelta(microseconds=1)


def history_over(session: Session, team_id: int, period: Period, shown_now: set[str]) -> History:
    """The balance over ``period``; a type is drawn when it is shown now (``shown_now``) or
    held something in the period (see :func:`worth_showing_type`)."""
    types, points, resolution = history(session, team_id, period.start, period.end)
    before = reading_before(session, team_id, period.start) if points else None
    drawn = [before, *points] if before else points
    types = [
        t
        for t in dict.fromkeys([*(before.balances if before else ()), *types])
        if t in shown_now or any(worth_showing_type(t, p.balances.get(t)) for p in drawn)
    ]
    return History(period, types, points, before, resolution)


def _thin(points: list[Point], start: datetime, step: timedelta) -> list[Point]:
    """The last point in each ``step`` after ``start`` (every point when step is zero)."""
    if not step:
        return points
    last: dict[int, Point] = {}
    for point in points:
        last[(point.at - start) // step] = point
    return list(last.values())
