"""The dispatch tick: claim due queued messages, send them in calls of 200, store the results.

The order of each step is what makes sending safe (DESIGN.md):
- the claim (queued -> sending) is committed before the HTTP call, the results after it;
- a request that may have reached the gateway (timeout, reset, HTTP error, garbage) leaves its
  messages ``unknown``: never resent automatically; only a request that provably never left
  (refused connection, DNS) or that the gateway refused whole (an ``error`` reply) is requeued;
- a claim left ``sending`` by a worker that died mid-request becomes ``unknown`` too;
- wrong credentials or an empty balance pause the campaign with the reason, instead of
  rejecting thousands of messages one by one.
On PostgreSQL the claim skips rows other workers have locked, so workers share a campaign.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from flask import Flask, current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from webapp import gateways, iqsms
from webapp.audit import record
from webapp.counters import move, shift
from webapp.extensions import db
from webapp.models import Campaign, CampaignState, GatewayMode, Message, MessageState, Team, utcnow
from webapp.sms import count_parts

BATCH = iqsms.MAX_SEND
STALE_CLAIM = timedelta(minutes=2)  # far beyond the client's connect + read timeouts
MAX_FAILED_ATTEMPTS = 5  # consecutive failed calls before a campaign is paused
TICK_BUDGET = 10.0  # seconds one tick may keep sending

Clock = Callable[[], datetime]
ClientFactory = Callable[[Team], iqsms.Client]


@dataclass
class DispatchReport:
    """What one tick did, for logs and tests."""

    claimed: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    requeued: int = 0
    stale: int = 0
    started: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)


@dataclass
class Claimed:
    """A batch claimed for sending: (id, phone, text) rows, and what the call needs to know of
    their campaign and team, read before the claim's commit expires the ORM objects."""

    campaign_id: int
    team: Team
    sender: str | None
    wapurl: str | None
    flash: bool
    price_per_part: Decimal
    queue_name: str
    sandbox: bool
    rows: list[tuple[int, str, str]]


def dispatch_due_messages(
    session: Session,
    clock: Clock = utcnow,
    client_factory: ClientFactory = gateways.client_for,
    *,
    budget: float = TICK_BUDGET,
    batch_size: int = BATCH,
) -> DispatchReport:
    """One tick: start due campaigns, settle stale claims, send while there is work and time."""
    report = DispatchReport()
    report.started = start_due_campaigns(session, clock())
    report.stale = settle_stale_claims(session, clock())
    deadline = time.monotonic() + budget
    clients: dict[int, iqsms.Client] = {}
    while time.monotonic() < deadline:
        progressed = False
        for campaign_id in sending_campaign_ids(session, clock()):
            claimed = claim_batch(session, campaign_id, clock(), batch_size)
            if claimed is None:
                continue
            progressed = True
            report.claimed += len(claimed.rows)
            client = clients.get(claimed.team.id) or client_factory(claimed.team)
            clients[claimed.team.id] = client
            send_batch(session, claimed, client, clock, report)
            if time.monotonic() >= deadline:
                break
        report.finished += finish_done_campaigns(session, clock())
        if not progressed:
            break
    for client in clients.values():
        client.close()
    return report


def start_due_campaigns(session: Session, now: datetime) -> list[int]:
    """Scheduled campaigns whose time has come start sending."""
    due = session.scalars(
        select(Campaign.id).where(
            Campaign.state == CampaignState.SCHEDULED,
            (Campaign.send_at.is_(None)) | (Campaign.send_at <= now),
        )
    ).all()
    started = []
    for campaign_id in due:
        # Conditional, so a campaign edited or cancelled meanwhile is left alone.
        result = session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.state == CampaignState.SCHEDULED)
            .values(state=CampaignState.SENDING, started_at=now)
        )
        if result.rowcount:
            started.append(campaign_id)
    session.commit()
    return started


