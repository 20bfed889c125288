"""Balance snapshots: reading balance.json into ``balance_snapshots``, when it is due, the
low-balance warning, the balance's history and how fast it goes.

A team's snapshot is due every ``interval`` (the setting ``BALANCE_INTERVAL``, which callers
read), and at once after one of its campaigns finishes (so a campaign's spending shows in the
balance right away). A failed read is retried sooner, waiting twice as long each time, but
never longer than the interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import audit, gateways, usage
from webapp.formatting import plain_money
from webapp.models import BalanceSnapshot, Campaign, Team, UsagePeriod, User
from webapp.periods import Period

FIRST_RETRY = timedelta(minutes=1)
CLAIM_TTL = timedelta(minutes=2)  # a worker that died mid-read is replaced after this

ClientFactory = Callable[[Team], iqsms.Client]


def _due(now: datetime):
    finished_since = exists().where(
        Campaign.team_id == Team.id,
        Campaign.finished_at > Team.balance_checked_at,
    )
    return or_(
        Team.balance_next_at.is_(None),
        Team.balance_next_at <= now,
        and_(Team.balance_failures == 0, finished_since),
    )


def due_team_ids(session: Session, now: datetime) -> list[int]:
    """Teams whose snapshot is due: by the clock, or because a campaign finished since."""
    return list(session.scalars(select(Team.id).where(_due(now)).order_by(Team.id)))


def claim(session: Session, team_id: int, now: datetime) -> bool:
    """Take the team's due snapshot for this worker (committed), or False if another worker
    took it first or it is no longer due."""
    result = session.execute(
        update(Team.__table__)
        .where(Team.id == team_id, _due(now))
        .values(balance_checked_at=now, balance_next_at=now + CLAIM_TTL)
    )
    session.commit()
    return bool(result.rowcount)


@dataclass
class Outcome:
    ok: bool
    message: str = ""
    entries: list[BalanceSnapshot] | None = None


def take_snapshot(
    session: Session,
    team: Team,
    client: iqsms.Client,
    now: datetime,
    interval: timedelta,
) -> Outcome:
    """Read balance.json and store every entry; on failure, note it and plan the retry.
    Either way the low-balance warning is brought up to date. Commits."""
    return record_reading(session, team, gateways.check_connection(client), now, interval)


def record_reading(
    session: Session,
    team: Team,
    check: gateways.ConnectionCheck,
    now: datetime,
    interval: timedelta,
) -> Outcome:
    """Store what a balance.json call found (:func:`take_snapshot`, or a call made with no
    database connection held, webapp/domain/gateway_calls.py). Commits."""
    if not check.ok:
        team.balance_failures += 1
        team.balance_error = check.message[:500]
        wait = min(FIRST_RETRY * 2 ** (team.balance_failures - 1), interval)
        team.balance_next_at = now + wait
        session.commit()
        return Outcome(False, check.message)
    entries = [
        BalanceSnapshot(
            team_id=team.id, taken_at=now, type=b.type[:16], balance=b.balance, credit=b.credit
        )
        for b in check.balances
    ]
    session.add_all(entries)
    team.balance_failures = 0
    team.balance_error = ""
    team.balance_next_at = now + interval
    update_warning(session, team, entries, now)
    session.commit()
    return Outcome(True, entries=entries)


def latest(session: Session, team_id: int) -> list[BalanceSnapshot]:
    """Every entry of the team's most recent snapshot (empty before the first)."""
    newest = (
        select(func.max(BalanceSnapshot.taken_at))
        .where(BalanceSnapshot.team_id == team_id)
        .scalar_subquery()
    )
    return list(
        session.scalars(
            select(BalanceSnapshot)
            .where(BalanceSnapshot.team_id == team_id, BalanceSnapshot.taken_at == newest)
            .order_by(BalanceSnapshot.type)
        )
    )


def worth_showing_type(type_: str, *amounts: Decimal | None) -> bool:
    """Whether a balance type holding ``amounts`` is worth a card or a chart: every account
    reports RUB and SMS, and the one it is not billed in stays at zero forever."""
    return type_ == "RUB" or any(amounts)


def worth_showing(entries: list[BalanceSnapshot]) -> list[BalanceSnapshot]:
    """The entries of a snapshot worth showing (see :func:`worth_showing_type`)."""
    return [e for e in entries if worth_showing_type(e.type, e.balance, e.credit)]


def types_worth_showing(session: Session, team_id: int) -> list[str]:
    """The balance types the team's page shows at some time: RUB, and every type that held
    something in any snapshot (see :func:`worth_showing_type`), RUB first."""
    extremes = session.execute(
        select(
            BalanceSnapshot.type,
            func.min(BalanceSnapshot.balance),
            func.max(BalanceSnapshot.balance),
            func.min(BalanceSnapshot.credit),
            func.max(BalanceSnapshot.credit),
        )
        .where(BalanceSnapshot.team_id == team_id)
        .group_by(BalanceSnapshot.type)
    ).all()
    found = {type_ for type_, *amounts in extremes if worth_showing_type(type_, *amounts)}
    return sorted(found | {"RUB"}, key=lambda t: (t != "RUB", t))


def is_low(team: Team, entries: list[BalanceSnapshot]) -> BalanceSnapshot | None:
    """The entry below the team's threshold, if there is one."""
    if team.low_balance_threshold is None:
        return None
    for entry in entries:
        if entry.type == team.low_balance_type and entry.balance < team.low_balance_threshold:
            return entry
    return None


