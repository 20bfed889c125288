"""Sending: claim due queued messages, send them in calls of 200 (:mod:`send_calls`), store the
results, start and finish campaigns.

The order of each step is what makes sending safe (docs/architecture.md, "Sending safety"):
- the claim (queued -> sending) is committed before the HTTP call, the results after it;
- a claim left ``sending`` by a worker that died mid-request becomes ``unknown``: it may have
  reached the gateway (a tick of its own, so that a loop stuck on a call never delays it);
- a team's send rate is a token bucket on its row, shared by every worker.
On PostgreSQL the claim skips rows other workers have locked, so workers share a campaign.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp import gateway_texts, iqsms, texts
from webapp.domain import campaigns
from webapp.domain.counters import move
from webapp.domain.send_calls import Claimed, DispatchReport, Sending, send_batch
from webapp.domain.statuses import Checks
from webapp.models import Campaign, CampaignState, GatewayMode, Message, MessageState, Team, utcnow

BATCH = iqsms.MAX_SEND
STALE_CLAIM = timedelta(minutes=2)  # far beyond a call's total deadline (GATEWAY_DEADLINE)
TICK_BUDGET = 10.0  # seconds one tick may keep sending
SLICE = 25  # batches of one campaign before the next campaign's turn

Clock = Callable[[], datetime]
ClientFactory = Callable[[Team], iqsms.Client]


def dispatch_due_messages(
    session: Session,
    clock: Clock = utcnow,
    *,
    client_factory: ClientFactory,
    checks: Checks,
    budget: float | None = None,
    batch_size: int = BATCH,
    team_id: int | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> DispatchReport:
    """One sending loop: start due campaigns, send while there is work and time (``budget``
    seconds, default ``TICK_BUDGET``) and ``keep_going()`` says so (asked before each claim),
    finish what is done. ``team_id`` keeps the loop to one team's campaigns (the worker's
    fairness: webapp/jobs/team_pool.py). Stale claims are settled by a tick of their own
    (:func:`settle_stale_claims`), so a loop stuck on a gateway call cannot hold them up."""
    report = DispatchReport()
    report.started = campaigns.start_due(session, clock())
    deadline = time.monotonic() + (TICK_BUDGET if budget is None else budget)
    clients: dict[int, iqsms.Client] = {}
    campaigns_read: dict[int, Sending | None] = {}
    while time.monotonic() < deadline and keep_going():
        progressed = False
        for campaign_id in sending_campaign_ids(session, clock(), team_id):
            if campaign_id not in campaigns_read:
                campaigns_read[campaign_id] = load_sending(session, campaign_id)
            sending = campaigns_read[campaign_id]
            # A slice of batches per campaign, then the next one: big campaigns do not starve
            # small ones, and the list of campaigns is not re-read for every batch.
            for _ in range(SLICE):
                claimed = (
                    sending and keep_going() and claim_batch(session, sending, clock(), batch_size)
                )
                if not claimed:
                    break
                progressed = True
                report.claimed += len(claimed.rows)
                if sending.team_id not in clients:
                    team = session.get(Team, sending.team_id)
                    clients[sending.team_id] = client_factory(team)
                client = clients[sending.team_id]
                if not send_batch(session, claimed, client, clock, report, checks.first):
                    break  # paused or backing off: the campaign waits its turn
                if time.monotonic() >= deadline:
                    break
            if time.monotonic() >= deadline:
                break
        report.finished += campaigns.finish_done(session, clock())
        if not progressed:
            break
    for client in clients.values():
        client.close()
    return report


def settle_stale_claims(
    session: Session, now: datetime, older_than: timedelta = STALE_CLAIM
) -> int:
    """Messages a dead worker left ``sending`` more than ``older_than`` ago may have reached
    the gateway: ``unknown``. The worker's "stale-claims" tick runs this on its own
    (webapp/jobs/dispatch.py)."""
    settled = 0
    for campaign_id in session.scalars(select(Campaign.id).where(Campaign.sending > 0)).all():
        result = session.execute(
            update(Message.__table__)
            .where(
                Message.campaign_id == campaign_id,
                Message.state == MessageState.SENDING,
                Message.claimed_at < now - older_than,
            )
            .values(
                state=MessageState.UNKNOWN,
                gateway_status=texts.stored(gateway_texts.WORKER_STOPPED),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        move(session, campaign_id, MessageState.SENDING, MessageState.UNKNOWN, result.rowcount)
        settled += result.rowcount
    session.commit()
    return settled


def _sendable_now(now: datetime) -> tuple:
    """What makes a campaign's messages sendable now: sending, some queued, not backing off."""
    return (
        Campaign.state == CampaignState.SENDING,
        Campaign.queued > 0,
        (Campaign.retry_at.is_(None)) | (Campaign.retry_at <= now),
    )