def settle_stale_claims(session: Session, now: datetime) -> int:
    """Messages a dead worker left ``sending`` may have reached the gateway: ``unknown``."""
    settled = 0
    for campaign_id in session.scalars(select(Campaign.id).where(Campaign.sending > 0)).all():
        result = session.execute(
            update(Message)
            .where(
                Message.campaign_id == campaign_id,
                Message.state == MessageState.SENDING,
                Message.claimed_at < now - STALE_CLAIM,
            )
            .values(
                state=MessageState.UNKNOWN,
                gateway_status="no reply: the worker stopped during the request",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        move(session, campaign_id, MessageState.SENDING, MessageState.UNKNOWN, result.rowcount)
        settled += result.rowcount
    session.commit()
    return settled


def sending_campaign_ids(session: Session, now: datetime) -> list[int]:
    """Campaigns with messages to send now, oldest first."""
    return session.scalars(
        select(Campaign.id)
        .where(
            Campaign.state == CampaignState.SENDING,
            Campaign.queued > 0,
            (Campaign.retry_at.is_(None)) | (Campaign.retry_at <= now),
        )
        .order_by(Campaign.started_at, Campaign.id)
    ).all()


def claim_batch(
    session: Session, campaign_id: int, now: datetime, batch_size: int = BATCH
) -> Claimed | None:
    """Mark up to ``batch_size`` queued messages ``sending`` and commit; None if none may go
    now (nothing queued, campaign no longer sending, or the team's send rate is used up)."""
    campaign = session.scalars(
        select(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state == CampaignState.SENDING)
        .with_for_update()
    ).first()
    if campaign is None:
        session.rollback()
        return None
    team = session.get(Team, campaign.team_id)
    wanted = take_allowance(session, team, batch_size, now)
    if wanted == 0:
        session.rollback()
        return None
    pending = (
        select(Message.id)
        .where(Message.campaign_id == campaign_id, Message.state == MessageState.QUEUED)
        .order_by(Message.id)
        .limit(wanted)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = session.execute(
        update(Message)
        .where(Message.id.in_(pending))
        .values(state=MessageState.SENDING, claimed_at=now, updated_at=now)
        .returning(Message.id, Message.phone, Message.text)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        session.rollback()
        return None
    give_back_allowance(team, wanted - len(rows))
    move(session, campaign_id, MessageState.QUEUED, MessageState.SENDING, len(rows))
    claimed = Claimed(
        campaign_id=campaign_id,
        team=team,
        sender=campaign.sender or None,
        wapurl=campaign.wapurl or None,
        flash=campaign.flash,
        price_per_part=campaign.price_per_part or Decimal(0),
        queue_name=team.status_queue_name,
        sandbox=team.gateway_mode == GatewayMode.SANDBOX,
        rows=sorted(tuple(r) for r in rows),
    )
    session.commit()
    return claimed


def take_allowance(session: Session, team: Team, wanted: int, now: datetime) -> int:
    """How many messages the team may send now under its send rate (a token bucket kept on
    the team row, so every worker shares it). 0 or less means no limit."""
    rate = team.send_rate or 0
    if rate <= 0:
        return wanted
    session.refresh(team, with_for_update=True)  # PostgreSQL: workers take turns on the bucket
    last = team.send_allowance_at
    capacity = float(max(rate, 1))
    if last is None:
        allowance = capacity
    else:
        allowance = min(capacity, team.send_allowance + (now - last).total_seconds() * rate)
    granted = max(0, min(wanted, int(allowance)))
    team.send_allowance = allowance - granted
    team.send_allowance_at = now
    session.flush()
    return granted


def give_back_allowance(team: Team, unused: int) -> None:
    if unused > 0 and team.send_rate:
        team.send_allowance += unused


def send_batch(
    session: Session,
    claimed: Claimed,
    client: iqsms.Client,
    clock: Clock,
    report: DispatchReport,
) -> None:
    """One send.json call for a claimed batch, and its outcome stored."""
    campaign_id = claimed.campaign_id
    messages = [
        iqsms.OutgoingMessage(
            client_id=str(message_id),
            phone=phone,
            text=text,
            sender=claimed.sender,
            wapurl=claimed.wapurl,
            flash=claimed.flash,
        )
        for message_id, phone, text in claimed.rows
    ]
    ids = [row[0] for row in claimed.rows]
    try:
        result = client.send(
            messages, status_queue_name=claimed.queue_name, show_billing_details=True
        )
    except iqsms.AuthorizationError as exc:
        requeue(session, campaign_id, ids, clock())
        report.requeued += len(ids)
        if claimed.sandbox and gateways.provision_sandbox_account(claimed.team):
            session.commit()  # the sandbox had lost the account; it is back, try again
            return
        pause(session, campaign_id, gateways.explain(exc, client.base_url), report)
        return
    except iqsms.GatewayError as exc:
        # An error reply processed nothing: the batch is safe to send again, later.
        requeue(session, campaign_id, ids, clock())
        report.requeued += len(ids)
        back_off(session, campaign_id, clock(), gateways.explain(exc, client.base_url), report)
        return
    except iqsms.NotSentError as exc:
        requeue(session, campaign_id, ids, clock())
        report.requeued += len(ids)
        back_off(session, campaign_id, clock(), gateways.explain(exc, client.base_url), report)
        return
    except iqsms.TransportError as exc:
        mark_unknown(session, campaign_id, ids, clock(), str(exc)[:64])
        report.unknown += len(ids)
        back_off(session, campaign_id, clock(), gateways.explain(exc, client.base_url), report)
        return
    store_results(session, claimed, result, clock(), report)


def store_results(
    session: Session,
    claimed: Claimed,
    result: iqsms.SendResult,
    now: datetime,
    report: DispatchReport,
) -> None:
    """Every message's send-time status, in bulk; an empty balance pauses the campaign."""
    campaign_id = claimed.campaign_id
    by_client_id = result.by_client_id()
    price = claimed.price_per_part
    accepted, rejected, no_balance, missing = [], [], [], []
    parts_total, cost_total = 0, Decimal(0)
    for message_id, _phone, text in claimed.rows:
        status = by_client_id.get(str(message_id))
        if status is None:
            # The gateway answered without this message: it may or may not have taken it.
            missing.append(message_id)
        elif status.accepted:
            parts = status.sms_count if status.sms_count is not None else count_parts(text)
            estimated = status.cost is None
            cost = price * parts if estimated else status.cost
            parts_total += parts
            cost_total += cost
            accepted.append(
                {
                    "b_id": message_id,
                    "b_smsc": status.smsc_id,
                    "b_parts": parts,
                    "b_cost": cost,
                    "b_est": estimated,
                    "b_status": status.status,
                }
            )
        elif status.status == iqsms.Status.NOT_ENOUGH_BALANCE:
            no_balance.append(message_id)
        else:
            rejected.append({"b_id": message_id, "b_status": status.status[:64]})
    table = Message.__table__
    if accepted:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.state == MessageState.SENDING)
            .values(
                state=MessageState.ACCEPTED,
                smsc_id=bindparam("b_smsc"),
                parts=bindparam("b_parts"),
                cost=bindparam("b_cost"),
                cost_estimated=bindparam("b_est"),
                gateway_status=bindparam("b_status"),
                sent_at=now,
                updated_at=now,
            ),
            accepted,
        )
    if rejected:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.state == MessageState.SENDING)
            .values(
                state=MessageState.REJECTED,
                gateway_status=bindparam("b_status"),
                sent_at=now,
                final_at=now,
                updated_at=now,
            ),
            rejected,
        )
    shift(
        session,
        campaign_id,
        {
            MessageState.SENDING: -(len(accepted) + len(rejected)),
            MessageState.ACCEPTED: len(accepted),
            MessageState.REJECTED: len(rejected),
        },
    )
    if parts_total or cost_total:
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(parts=Campaign.parts + parts_total, cost=Campaign.cost + cost_total)
        )
    if missing:
        mark_unknown(session, campaign_id, missing, now, "no status in the gateway's reply")
    report.accepted += len(accepted)
    report.rejected += len(rejected)
    report.unknown += len(missing)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.failed_attempts > 0)
        .values(failed_attempts=0, retry_at=None)
    )
    if no_balance:
        requeue(session, campaign_id, no_balance, now)
        report.requeued += len(no_balance)
        pause(
            session,
            campaign_id,
            "The gateway says the balance is too low for the remaining messages. "
            "Top up the account, then resume the campaign.",
            report,
        )
        return
    session.commit()


