"""The team's home page at a glance: what is left, how fast it goes, what is sending now, how
today and this month went, what failed last, and which sender names wait for approval.

Everything here reads counters and usage periods, never scans a campaign's messages: the
page stays fast at millions of messages, and it is polled while anything is sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from webapp import gateway_texts, periods
from webapp.domain import balance, balance_history, senders, usage
from webapp.models import (
    FAILURE_STATES,
    MOVING_STATES,
    BalanceSnapshot,
    Campaign,
    CampaignState,
    Message,
    MessageState,
    SenderName,
    Team,
    UsagePeriod,
)

S = CampaignState
ACTIVE_STATES = (S.SENDING, S.PAUSED, S.SCHEDULED)
FINAL_STATES = (S.FINISHED, S.CANCELLED)
RUNNING_LIMIT = 10
DELIVERING_FOR = timedelta(days=1)  # a finished campaign's late reports are followed this long
FAILURES_LIMIT = 10


@dataclass
class Failure:
    """A message that did not get through, and why, in words."""

    campaign_id: int
    campaign_name: str
    phone: str
    state: str
    reason: str
    at: datetime | None


@dataclass(frozen=True)
class Sparkline:
    """A balance type's last days as an SVG polyline: x is time from ``since`` (the window's
    start, or a young account's first reading) to now, y the balance between its lowest and
    highest."""

    type: str
    since: datetime
    points: str  # "x,y x,y ..." in a WIDTH x HEIGHT box
    first: Decimal
    last: Decimal
    low: Decimal
    high: Decimal
    width: int = 240
    height: int = 48


TREND_WINDOW = timedelta(days=7)


def sparkline(
    points: list[balance_history.Point], type_: str, start: datetime, end: datetime
) -> Sparkline | None:
    """The ``type_`` balance of ``points`` (from :func:`webapp.domain.balance_history.history`)
    between ``start`` (or the first reading, if later) and ``end`` as a sparkline; None with
    fewer than two readings."""
    readings = [(p.at, p.balances[type_]) for p in points if type_ in p.balances]
    if len(readings) < 2:
        return None
    width, height, pad = Sparkline.width, Sparkline.height, 2
    values = [v for _at, v in readings]
    low, high = min(values), max(values)
    start = max(start, readings[0][0])
    span = (end - start).total_seconds() or 1.0
    xy = []
    for at, value in readings:
        x = (at - start).total_seconds() / span * width
        y = pad + (height - 2 * pad) * (float((high - value) / (high - low)) if high > low else 0.5)
        xy.append(f"{x:.1f},{y:.1f}")
    return Sparkline(type_, start, " ".join(xy), values[0], values[-1], low, high)


@dataclass
class Overview:
    balances: list[BalanceSnapshot]  # the latest snapshot's entries worth showing
    pace: balance.Pace
    day_ago: dict[str, BalanceSnapshot]  # each type's balance 24 hours before (or first)
    day_ago_at: datetime  # 24 hours before now
    today: usage.Totals
    month: usage.Totals
    running: list[Campaign]
    failures: list[Failure]
    awaiting: list[SenderName]
    top_campaigns: list[TopCampaign] = field(default_factory=list)
    balance_due: bool = False  # a campaign finished after the last balance read
    trend: Sparkline | None = None

    @property
    def live(self) -> bool:
        """While a campaign is sending, paused or due, the page keeps itself up to date; and
        after one finishes, until the balance that follows it has been read."""
        return bool(self.running) or self.balance_due


def overview(session: Session, team: Team, now: datetime) -> Overview:
    """Everything the home page shows for ``team`` at ``now``: today and this month are the
    spending report's periods of those names."""
    today = periods.preset(team, now, "today")
    month = periods.preset(team, now, "this-month")
    balances = balance.latest(session, team.id)
    return Overview(
        balances=balance.worth_showing(balances),
        pace=balance.pace(session, team, now),
        day_ago=balance_before(session, team.id, now - timedelta(days=1)),
        day_ago_at=now - timedelta(days=1),
        today=usage.totals(session, team.id, today.start, today.end),
        month=usage.totals(session, team.id, month.start, month.end),
        running=running_campaigns(session, team.id, now),
        failures=last_failures(session, team.id),
        awaiting=awaiting_approval(session, team.id),
        top_campaigns=top_campaigns(session, team.id, month.start, month.end),
        trend=trend(session, team.id, balances, now),
        balance_due=finished_since(
            session, team.id, balances[0].taken_at if balances else None, now
        ),
    )


def trend(
    session: Session, team_id: int, balances: list[BalanceSnapshot], now: datetime
) -> Sparkline | None:
    """The last week of the first balance type shown (RUB, or what the account holds)."""
    shown = balance.worth_showing(balances)
    if not shown:
        return None
    start, end = now - TREND_WINDOW, now + timedelta(seconds=1)
    _types, points, _resolution = balance_history.history(session, team_id, start, end)
    return sparkline(points, shown[0].type, start, end)


BALANCE_WAIT = timedelta(hours=1)  # beyond this, a snapshot that keeps failing is not awaited


def finished_since(session: Session, team_id: int, last_read: datetime | None, now: datetime):
    """Whether a campaign finished after ``last_read`` (and within the last hour): its cost
    is not in the balance shown yet, and the worker reads the balance next."""
    after = max(last_read, now - BALANCE_WAIT) if last_read else now - BALANCE_WAIT
    return bool(
        session.scalar(
            select(Campaign.id)
            .where(Campaign.team_id == team_id, Campaign.finished_at > after)
            .limit(1)
        )
    )