def sending_campaign_ids(session: Session, now: datetime, team_id: int | None = None) -> list[int]:
    """Campaigns with messages to send now (of one team, or of all), oldest first."""
    query = select(Campaign.id).where(*_sendable_now(now))
    if team_id is not None:
        query = query.where(Campaign.team_id == team_id)
    return session.scalars(query.order_by(Campaign.started_at, Campaign.id)).all()


def teams_with_work(session: Session, now: datetime) -> list[tuple[int, bool]]:
    """(team id, whether its gateway is not answering) of every team with messages to send
    now, the team of the oldest sending campaign first. Commits (ends the read)."""
    oldest = func.min(Campaign.started_at)
    rows = session.execute(
        select(Campaign.team_id, Team.gateway_silent_since.isnot(None))
        .join(Team, Team.id == Campaign.team_id)
        .where(*_sendable_now(now))
        .group_by(Campaign.team_id, Team.gateway_silent_since)
        .order_by(oldest, Campaign.team_id)
    ).all()
    session.commit()
    return [(team_id, bool(silent)) for team_id, silent in rows]


def load_sending(session: Session, campaign_id: int) -> Sending | None:
    row = session.execute(
        select(
            Campaign.id,
            Campaign.team_id,
            Campaign.sender,
            Campaign.wapurl,
            Campaign.flash,
            Campaign.price_per_part,
            Team.status_queue_name,
            Team.gateway_mode,
            Team.send_rate,
        )
        .join(Team, Team.id == Campaign.team_id)
        .where(Campaign.id == campaign_id)
    ).first()
    session.commit()
    if row is None:
        return None
    return Sending(
        campaign_id=row.id,
        team_id=row.team_id,
        sender=row.sender or None,
        wapurl=row.wapurl or None,
        flash=row.flash,
        price_per_part=row.price_per_part or Decimal(0),
        queue_name=row.status_queue_name,
        sandbox=row.gateway_mode == GatewayMode.SANDBOX,
        send_rate=row.send_rate or 0,
    )


def claim_batch(
    session: Session, sending: Sending, now: datetime, batch_size: int = BATCH
) -> Claimed | None:
    """Mark up to ``batch_size`` queued messages ``sending`` and commit; None if none may go
    now (nothing queued, the campaign no longer sending, or the team's send rate used up)."""
    wanted = batch_size
    if sending.send_rate > 0:
        wanted = take_allowance(session, sending.team_id, sending.send_rate, batch_size, now)
        if wanted == 0:
            session.rollback()
            return None
    still_sending = (
        select(Campaign.id)
        .where(Campaign.id == sending.campaign_id, Campaign.state == CampaignState.SENDING)
        .exists()
    )
    pending = (
        select(Message.id)
        .where(
            Message.campaign_id == sending.campaign_id,
            Message.state == MessageState.QUEUED,
            still_sending,
        )
        .order_by(Message.id)
        .limit(wanted)
        .with_for_update(skip_locked=True, of=Message)
        .scalar_subquery()
    )
    rows = session.execute(
        update(Message.__table__)
        .where(Message.id.in_(pending))
        .values(state=MessageState.SENDING, claimed_at=now, updated_at=now)
        .returning(Message.id, Message.phone, Message.text)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        session.rollback()
        return None
    if sending.send_rate > 0 and len(rows) < wanted:
        session.execute(
            update(Team.__table__)
            .where(Team.id == sending.team_id)
            .values(send_allowance=Team.send_allowance + (wanted - len(rows)))
        )
    move(session, sending.campaign_id, MessageState.QUEUED, MessageState.SENDING, len(rows))
    session.commit()
    return Claimed(sending, sorted(tuple(r) for r in rows))


def take_allowance(session: Session, team_id: int, rate: int, wanted: int, now: datetime) -> int:
    """How many messages the team may send now under its send rate: a token bucket of one
    second's worth, kept on the team row (locked on PostgreSQL) so every worker shares it."""
    allowance, last = session.execute(
        select(Team.send_allowance, Team.send_allowance_at)
        .where(Team.id == team_id)
        # FOR NO KEY UPDATE: FOR UPDATE would also block the foreign-key checks of rows that
        # name the team (usage periods written by another loop's results while it holds its
        # campaign's row): a deadlock with this loop's claim waiting for that campaign row.
        .with_for_update(key_share=True)
    ).one()
    capacity = float(max(rate, 1))
    if last is None:
        allowance = capacity
    else:
        allowance = min(capacity, allowance + (now - last).total_seconds() * rate)
    granted = max(0, min(wanted, int(allowance)))
    session.execute(
        update(Team.__table__)
        .where(Team.id == team_id)
        .values(send_allowance=allowance - granted, send_allowance_at=now)
    )
    return granted