def requeue(session: Session, campaign_id: int, ids: list[int], now: datetime) -> None:
    """Back to ``queued``: only for requests that provably did not send these messages."""
    result = session.execute(
        update(Message)
        .where(Message.id.in_(ids), Message.state == MessageState.SENDING)
        .values(state=MessageState.QUEUED, claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    move(session, campaign_id, MessageState.SENDING, MessageState.QUEUED, result.rowcount)


def mark_unknown(
    session: Session, campaign_id: int, ids: list[int], now: datetime, why: str
) -> None:
    """The request may have reached the gateway: never resend these automatically."""
    result = session.execute(
        update(Message)
        .where(Message.id.in_(ids), Message.state == MessageState.SENDING)
        .values(state=MessageState.UNKNOWN, gateway_status=why[:64], updated_at=now)
        .execution_options(synchronize_session=False)
    )
    move(session, campaign_id, MessageState.SENDING, MessageState.UNKNOWN, result.rowcount)
    session.commit()


def pause(session: Session, campaign_id: int, reason: str, report: DispatchReport) -> None:
    """Stop claiming this campaign's messages until a person resumes it."""
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state == CampaignState.SENDING)
        .values(state=CampaignState.PAUSED, pause_reason=reason[:500])
    )
    if result.rowcount:
        team_id = session.scalar(select(Campaign.team_id).where(Campaign.id == campaign_id))
        record(team_id, "campaign_paused", None, campaign=campaign_id, reason=reason, by="worker")
        report.paused.append(campaign_id)
    session.commit()


