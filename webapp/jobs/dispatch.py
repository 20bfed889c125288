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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import gateways, usage
from webapp.domain.audit import record
from webapp.domain.counters import move
from webapp.extensions import db
from webapp.jobs import statuses
from webapp.models import (
    Campaign,
    CampaignState,
    GatewayMode,
    Message,
    MessageState,
    Team,
    utcnow,
)
from webapp.sms import count_parts

BATCH = iqsms.MAX_SEND
STALE_CLAIM = timedelta(minutes=2)  # far beyond the client's connect + read timeouts
MAX_FAILED_ATTEMPTS = 5  # consecutive failed calls before a campaign is paused
TICK_BUDGET = 10.0  # seconds one tick may keep sending
SLICE = 25  # batches of one campaign before the next campaign's turn

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


@dataclass(frozen=True)
class Sending:
    """What a send.json call needs of a sending campaign and its team, read once per tick
    (a campaign's text, sender and options no longer change once it is committed)."""

    campaign_id: int
    team_id: int
    sender: str | None
    wapurl: str | None
    flash: bool
    price_per_part: Decimal
    queue_name: str
    sandbox: bool
    send_rate: int


@dataclass
class Claimed:
    """A batch claimed for sending: (id, phone, text) rows of one campaign."""

    sending: Sending
    rows: list[tuple[int, str, str]]


def dispatch_due_messages(
    session: Session,
    clock: Clock = utcnow,
    client_factory: ClientFactory = gateways.client_for,
    *,
    budget: float | None = None,
    batch_size: int = BATCH,
) -> DispatchReport:
    """One tick: start due campaigns, settle stale claims, send while there is work and time
    (``budget`` seconds, default ``TICK_BUDGET``)."""
    report = DispatchReport()
    report.started = start_due_campaigns(session, clock())
    report.stale = settle_stale_claims(session, clock())
    deadline = time.monotonic() + (TICK_BUDGET if budget is None else budget)
    clients: dict[int, iqsms.Client] = {}
    campaigns: dict[int, Sending | None] = {}
    while time.monotonic() < deadline:
        progressed = False
        for campaign_id in sending_campaign_ids(session, clock()):
            if campaign_id not in campaigns:
                campaigns[campaign_id] = load_sending(session, campaign_id)
            sending = campaigns[campaign_id]
            # A slice of batches per campaign, then the next one: big campaigns do not starve
            # small ones, and the list of campaigns is not re-read for every batch.
            for _ in range(SLICE):
                claimed = sending and claim_batch(session, sending, clock(), batch_size)
                if not claimed:
                    break
                progressed = True
                report.claimed += len(claimed.rows)
                if sending.team_id not in clients:
                    team = session.get(Team, sending.team_id)
                    clients[sending.team_id] = client_factory(team)
                if not send_batch(session, claimed, clients[sending.team_id], clock, report):
                    break  # paused or backing off: the campaign waits its turn
                if time.monotonic() >= deadline:
                    break
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
            update(Campaign.__table__)
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
            update(Message.__table__)
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


def send_batch(
    session: Session,
    claimed: Claimed,
    client: iqsms.Client,
    clock: Clock,
    report: DispatchReport,
) -> bool:
    """One send.json call for a claimed batch, and its outcome stored; False when the
    campaign must wait (paused, or backing off after a failed call)."""
    sending = claimed.sending
    campaign_id = sending.campaign_id
    messages = [
        iqsms.OutgoingMessage(
            client_id=str(message_id),
            phone=phone,
            text=text,
            sender=sending.sender,
            wapurl=sending.wapurl,
            flash=sending.flash,
        )
        for message_id, phone, text in claimed.rows
    ]
    ids = [row[0] for row in claimed.rows]
    try:
        result = client.send(
            messages, status_queue_name=sending.queue_name, show_billing_details=True
        )
    except iqsms.AuthorizationError as exc:
        requeue(session, campaign_id, ids, clock())
        report.requeued += len(ids)
        team = session.get(Team, sending.team_id)
        if sending.sandbox and gateways.provision_sandbox_account(team):
            session.commit()  # the sandbox had lost the account; it is back, try again
            return True
        pause(session, campaign_id, gateways.explain(exc, client.base_url), report)
        return False
    except iqsms.GatewayError as exc:
        # An error reply processed nothing: the batch is safe to send again, later.
        requeue(session, campaign_id, ids, clock())
        report.requeued += len(ids)
        back_off(session, campaign_id, clock(), gateways.explain(exc, client.base_url), report)
        return False
    except iqsms.NotSentError as exc:
        requeue(session, campaign_id, ids, clock())
        report.requeued += len(ids)
        back_off(session, campaign_id, clock(), gateways.explain(exc, client.base_url), report)
        return False
    except iqsms.TransportError as exc:
        mark_unknown(session, campaign_id, ids, clock(), str(exc)[:64])
        report.unknown += len(ids)
        back_off(session, campaign_id, clock(), gateways.explain(exc, client.base_url), report)
        return False
    return store_results(session, claimed, result, clock(), report)


