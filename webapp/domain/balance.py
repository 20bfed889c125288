"""Balance snapshots: reading balance.json into ``balance_snapshots``, when it is due, the
low-balance warning, and how fast the balance goes (its history over a period is
:mod:`webapp.domain.balance_history`).

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
from sqlalchemy.orm.attributes import set_committed_value

from webapp import iqsms, texts
from webapp.domain import audit, gateways, leases, notifications, usage
from webapp.formatting import plain_money
from webapp.models import BalanceSnapshot, Campaign, NotificationKind, Team, UsagePeriod, User

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
    values = {"balance_checked_at": now, "balance_next_at": now + CLAIM_TTL}
    return leases.claim_team(session, team_id, _due(now), **values)


def ask_soon(session: Session, team_id: int, now: datetime, fresh: timedelta) -> bool:
    """Make the team's snapshot due now if its last reading, or attempt, is older than
    ``fresh``: the worker's balance tick takes it within seconds, and the page that asked
    calls no gateway. However often pages ask, a team is read at most once per ``fresh``
    this way. Whether it asked; the caller commits."""
    result = session.execute(
        update(Team.__table__)
        .where(
            Team.id == team_id,
            or_(Team.balance_checked_at.is_(None), Team.balance_checked_at <= now - fresh),
            or_(Team.balance_next_at.is_(None), Team.balance_next_at > now),
        )
        .values(balance_next_at=now)
    )
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
        team.balance_error = texts.stored(check.reason, 500)  # shown in each reader's language
        team.balance_next_at = now + leases.backoff(FIRST_RETRY, team.balance_failures, interval)
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
        if not _raise_warning(session, team, now):
            return  # another reading raised it a moment ago: that one recorded and told it
        event = audit.record(
            session,
            team.id,
            "balance_low",
            type=low.type,
            balance=plain_money(low.balance),
            threshold=plain_money(team.low_balance_threshold),
        )
        notifications.notify(session, event, NotificationKind.BALANCE_LOW)
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


def _raise_warning(session: Session, team: Team, now: datetime) -> bool:
    """Mark the team low since ``now`` unless another reading did meanwhile (the worker's and
    a person's at once): a conditional UPDATE, so one crossing is recorded and told once."""
    raised = session.execute(
        update(Team)
        .where(Team.id == team.id, Team.low_balance_since.is_(None))
        .values(low_balance_since=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    since = (
        now if raised else session.scalar(select(Team.low_balance_since).where(Team.id == team.id))
    )
    set_committed_value(team, "low_balance_since", since)
    return bool(raised)


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

    @property
    def nothing_left(self) -> bool:
        """Nothing is available to spend (``days_left`` 0 otherwise means less than a day)."""
        return self.available is not None and self.available <= 0


def billed_in(entries: list[BalanceSnapshot]) -> tuple[str, BalanceSnapshot | None]:
    """What an account is billed in, with its entry of that type in a snapshot: "SMS" (parts)
    when its RUB entry holds nothing available and its SMS entry does, else "RUB" (money).
    The pace and the funds before sending (webapp/domain/funds.py) measure against it."""
    by_type = {entry.type: entry for entry in entries}
    rub, sms = by_type.get("RUB"), by_type.get("SMS")
    if (rub is None or rub.available <= 0) and sms is not None and sms.available > 0:
        return "SMS", sms
    return "RUB", rub


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
    credit) divided by that, rounded down: 0 when less than a day's spending is left, and
    when nothing is (:attr:`Pace.nothing_left` tells them apart). What the account is billed
    in is :func:`billed_in`'s rule.
    """
    kind, entry = billed_in(latest(session, team.id))
    billed_in_sms = kind == "SMS"
    end = usage.period_start(now) + usage.PERIOD
    used = usage.totals(session, team.id, end - window, end)
    spent = Decimal(used.parts) if billed_in_sms else used.cost
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