def back_off(
    session: Session, campaign_id: int, now: datetime, reason: str, report: DispatchReport
) -> None:
    """Wait before the next call (5 s, doubling); after several failures in a row, pause."""
    attempts = session.scalar(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(failed_attempts=Campaign.failed_attempts + 1)
        .returning(Campaign.failed_attempts)
    )
    if attempts >= MAX_FAILED_ATTEMPTS:
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(failed_attempts=0, retry_at=None)
        )
        pause(session, campaign_id, f"{reason} (failed {attempts} times in a row)", report)
        return
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(retry_at=now + timedelta(seconds=5 * 2 ** (attempts - 1)))
    )
    current_app.logger.warning("campaign %s: %s; retrying later", campaign_id, reason)
    session.commit()


def finish_done_campaigns(session: Session, now: datetime) -> list[int]:
    """A sending campaign with nothing queued or in flight is finished."""
    done = session.scalars(
        select(Campaign.id).where(
            Campaign.state == CampaignState.SENDING, Campaign.queued == 0, Campaign.sending == 0
        )
    ).all()
    finished = []
    for campaign_id in done:
        result = session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.state == CampaignState.SENDING,
                Campaign.queued == 0,
                Campaign.sending == 0,
            )
            .values(state=CampaignState.FINISHED, finished_at=now)
        )
        if result.rowcount:
            finished.append(campaign_id)
    session.commit()
    return finished


def run(app: Flask) -> None:
    """The worker's entry point."""
    report = dispatch_due_messages(db.session)
    if report.claimed or report.stale or report.started or report.finished:
        app.logger.info("dispatch: %s", report)