def balance_before(session: Session, team_id: int, when: datetime) -> dict[str, BalanceSnapshot]:
    """Each type's balance in the last snapshot taken at or before ``when``; for an account
    younger than that, its first snapshot (the change is then "since" that reading)."""
    at_or_before = BalanceSnapshot.taken_at <= when
    taken = session.scalar(
        select(func.max(BalanceSnapshot.taken_at)).where(
            BalanceSnapshot.team_id == team_id, at_or_before
        )
    ) or session.scalar(
        select(func.min(BalanceSnapshot.taken_at)).where(BalanceSnapshot.team_id == team_id)
    )
    if taken is None:
        return {}
    rows = session.scalars(
        select(BalanceSnapshot).where(
            BalanceSnapshot.team_id == team_id, BalanceSnapshot.taken_at == taken
        )
    )
    return {row.type: row for row in rows}


def running_campaigns(session: Session, team_id: int, now: datetime) -> list[Campaign]:
    """Campaigns sending now, paused, or waiting for their time, and those finished in the
    last day whose messages are still on their way (their delivery rate still changes):
    sending first, then paused, due, still delivering."""
    order = {S.SENDING: 0, S.PAUSED: 1, S.SCHEDULED: 2, S.FINISHED: 3, S.CANCELLED: 3}
    delivering = and_(
        Campaign.state.in_(FINAL_STATES),
        Campaign.finished_at > now - DELIVERING_FOR,
        or_(*(getattr(Campaign, state) > 0 for state in MOVING_STATES)),
    )
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.team_id == team_id, or_(Campaign.state.in_(ACTIVE_STATES), delivering))
        .order_by(Campaign.id.desc())
        .limit(50)
    ).all()
    rows = sorted(
        rows, key=lambda c: (order[c.state_enum], (c.send_at or c.scheduled_at or c.created_at))
    )
    return rows[:RUNNING_LIMIT]


def last_failures(session: Session, team_id: int, limit: int = FAILURES_LIMIT) -> list[Failure]:
    """The latest messages that failed, were rejected or whose fate is unknown, with reasons.

    Read campaign by campaign through the (campaign, state, id) index, from the campaigns that
    changed last and have any: never a scan of the team's messages.
    """
    campaigns = session.execute(
        select(Campaign.id, Campaign.name)
        .where(
            Campaign.team_id == team_id,
            or_(Campaign.failed > 0, Campaign.rejected > 0, Campaign.unknown > 0),
        )
        .order_by(Campaign.updated_at.desc(), Campaign.id.desc())
        .limit(limit)
    ).all()
    found: list[Failure] = []
    for campaign_id, name in campaigns:
        rows = session.execute(
            select(
                Message.phone,
                Message.state,
                Message.gateway_status,
                func.coalesce(Message.final_at, Message.updated_at).label("at"),
            )
            .where(Message.campaign_id == campaign_id, Message.state.in_(FAILURE_STATES))
            .order_by(Message.id.desc())
            .limit(limit)
        ).all()
        found += [
            Failure(campaign_id, name, r.phone, r.state, reason(r.state, r.gateway_status), r.at)
            for r in rows
        ]
    found.sort(key=lambda f: f.at.timestamp() if f.at else 0.0, reverse=True)
    return found[:limit]


def reason(state: str, gateway_status: str) -> str:
    """Why a message did not get through, in words a person can act on (the gateway's own
    status beside its meaning, webapp/gateway_texts.py)."""
    detail = gateway_texts.status_text(gateway_status)
    if state == MessageState.UNKNOWN:
        if not detail:
            return _("no answer from the gateway: it may have been sent, so it was not retried")
        return _(
            "no answer from the gateway (%(detail)s): it may have been sent, so it was not retried",
            detail=detail,
        )
    return str(detail) or _("no reason given")


def awaiting_approval(session: Session, team_id: int) -> list[SenderName]:
    """Sender names the operators have not approved yet."""
    return list(
        session.scalars(
            select(SenderName)
            .where(
                SenderName.team_id == team_id,
                senders.awaiting(),
            )
            .order_by(SenderName.name)
        )
    )


@dataclass(frozen=True)
class TopCampaign:
    """A campaign that spent much in a period: its usage, and its share of all the period's
    spending (a percentage; None when nothing was spent)."""

    campaign: Campaign
    totals: usage.Totals
    share: float | None


def top_campaigns(
    session: Session, team_id: int, start: datetime, end: datetime, limit: int = 5
) -> list[TopCampaign]:
    """The campaigns that spent most between ``start`` and ``end``, with their usage and
    share of the period's spending. The share's whole is summed by the same statement (a
    window over the groups): a total read apart, a moment earlier, misses what a campaign
    sending now spent since, and its share could pass 100 %."""
    sums = usage.sums()
    cost = next(s for s in sums if s.name == "cost")
    whole = func.sum(cost).over().label("whole")
    rows = session.execute(
        select(UsagePeriod.campaign_id, *sums, whole)
        .where(
            UsagePeriod.team_id == team_id,
            UsagePeriod.period_start >= start,
            UsagePeriod.period_start < end,
        )
        .group_by(UsagePeriod.campaign_id)
        .order_by(cost.desc(), UsagePeriod.campaign_id.desc())
        .limit(limit)
    ).all()
    campaigns = {
        c.id: c
        for c in session.scalars(select(Campaign).where(Campaign.id.in_([r[0] for r in rows])))
    }
    top = []
    for row in rows:
        if row[0] in campaigns:
            totals, whole_cost = usage.totals_of(row), Decimal(str(row.whole or 0))
            share = float(100 * totals.cost / whole_cost) if whole_cost > 0 else None
            top.append(TopCampaign(campaigns[row[0]], totals, share))
    return top