def store_results(
    session: Session,
    claimed: Claimed,
    result: iqsms.SendResult,
    now: datetime,
    report: DispatchReport,
) -> bool:
    """Every message's send-time status, in bulk; an empty balance pauses the campaign
    (and returns False)."""
    campaign_id = claimed.sending.campaign_id
    by_client_id = result.by_client_id()
    price = claimed.sending.price_per_part
    accepted, rejected, no_balance, missing = [], [], [], []
    sent = usage.Sent()
    for message_id, _phone, body in claimed.rows:
        status = by_client_id.get(str(message_id))
        if status is None:
            # The gateway answered without this message: it may or may not have taken it.
            missing.append(message_id)
        elif status.accepted:
            parts = status.sms_count if status.sms_count is not None else count_parts(body)
            estimated = status.cost is None
            cost = price * parts if estimated else status.cost
            sent.parts += parts
            sent.cost += cost
            if estimated:
                sent.estimated_parts += parts
                sent.estimated_cost += cost
            accepted.append(
                {
                    "id": message_id,
                    "smsc": status.smsc_id,
                    "parts": parts,
                    "cost": cost,
                    "estimated": estimated,
                }
            )
        elif status.status == iqsms.Status.NOT_ENOUGH_BALANCE:
            no_balance.append(message_id)
        else:
            rejected.append({"id": message_id, "status": status.status[:64]})
    if accepted or rejected:
        # The driver's executemany with raw values: this runs for every batch, and
        # SQLAlchemy's per-row parameter processing costs more than the statement itself.
        raw_now = bulk.db_time(session, now)
        check_at = bulk.db_time(session, now + statuses.CHECK_AFTER)
        sqlite = session.get_bind().dialect.name == "sqlite"
        for row in accepted:
            row["now"], row["check_at"] = raw_now, check_at
            if sqlite:  # the sqlite3 driver takes no Decimal
                row["cost"] = str(row["cost"])
        for row in rejected:
            row["now"] = raw_now
        bulk.executemany(session, ACCEPTED_UPDATE, accepted)
        bulk.executemany(session, REJECTED_UPDATE, rejected)
    # One statement for the counters, the spending, and the end of any back-off.
    session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id)
        .values(
            sending=Campaign.sending - (len(accepted) + len(rejected)),
            accepted=Campaign.accepted + len(accepted),
            rejected=Campaign.rejected + len(rejected),
            parts=Campaign.parts + sent.parts,
            cost=Campaign.cost + sent.cost,
            failed_attempts=0,
            retry_at=None,
        )
    )
    sent.accepted, sent.rejected = len(accepted), len(rejected)
    usage.record_sent(session, claimed.sending.team_id, campaign_id, now, sent)
    if missing:
        mark_unknown(session, campaign_id, missing, now, "no status in the gateway's reply")
    # A status may have come through the queue before this result was stored.
    statuses.apply_pending(
        session, claimed.sending.team_id, [row["smsc"] for row in accepted if row["smsc"]], now
    )
    report.accepted += len(accepted)
    report.rejected += len(rejected)
    report.unknown += len(missing)
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
        return False
    session.commit()
    return True


ACCEPTED_UPDATE = (
    "UPDATE messages SET state = 'accepted', gateway_status = 'accepted', smsc_id = :smsc,"
    " parts = :parts, cost = :cost, cost_estimated = :estimated, sent_at = :now,"
    " updated_at = :now, next_check_at = :check_at WHERE id = :id AND state = 'sending'"
)
REJECTED_UPDATE = (
    "UPDATE messages SET state = 'rejected', gateway_status = :status, sent_at = :now,"
    " final_at = :now, updated_at = :now WHERE id = :id AND state = 'sending'"
)


def requeue(session: Session, campaign_id: int, ids: list[int], now: datetime) -> None:
    """Back to ``queued``: only for requests that provably did not send these messages."""
    result = session.execute(
        update(Message.__table__)
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
        update(Message.__table__)
        .where(Message.id.in_(ids), Message.state == MessageState.SENDING)
        .values(state=MessageState.UNKNOWN, gateway_status=why[:64], updated_at=now)
        .execution_options(synchronize_session=False)
    )
    move(session, campaign_id, MessageState.SENDING, MessageState.UNKNOWN, result.rowcount)
    session.commit()


def pause(session: Session, campaign_id: int, reason: str, report: DispatchReport) -> None:
    """Stop claiming this campaign's messages until a person resumes it."""
    result = session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, Campaign.state == CampaignState.SENDING)
        .values(state=CampaignState.PAUSED, pause_reason=reason[:500])
    )
    if result.rowcount:
        team_id = session.scalar(select(Campaign.team_id).where(Campaign.id == campaign_id))
        record(
            session,
            team_id,
            "campaign_paused",
            None,
            campaign=campaign_id,
            reason=reason,
            by="worker",
        )
        report.paused.append(campaign_id)
    session.commit()


def back_off(
    session: Session, campaign_id: int, now: datetime, reason: str, report: DispatchReport
) -> None:
    """Wait before the next call (5 s, doubling); after several failures in a row, pause."""
    attempts = session.scalar(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id)
        .values(failed_attempts=Campaign.failed_attempts + 1)
        .returning(Campaign.failed_attempts)
    )
    if attempts >= MAX_FAILED_ATTEMPTS:
        session.execute(
            update(Campaign.__table__)
            .where(Campaign.id == campaign_id)
            .values(failed_attempts=0, retry_at=None)
        )
        pause(session, campaign_id, f"{reason} (failed {attempts} times in a row)", report)
        return
    session.execute(
        update(Campaign.__table__)
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
            update(Campaign.__table__)
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
    """The worker's entry point: ``DISPATCH_THREADS`` loops side by side, so one waits for
    the gateway's reply while another stores results or claims the next batch. They share the
    work exactly as separate workers do."""
    threads = max(1, int(app.config.get("DISPATCH_THREADS", 3)))
    if threads == 1:
        _run_one(app)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="dispatch") as pool:
        for future in [pool.submit(_run_one, app) for _ in range(threads)]:
            future.result()


def _run_one(app: Flask) -> None:
    with app.app_context():
        try:
            report = dispatch_due_messages(db.session)
        finally:
            db.session.remove()
    if report.claimed or report.stale or report.started or report.finished or report.paused:
        app.logger.info("dispatch: %s", report)