def set_warning(
    session: Session,
    team: Team,
    threshold: Decimal | None,
    type_: str,
    user: User | None,
    now: datetime,
) -> None:
    """Warn while ``type_`` is below ``threshold`` (None: never), noted in the audit log when
    it changes; the latest reading is checked against it at once, so the banner appears or
    goes on the very next page. Commits."""
    before = (team.low_balance_threshold, team.low_balance_type)
    team.low_balance_threshold, team.low_balance_type = threshold, type_
    if (threshold, type_) != before:
        details = {"threshold": plain_money(threshold), "type": type_}
        audit.record(session, team.id, "balance_warning_changed", user, **details)
    if type_ != before[1]:
        # A warning raised on the old type says nothing of the new one: checked afresh, so a
        # new type that is low gets its own "balance_low" entry and its own "since".
        team.low_balance_since = None
    update_warning(session, team, latest(session, team.id), now)
    session.commit()


def update_warning(
    session: Session, team: Team, entries: list[BalanceSnapshot], now: datetime
) -> None:
    """Raise or clear the team's low-balance warning from a snapshot; crossing the threshold
    either way is written to the audit log. The caller commits."""
    if not entries:
        return
    low = is_low(team, entries)
    if low is not None and team.low_balance_since is None:
        team.low_balance_since = now
        audit.record(
            session,
            team.id,
            "balance_low",
            type=low.type,
            balance=plain_money(low.balance),
            threshold=plain_money(team.low_balance_threshold),
        )
    elif low is None and team.low_balance_since is not None:
        team.low_balance_since = None
        if team.low_balance_threshold is None:
            return  # the warning was turned off: that change is the audit log's entry
        entry = next((e for e in entries if e.type == team.low_balance_type), None)
        details = {"type": team.low_balance_type}
        if entry is not None:
            details["balance"] = plain_money(entry.balance)
        details["threshold"] = plain_money(team.low_balance_threshold)
        audit.record(session, team.id, "balance_restored", **details)


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


# -- how long the money lasts ------------------------------------------------------------------

PACE_WINDOW = timedelta(days=7)
# A younger account's spending is spread over one day at least: 371 RUB spent in its first
# quarter hour is not 35,000 RUB a day.
PACE_SHORTEST = timedelta(days=1)


@dataclass(frozen=True)
class Pace:
    """Spending per day over the last ``window`` and how long the available balance lasts.

    ``type`` is the balance it is measured against: "RUB" (cost per day) for accounts billed
    in money, "SMS" (parts per day) for accounts billed in messages. ``available`` is None
    before the first snapshot; ``days_left`` is None when nothing was spent in the window
    (no pace to extrapolate) or no balance is known. ``since`` is when the team's history
    starts when that is within the window (the pace is then over the time since), else None.
    """

    type: str
    per_day: Decimal
    spent: Decimal
    available: Decimal | None
    days_left: int | None
    window: timedelta = PACE_WINDOW
    since: datetime | None = None

    @property
    def window_days(self) -> int:
        return self.window.days


def history_start(session: Session, team_id: int) -> datetime | None:
    """When the team's history begins: its first balance snapshot or its first quarter hour
    of sending, whichever is earlier (None before either)."""
    first_snapshot = session.scalar(
        select(func.min(BalanceSnapshot.taken_at)).where(BalanceSnapshot.team_id == team_id)
    )
    first_usage = session.scalar(
        select(func.min(UsagePeriod.period_start)).where(UsagePeriod.team_id == team_id)
    )
    known = [t for t in (first_snapshot, first_usage) if t is not None]
    return min(known) if known else None


def pace(session: Session, team: Team, now: datetime, window: timedelta = PACE_WINDOW) -> Pace:
    """How fast the team's balance goes and how long it lasts at that pace.

    The pace is the cost (RUB) or the parts (SMS-billed accounts) of the messages sent in
    the last ``window`` (whole quarter hours, the current one included, from
    ``webapp.domain.usage.totals``) divided by the days that covers: the whole window, or the time
    since the team's history starts (:func:`history_start`) when that is shorter, but one day
    at least. The days left are the latest snapshot's available balance (balance plus
    credit) divided by that, rounded down (0 when nothing is available). An account is
    taken as billed in SMS when its RUB entry holds nothing available and its SMS entry does.
    """
    by_type = {entry.type: entry for entry in latest(session, team.id)}
    rub, sms = by_type.get("RUB"), by_type.get("SMS")
    billed_in_sms = (rub is None or rub.available <= 0) and sms is not None and sms.available > 0
    end = usage.period_start(now) + usage.PERIOD
    used = usage.totals(session, team.id, end - window, end)
    kind = "SMS" if billed_in_sms else "RUB"
    spent = Decimal(used.parts) if billed_in_sms else used.cost
    entry = sms if billed_in_sms else rub
    since = history_start(session, team.id)
    if since is not None and now - since < window:
        covered = min(window, max(now - since, PACE_SHORTEST))
    else:
        since, covered = None, window
    days = Decimal(covered.total_seconds()) / 86400
    per_day = spent / days if days else Decimal(0)
    available = entry.available if entry is not None else None
    days_left = None
    if available is not None and available <= 0:
        days_left = 0
    elif available is not None and per_day > 0:
        days_left = int(available // per_day)
    return Pace(kind, per_day.quantize(Decimal("0.01")), spent, available, days_left, window, since)
